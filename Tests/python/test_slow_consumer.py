"""The slow-consumer cut-off as a client sees it (issue 21): a WebSocket client over
SEND_QUEUE_BYTES gets the frame that was being written whole, then close 1008 with its reason,
as the `websockets` library reports it; one that reads nothing at all is aborted after the close
grace, and its socket (with the kernel's send buffer) is gone at once, not left draining."""
import asyncio
import base64
import json
import os
import socket
import threading
import time

import websockets

from conftest import Hub, request, wait_subscriptions
from wire import server_side_state

TS = "2026-11-24T12:00:00Z"
# Random base64: compresses by a quarter at most, so the flood fills SEND_QUEUE_BYTES whether or
# not the client agreed to permessage-deflate (`websockets` offers it, and a run of one byte
# would shrink a hundredfold and never reach the cut-off).
PAD = base64.b64encode(os.urandom(24_000)).decode()


def small_socket(port):
    """A connected client socket with a small receive buffer, so a stalled reader backs up soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def flood_until_cut_off(hub, session, limit=3000):
    """Posts big events until /metrics counts a slow client cut off; the number posted."""
    for n in range(1, limit + 1):
        status, answer = request(hub, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS, "pad": PAD, "n": n})
        assert status == 201, answer
        if n % 5 == 0 and hub.metric("switchboard_slow_clients_cut_off") >= 1:
            return n
    raise AssertionError(f"no cut-off after {limit} events")


def test_cut_off_client_reads_its_frames_whole_then_close_1008():
    hub = Hub({"SEND_QUEUE_BYTES": "65536"})
    try:
        async def scenario():
            # max_queue=1: the library stops reading from the socket while its one-frame
            # queue is full, i.e. while this client does not call recv().
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws", sock=small_socket(hub.port),
                                          max_queue=1, max_size=None, ping_interval=None) as ws:
                assert json.loads(await ws.recv())["type"] == "subscription_confirmed"
                await ws.send(json.dumps({"type": "subscribe", "sessionId": "slow"}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscription_confirmed"
                posted = await asyncio.to_thread(flood_until_cut_off, hub, "slow")
                # Now read, well within the close grace: events, then the close.
                seqs = []
                started = time.monotonic()
                try:
                    while True:
                        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        if message.get("type") == "event":
                            seqs.append(message["seq"])
                except websockets.ConnectionClosed as closed:
                    assert closed.rcvd is not None, f"no close frame from the server: {closed!r}"
                    assert closed.rcvd.code == 1008, closed.rcvd
                    assert closed.rcvd.reason == "send queue limit exceeded"
                assert time.monotonic() - started < 10
                # Every frame it got was whole and in order (a frame cut short would have been
                # a protocol error, 1002, above); the queue's tail was dropped.
                assert seqs == list(range(1, len(seqs) + 1)), seqs[:20]
                assert len(seqs) < posted
        asyncio.run(scenario())
        assert hub.metric("switchboard_slow_clients_cut_off") == 1
    finally:
        assert hub.stop() == 0


def test_client_that_reads_nothing_is_aborted_after_the_grace():
    hub = Hub({"SEND_QUEUE_BYTES": "65536"})
    try:
        sock = small_socket(hub.port)
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0]
        payload = json.dumps({"type": "subscribe", "sessionId": "stalled"}).encode()
        mask = b"\x01\x02\x03\x04"
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        wait_subscriptions(hub, 1)
        client_port = sock.getsockname()[1]
        assert server_side_state(hub.port, client_port) == "01"  # ESTABLISHED
        flood_until_cut_off(hub, "stalled")
        cut_at = time.monotonic()
        # It reads nothing. After the close grace (3 s, checked each second) the server aborts:
        # its socket is gone from the table at once (RST), not FIN_WAIT1 with a full buffer.
        state = "01"
        while time.monotonic() - cut_at < 8:
            state = server_side_state(hub.port, client_port)
            if state is None:
                break
            time.sleep(0.1)
        assert state is None, f"server socket still in state {state} {time.monotonic() - cut_at:.1f} s after the cut-off"
        assert time.monotonic() - cut_at >= 2, "not before the grace"
        assert hub.get("/health")[1]["websockets"] == 0
        # The client sees the reset once it reads past what its buffer held.
        sock.settimeout(5)
        try:
            while sock.recv(65536):
                pass
            reset = False
        except ConnectionResetError:
            reset = True
        assert reset
        sock.close()
    finally:
        assert hub.stop() == 0
