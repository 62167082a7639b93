"""The `websockets` library (a strict RFC 6455 client) against the real hub."""
import asyncio
import json

import websockets

from conftest import expect_close

TS = "2026-11-24T12:00:00Z"


def test_subscribe_receive_isolation_and_replay(hub):
    async def scenario():
        uri = f"ws://127.0.0.1:{hub.port}/ws"
        async with websockets.connect(uri) as a, websockets.connect(uri) as b:
            assert json.loads(await a.recv())["type"] == "subscription_confirmed"
            assert json.loads(await b.recv())["type"] == "subscription_confirmed"
            await a.send(json.dumps({"type": "subscribe", "sessionId": "py-A"}))
            await b.send(json.dumps({"type": "subscribe", "sessionId": "py-B"}))
            assert json.loads(await a.recv())["sessionId"] == "py-A"
            assert json.loads(await b.recv())["sessionId"] == "py-B"
            for n in range(1, 11):
                hub.post("/api/events", {"sessionId": "py-A", "type": "t", "timestamp": TS, "n": n})
                hub.post("/api/events", {"sessionId": "py-B", "type": "t", "timestamp": TS, "n": n})
            got_a = [json.loads(await asyncio.wait_for(a.recv(), 5)) for _ in range(10)]
            got_b = [json.loads(await asyncio.wait_for(b.recv(), 5)) for _ in range(10)]
            assert [m["seq"] for m in got_a] == list(range(1, 11))
            assert all(m["sessionId"] == "py-A" and m["payload"]["sessionId"] == "py-A" for m in got_a)
            assert all(m["sessionId"] == "py-B" for m in got_b)
            await a.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(a.recv(), 5))["type"] == "pong"

        # Reconnect with lastEventId: exactly the missed events, in order.
        async with websockets.connect(uri) as c:
            await c.recv()
            await c.send(json.dumps({"type": "subscribe", "sessionId": "py-A", "lastEventId": 4}))
            seqs = []
            while len(seqs) < 6:
                m = json.loads(await asyncio.wait_for(c.recv(), 5))
                if m["type"] == "event":
                    seqs.append(m["seq"])
            assert seqs == [5, 6, 7, 8, 9, 10]

    asyncio.run(scenario())


def test_malformed_message_gets_error_and_stays_open(hub):
    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
            await ws.recv()
            await ws.send("{nope")
            assert json.loads(await ws.recv())["type"] == "error"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["type"] == "pong"

    asyncio.run(scenario())


def test_oversized_message_closes_1009(hub):
    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None) as ws:
            await ws.recv()
            await ws.send("x" * (1024 * 1024 + 1))
            await expect_close(ws, 1009)

    asyncio.run(scenario())
