"""Delivery on the recovery paths (issue 10), against real switchboard processes on the memory
store and on a real redis-server: paced resume of a large history, per-subscription positions
after a Redis reconnect, epochs (DELETE, expiry, FLUSHALL), strict body encodings, idempotent
publish and readiness."""
import asyncio
import json
import time

import pytest
import websockets

from conftest import Hub, request
from redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

TS = "2026-11-24T12:00:00Z"




def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.fixture(params=["memory", "redis"])
def storage(request):
    if request.param == "memory":
        yield None
    else:
        server = RedisServer()
        yield server
        server.stop()


def start_hub(redis, **env):
    full = {key: str(value) for key, value in env.items()}
    if redis is not None:
        full["REDIS_URL"] = redis.url
    return Hub(full, wait="/ready" if redis is not None else "/health")


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws, session, **extra):
    await ws.send(json.dumps({"type": "subscribe", "sessionId": session, **extra}))
    while True:
        message = await recv_json(ws)
        if message["type"] == "subscription_confirmed" and message.get("sessionId") == session:
            return message["payload"]


async def events(ws, count, timeout=10):
    out = []
    while len(out) < count:
        message = await recv_json(ws, timeout)
        if message["type"] == "event":
            out.append(message)
    return out


async def silence(ws, seconds):
    """Everything that arrives within `seconds` (expected: nothing)."""
    extra = []
    try:
        while True:
            extra.append(json.loads(await asyncio.wait_for(ws.recv(), seconds)))
    except asyncio.TimeoutError:
        return extra


def post_event(hub, session, **fields):
    return request(hub, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS, **fields})


def test_large_history_resumes_completely_and_memory_stays_bounded(storage):
    """10,000 events of 3 KB (30 MB) resume from lastEventId 0 with SEND_QUEUE_BYTES=1 MiB."""
    hub = start_hub(storage, SEND_QUEUE_BYTES=1048576, MAX_BODY_BYTES=4194304)
    try:
        pad = "x" * 3000
        for start in range(0, 10000, 500):
            batch = [{"sessionId": "big", "type": "t", "timestamp": TS, "n": start + i, "pad": pad} for i in range(500)]
            assert request(hub, "POST", "/api/events", batch)[0] == 201
        before = rss_kib(hub.proc.pid)
        peak = before

        async def scenario():
            nonlocal peak
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None, max_queue=4) as ws:
                await recv_json(ws)
                confirmed = await subscribe(ws, "big", lastEventId=0)
                assert confirmed["recovered"] is True and confirmed["lastSeq"] == 10000 and confirmed["oldestSeq"] == 1
                seqs = []
                while len(seqs) < 10000:
                    message = await recv_json(ws, 20)
                    assert message["type"] == "event", message
                    seqs.append(message["seq"])
                    if len(seqs) % 250 == 0:
                        peak = max(peak, rss_kib(hub.proc.pid))
                        await asyncio.sleep(0.01)  # a reader slower than the server
                assert seqs == list(range(1, 10001))
                # Live delivery goes on after the replay, on the same subscription.
                assert post_event(hub, "big")[0] == 201
                assert [m["seq"] for m in await events(ws, 1)] == [10001]

        asyncio.run(scenario())
        growth_mib = (peak - before) / 1024
        print(f"\n[{'redis' if storage else 'memory'}] 30 MB resume: RSS before {before / 1024:.1f} MiB, "
              f"peak {peak / 1024:.1f} MiB, growth {growth_mib:.1f} MiB")
        assert growth_mib < 32, f"replay memory must stay bounded (grew {growth_mib:.1f} MiB)"
    finally:
        assert hub.stop() == 0


def test_subscriber_without_last_event_id_gets_only_new_events_after_redis_reconnect(redis_server):  # noqa: F811
    hub = start_hub(redis_server)
    try:
        for n in range(200):
            assert post_event(hub, "rc", n=n)[0] == 201

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                confirmed = await subscribe(ws, "rc")
                assert confirmed["lastSeq"] == 200
                redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")
                redis_server.cli("CLIENT", "KILL", "TYPE", "normal")
                deadline = time.time() + 10
                while time.time() < deadline and request(hub, "GET", "/ready")[0] != 200:
                    await asyncio.sleep(0.05)
                # The refill after the resubscribe has run (no outside signal for it: a window).
                await asyncio.sleep(0.3)
                assert post_event(hub, "rc", n=200)[0] == 201
                got = await events(ws, 1)
                assert [m["seq"] for m in got] == [201]
                extra = [m for m in await silence(ws, 1.0) if m["type"] == "event"]
                assert extra == [], f"only the one new event was due, got {len(extra)} more"

        asyncio.run(scenario())
    finally:
        assert hub.stop() == 0


