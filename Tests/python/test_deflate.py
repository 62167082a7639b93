"""permessage-deflate (RFC 7692) against the real hub: the `websockets` library as the client
that negotiates and compresses, and a raw socket with Python's zlib to look at the wire (RSV1,
bytes per delivery) and to send what a library would not (a decompression bomb, a bad offer)."""
import asyncio
import json

import websockets
from websockets.extensions.permessage_deflate import PerMessageDeflate

from conftest import Hub, expect_close
from wire import RawWebSocket, deflate

TS = "2026-11-24T12:00:00Z"


def event(session, n, detail_bytes=900):
    """An event of about 1 KB of JSON (the size the compressed fan-out is for)."""
    return {"sessionId": session, "type": "tool_call", "timestamp": TS, "n": n,
            "detail": ("agent step %d finished the tool call; " % n) * (detail_bytes // 40)}


def carries(payload, expected):
    """The stored event is the posted one plus what the hub adds (eventId, seq)."""
    return all(payload.get(k) == v for k, v in expected.items())


def subscribe(raw, session, **extra):
    raw.send_text(json.dumps({"type": "subscribe", "sessionId": session, **extra}))
    while True:
        message, _, _ = raw.recv_json()
        if message["type"] == "subscription_confirmed" and message.get("sessionId") == session:
            return


def test_websockets_negotiates_receives_compressed_events_and_sends_compressed(hub):
    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
            agreed = ws.response.headers["Sec-WebSocket-Extensions"]
            assert agreed == "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            assert [type(e) for e in ws.protocol.extensions] == [PerMessageDeflate]
            assert json.loads(await ws.recv())["type"] == "subscription_confirmed"
            # The client compresses what it sends: the hub inflates it (subscribe, ping).
            await ws.send(json.dumps({"type": "subscribe", "sessionId": "deflate-py", "pad": "x" * 600}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["sessionId"] == "deflate-py"
            for n in range(1, 6):
                hub.post("/api/events", event("deflate-py", n))
            got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
            assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
            assert carries(got[2]["payload"], event("deflate-py", 3))
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"

    asyncio.run(scenario())


def test_events_on_the_wire_are_compressed_once_for_every_deflate_subscriber(hub):
    """Three deflate subscribers get the same compressed bytes; a plain one the plain frame;
    events under WS_COMPRESSION_MIN_BYTES go plain to everyone; one larger than the 32 KiB
    window goes compressed (the full window needs no length bound)."""
    clients = [RawWebSocket(hub.port, "permessage-deflate; client_max_window_bits") for _ in range(3)]
    plain = RawWebSocket(hub.port)
    try:
        assert plain.extensions is None
        for c in clients + [plain]:
            assert c.status == 101
            c.recv_json()
            subscribe(c, "deflate-wire")
        hub.post("/api/events", event("deflate-wire", 1))
        hub.post("/api/events", {"sessionId": "deflate-wire", "type": "small", "timestamp": TS})
        hub.post("/api/events", event("deflate-wire", 3, detail_bytes=48_000))
        wire = []
        for c in clients:
            message, compressed, size = c.recv_json()
            assert compressed and message["seq"] == 1 and carries(message["payload"], event("deflate-wire", 1))
            wire.append(size)
            small, compressed, _ = c.recv_json()
            assert small["seq"] == 2 and not compressed
            large, compressed, size = c.recv_json()
            assert large["seq"] == 3 and compressed and carries(large["payload"], event("deflate-wire", 3, detail_bytes=48_000))
            assert len(json.dumps(large)) > 40_000 > size
        message, compressed, plain_size = plain.recv_json()
        assert not compressed and carries(message["payload"], event("deflate-wire", 1))
        assert len(set(wire)) == 1 and wire[0] < plain_size / 2, (wire, plain_size)
    finally:
        for c in clients + [plain]:
            c.close()


def test_replayed_events_and_own_messages_are_compressed_too(hub):
    for n in range(1, 4):
        hub.post("/api/events", event("deflate-replay", n))
    raw = RawWebSocket(hub.port, "permessage-deflate")
    try:
        raw.recv_json()
        raw.send_text(json.dumps({"type": "subscribe", "sessionId": "deflate-replay", "lastEventId": 0}), compress=True)
        seqs = []
        while len(seqs) < 3:
            message, compressed, _ = raw.recv_json()
            if message["type"] == "event":
                assert compressed
                seqs.append(message["seq"])
        assert seqs == [1, 2, 3]
    finally:
        raw.close()


def test_server_max_window_bits_is_answered_and_honoured(hub):
    """A client that limits our window to 2^9 bytes gets compressed messages only up to 512
    bytes; longer ones arrive plain (the extension lets each message choose)."""
    raw = RawWebSocket(hub.port, "permessage-deflate; server_max_window_bits=9; client_max_window_bits")
    try:
        assert raw.extensions == ("permessage-deflate; server_no_context_takeover; "
                                  "client_no_context_takeover; server_max_window_bits=9")
        raw.recv_json()
        subscribe(raw, "deflate-window")
        hub.post("/api/events", event("deflate-window", 1, detail_bytes=300))
        hub.post("/api/events", event("deflate-window", 2, detail_bytes=900))
        first, first_compressed, _ = raw.recv_json()
        second, second_compressed, _ = raw.recv_json()
        assert len(json.dumps(first)) <= 512 and first_compressed
        assert len(json.dumps(second)) > 512 and not second_compressed
    finally:
        raw.close()


def test_bad_offers_are_declined_and_malformed_headers_refused(hub):
    for offer in ("permessage-deflate; server_max_window_bits=16", "permessage-deflate; foo",
                  "permessage-deflate; client_no_context_takeover; client_no_context_takeover", "x-webkit-deflate-frame"):
        raw = RawWebSocket(hub.port, offer)
        assert raw.status == 101 and raw.extensions is None, offer
        raw.close()
    # The first acceptable offer of a list wins.
    raw = RawWebSocket(hub.port, ["permessage-deflate; bogus", "permessage-deflate; server_max_window_bits=10"])
    assert raw.extensions.endswith("server_max_window_bits=10")
    raw.close()
    raw = RawWebSocket(hub.port, "permessage-deflate; server_max_window_bits=")
    assert raw.status == 400
    raw.close()


def test_decompression_bomb_closes_1009(hub):
    """16 MiB of zeros in about 16 KB: the hub stops inflating at MAX_MESSAGE_BYTES (1 MiB)."""
    raw = RawWebSocket(hub.port, "permessage-deflate")
    try:
        raw.recv_json()
        bomb = deflate(b"\0" * (16 << 20))
        assert len(bomb) < 20_000
        raw.send_frame(1, bomb, rsv1=True)
        assert raw.recv_close_code() == 1009
    finally:
        raw.close()
    _, health = hub.get("/health")
    assert health["status"] == "ok"


def test_websockets_oversized_compressed_message_closes_1009(hub):
    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None) as ws:
            await ws.recv()
            await ws.send("{" + " " * (3 << 20) + "}")  # compresses to a few KB
            await expect_close(ws, 1009)

    asyncio.run(scenario())


def test_rsv1_without_the_extension_and_on_control_frames_closes_1002(hub):
    raw = RawWebSocket(hub.port)
    raw.recv_json()
    raw.send_frame(1, deflate(b'{"type":"ping"}'), rsv1=True)
    assert raw.recv_close_code() == 1002
    raw.close()
    raw = RawWebSocket(hub.port, "permessage-deflate")
    raw.recv_json()
    raw.send_frame(9, b"", rsv1=True)
    assert raw.recv_close_code() == 1002
    raw.close()


def test_compression_off_never_negotiates():
    hub = Hub(env={"WS_COMPRESSION": "off"}, name="deflate-off")
    try:
        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                assert ws.protocol.extensions == []
                await ws.recv()
                await ws.send(json.dumps({"type": "subscribe", "sessionId": "deflate-off"}))
                await ws.recv()
                hub.post("/api/events", event("deflate-off", 1))
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["seq"] == 1

        asyncio.run(scenario())
        raw = RawWebSocket(hub.port, "permessage-deflate; server_max_window_bits=")  # not even parsed
        assert raw.status == 101 and raw.extensions is None
        raw.recv_json()
        raw.send_frame(1, deflate(b'{"type":"ping"}'), rsv1=True)
        assert raw.recv_close_code() == 1002
        raw.close()
    finally:
        assert hub.stop() == 0
