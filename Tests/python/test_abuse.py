"""Abuse against the real process: slowloris, a stalled subscriber among many, floods of
malformed frames and requests. The process must stay up and keep serving everyone else."""
import json
import os
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

from conftest import Hub, binary, wait_subscriptions

WSLOAD = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "bench", "wsload", "run")


def latency_ms(hub, n=200):
    samples = []
    with socket.create_connection(("127.0.0.1", hub.port)) as s:
        for _ in range(n):
            start = time.perf_counter()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                data += s.recv(65536)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[int(len(samples) * 0.99) - 1]


def metric(hub, name):
    with urllib.request.urlopen(hub.url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def test_slowloris_does_not_hurt_normal_clients():
    hub = Hub({"HEADER_TIMEOUT": "4", "METRICS_PUBLIC": "true"})
    try:
        baseline = latency_ms(hub)
        slow = []
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", hub.port))
            s.sendall(b"GET /health HTTP/1.1\r\n")
            slow.append(s)
        during = []
        for round_ in range(3):
            for s in slow:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            during.append(latency_ms(hub, 100))
            time.sleep(0.5)  # pacing: three samples spread over the slow connections' life
        assert max(during) <= max(2 * baseline, baseline + 5), (baseline, during)
        # Past HEADER_TIMEOUT every slow connection got 408 and was closed.
        time.sleep(5)  # waiting out HEADER_TIMEOUT (4 s) is the point
        closed = 0
        for s in slow:
            s.settimeout(2)
            try:
                data = s.recv(4096)
                if data.startswith(b"HTTP/1.1 408") or data == b"":
                    closed += 1
            except OSError:
                closed += 1
            s.close()
        assert closed == len(slow)
        assert hub.get("/health")[0] == 200
    finally:
        assert hub.stop() == 0


def masked(opcode, payload, fin=True):
    header = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        header += bytes([0x80 | n])
    elif n < 65536:
        header += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = b"\x11\x22\x33\x44"
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_connect(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: small window
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    assert data.startswith(b"HTTP/1.1 101"), data
    return s


def test_flood_of_malformed_frames_and_requests():
    hub = Hub({"WS_RATE_LIMIT": "0"})
    try:
        bad_frames = [
            b"\xc1\x80\x00\x00\x00\x00",             # RSV1
            b"\x83\x80\x00\x00\x00\x00",             # reserved opcode
            b"\x81\x05hello",                       # unmasked
            masked(0x9, b"x" * 126),                # long ping
            masked(0x1, b"\xff\xfe"),               # bad UTF-8
            masked(0x8, b"\x03"),                   # 1-byte close
            masked(0x0, b"cont"),                   # continuation without start
            masked(0x1, b"{not json"),              # valid frame, bad JSON: error message, stays open
        ]
        sent = 0
        for i in range(2500):
            s = ws_connect(hub.port)
            s.sendall(bad_frames[i % len(bad_frames)] * 2)
            sent += 2
            s.close()
        bad_requests = [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
        for i in range(5000):
            with socket.create_connection(("127.0.0.1", hub.port)) as s:
                s.sendall(bad_requests[i % len(bad_requests)])
                s.settimeout(5)
                reply = s.recv(4096)
                assert reply.startswith(b"HTTP/1.1 4") or reply.startswith(b"HTTP/1.1 5"), reply[:40]
            sent += 1
        assert sent >= 10000
        assert hub.get("/health")[0] == 200
        status, body = hub.post("/api/events", {"sessionId": "after-flood", "type": "t", "timestamp": "2026-11-24T12:00:00Z"})
        assert status == 201
    finally:
        assert hub.stop() == 0


@pytest.mark.skipif(not os.path.exists(WSLOAD), reason="wsload not available")
def test_stalled_subscriber_is_cut_off_and_others_keep_their_latency():
    hub = Hub({"SEND_QUEUE_BYTES": "262144", "METRICS_PUBLIC": "true"})

    def run_load():
        out = subprocess.run([WSLOAD, "fanout", "--sub-url", f"ws://127.0.0.1:{hub.port}/ws", "--pub-url", hub.url,
                              "--subs", "999", "--sessions", "10", "--size", "2000", "--rate", "400",
                              "--duration", "6", "--json"], capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1])

    try:
        # p99 over 6 s on a shared 2-core machine can catch one scheduling hiccup; a stalled
        # reader that really slowed the others would do so on every attempt, so the bound must
        # hold on one of up to three paired (base, loaded) measurements.
        attempts = []
        for attempt in range(3):
            base = run_load()
            assert base["lost"] == 0
            # The staller subscribes to every session (so it is owed every event) and never reads.
            staller = ws_connect(hub.port, rcvbuf=4096)
            for n in range(10):
                staller.sendall(masked(0x1, json.dumps({"type": "subscribe", "sessionId": f"bench-{n}"}).encode()))
            wait_subscriptions(hub, 10)  # the staller's ten, once the base run's subscribers are gone
            loaded = run_load()  # the staller never reads
            staller.close()
            assert loaded["lost"] == 0 and loaded["closed_by_server"] == 0
            assert metric(hub, "switchboard_slow_clients_cut_off") >= attempt + 1
            ratio = loaded["lat_p99_ms"] / base["lat_p99_ms"]
            print(f"stalled-reader p99 ratio: {ratio:.2f} ({loaded['lat_p99_ms']} ms vs {base['lat_p99_ms']} ms)")
            attempts.append((loaded["lat_p99_ms"], base["lat_p99_ms"]))
            if loaded["lat_p99_ms"] <= max(2 * base["lat_p99_ms"], base["lat_p99_ms"] + 2.0):
                break
        else:
            raise AssertionError(f"others' p99 more than doubled in every attempt (loaded, base): {attempts}")
    finally:
        assert hub.stop() == 0


def test_a_second_process_on_the_same_port_is_refused_and_the_first_keeps_every_connection(hub):
    """The loops share their port through SO_REUSEPORT; without a check a second process of the
    same user could bind it too and silently take part of the new connections."""
    first_id = hub.get("/health")[1]["instanceId"]
    second = subprocess.run([binary(), "--host", "127.0.0.1", "--port", str(hub.port)], capture_output=True, text=True,
                            timeout=20, env={**os.environ, "LOG_LEVEL": "warning"}, cwd="/tmp")
    assert second.returncode != 0, "the second process started on a port in use"
    assert "Address already in use" in second.stderr and str(hub.port) in second.stderr, second.stderr
    assert {hub.get("/health")[1]["instanceId"] for _ in range(50)} == {first_id}