def test_delete_resets_the_stream_and_subscribers_follow_it(storage):
    hub = start_hub(storage)
    try:
        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                first = await subscribe(ws, "del")
                for n in range(3):
                    assert post_event(hub, "del", n=n)[0] == 201
                assert [m["seq"] for m in await events(ws, 3)] == [1, 2, 3]
                assert request(hub, "DELETE", "/api/sessions/del")[0] == 204  # no session record, but its events: 204
                notice = await recv_json(ws)
                assert notice["type"] == "session_deleted" and notice["sessionId"] == "del"
                assert notice["epoch"] != first["epoch"]
                for n in range(2):
                    assert post_event(hub, "del", n=n)[0] == 201
                got = await events(ws, 2)
                assert [m["seq"] for m in got] == [1, 2], "new events from seq 1 under the new epoch"
                assert [m["payload"]["n"] for m in got] == [0, 1]
                return first["epoch"], notice["epoch"]

        old_epoch, new_epoch = asyncio.run(scenario())

        async def resume():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                confirmed = await subscribe(ws, "del", lastEventId=3, epoch=old_epoch)
                assert confirmed["recovered"] is False and confirmed["epoch"] == new_epoch
                assert [m["seq"] for m in await events(ws, 2)] == [1, 2], "the current stream from its start"
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                confirmed = await subscribe(ws, "del", lastEventId=1, epoch=new_epoch)
                assert confirmed["recovered"] is True
                assert [m["seq"] for m in await events(ws, 1)] == [2]

        asyncio.run(resume())
    finally:
        assert hub.stop() == 0


def test_expiry_on_redis_starts_a_new_epoch_for_attached_subscribers(redis_server):  # noqa: F811
    hub = start_hub(redis_server, SESSION_TTL=1)
    try:
        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                first = await subscribe(ws, "exp")
                assert post_event(hub, "exp")[0] == 201
                assert [m["seq"] for m in await events(ws, 1)] == [1]
                deadline = time.time() + 10
                while time.time() < deadline and redis_server.cli("EXISTS", "afw:seq:exp") != "0":
                    await asyncio.sleep(0.1)
                assert post_event(hub, "exp", n=2)[0] == 201
                notice = await recv_json(ws)
                assert notice["type"] == "session_deleted" and notice["epoch"] != first["epoch"]
                got = await events(ws, 1)
                assert [m["seq"] for m in got] == [1] and got[0]["payload"]["n"] == 2

        asyncio.run(scenario())
    finally:
        assert hub.stop() == 0


def test_flushall_while_subscribed_gives_a_new_epoch_and_an_honest_resume(redis_server):  # noqa: F811
    hub = start_hub(redis_server)
    try:
        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                first = await subscribe(ws, "fl")
                for n in range(5):
                    assert post_event(hub, "fl", n=n)[0] == 201
                assert [m["seq"] for m in await events(ws, 5)] == [1, 2, 3, 4, 5]
                redis_server.cli("FLUSHALL")
                assert post_event(hub, "fl", n=100)[0] == 201
                notice = await recv_json(ws)
                assert notice["type"] == "session_deleted"
                assert [m["payload"]["n"] for m in await events(ws, 1)] == [100]
                return first["epoch"]

        old = asyncio.run(scenario())

        async def resume():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                confirmed = await subscribe(ws, "fl", lastEventId=5, epoch=old)
                assert confirmed["recovered"] is False and confirmed["epoch"] != old
                assert [m["payload"]["n"] for m in await events(ws, 1)] == [100]
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                # An old dashboard that sends no epoch: lastEventId beyond the stream's end.
                confirmed = await subscribe(ws, "fl", lastEventId=5)
                assert confirmed["recovered"] is False
                assert [m["payload"]["n"] for m in await events(ws, 1)] == [100]

        asyncio.run(resume())
    finally:
        assert hub.stop() == 0


def test_bodies_must_be_utf8_json(hub):
    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
            await recv_json(ws)
            await subscribe(ws, "enc")
            text = json.dumps({"sessionId": "enc", "type": "t", "timestamp": TS, "name": "é"})
            for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"):
                status, body = request(hub, "POST", "/api/events", raw=text.encode(encoding))
                assert status == 400, encoding
                assert "UTF-8" in body["error"], body
            status, body = request(hub, "POST", "/api/events", raw=b"\xef\xbb\xbf" + text.encode())
            assert status == 201, body
            got = await events(ws, 1)
            assert got[0]["payload"]["name"] == "é"
            status, listed = request(hub, "GET", "/api/events/enc")
            assert status == 200 and listed["count"] == 1 and listed["events"][0]["name"] == "é"
            # Still subscribed and served: nothing that was stored broke the session.
            assert post_event(hub, "enc")[0] == 201
            assert [m["seq"] for m in await events(ws, 1)] == [2]

    asyncio.run(scenario())


def test_idempotent_publish(storage):
    hub = start_hub(storage)
    try:
        body = {"sessionId": "idem", "type": "t", "timestamp": TS}
        first = request(hub, "POST", "/api/events", body, headers={"Idempotency-Key": "retry-1"})
        again = request(hub, "POST", "/api/events", body, headers={"Idempotency-Key": "retry-1"})
        assert first[0] == 201 and again[0] == 200
        assert again[1]["duplicate"] is True
        assert (again[1]["seq"], again[1]["eventId"]) == (first[1]["seq"], first[1]["eventId"])
        batch = [dict(body, eventId="a"), dict(body, eventId="b"), dict(body, eventId="a")]
        status, result = request(hub, "POST", "/api/events", batch)
        assert status == 201
        assert [r["seq"] for r in result["results"]] == [2, 3, 2]
        assert [r.get("duplicate", False) for r in result["results"]] == [False, False, True]
        status, result = request(hub, "POST", "/api/events", batch[:2])
        assert status == 200 and all(r["duplicate"] for r in result["results"])
        assert request(hub, "GET", "/api/events/idem")[1]["count"] == 3, "stored once each"
        status, error = request(hub, "POST", "/api/events", batch, headers={"Idempotency-Key": "k"})
        assert status == 400 and "Idempotency-Key" in error["error"]
        # Server-made ids are RFC 9562 version-7 UUIDs.
        event_id = first[1]["eventId"]
        assert len(event_id) == 36 and event_id[14] == "7" and event_id[19] in "89ab", event_id
    finally:
        assert hub.stop() == 0


def test_ready_tells_the_truth_about_the_pubsub_subscription(redis_server):  # noqa: F811
    hub = start_hub(redis_server)
    try:
        assert request(hub, "GET", "/ready")[0] == 200
        # Forbid channels to the default user: commands still work, the subscriber cannot subscribe.
        redis_server.cli("ACL", "SETUSER", "default", "resetchannels")
        redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")
        deadline = time.time() + 10
        status, body = request(hub, "GET", "/ready")
        while time.time() < deadline and status == 200:
            time.sleep(0.05)
            status, body = request(hub, "GET", "/ready")
        assert status == 503 and "subscribed" in body["error"], body
        health = request(hub, "GET", "/health")[1]
        assert health["status"] == "degraded" and health["redis"]["subscribed"] is False
        redis_server.cli("ACL", "SETUSER", "default", "allchannels")
        deadline = time.time() + 15
        while time.time() < deadline and request(hub, "GET", "/ready")[0] != 200:
            time.sleep(0.1)
        assert request(hub, "GET", "/ready")[0] == 200
        assert request(hub, "GET", "/health")[1]["redis"]["subscribed"] is True
    finally:
        assert hub.stop() == 0


def test_subscriptions_per_connection_are_capped():
    hub = Hub({"MAX_SUBSCRIPTIONS_PER_CONNECTION": "3"})
    try:
        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
                await recv_json(ws)
                for i in range(3):
                    await subscribe(ws, f"cap{i}")
                await ws.send(json.dumps({"type": "subscribe", "sessionId": "cap3"}))
                error = await recv_json(ws)
                assert error["type"] == "error" and error["payload"]["code"] == "too_many_subscriptions"
                await ws.send(json.dumps({"type": "unsubscribe", "sessionId": "cap0"}))
                assert (await recv_json(ws))["type"] == "unsubscribed"
                await subscribe(ws, "cap3")

        asyncio.run(scenario())
    finally:
        assert hub.stop() == 0
