"""switchboard_delivery_lag_seconds on real processes: the clock of the instance that accepted
an event travels with it on the channel, so the instance that delivers it times the lag from
there; /api/stats shows p50 / p99 of the last minutes; replays are counted apart."""
import asyncio
import datetime
import json

import websockets

from conftest import Hub, request, wait_until as wait
from redis_server import RedisServer

TS = "2026-12-07T12:00:00Z"


def lag_series(hub):
    """{(kind, le or 'count'): value} of the delivery lag histogram in /metrics."""
    _, text = request(hub, "GET", "/metrics")
    series = {}
    for line in text.decode().splitlines():
        if not line.startswith("switchboard_delivery_lag_seconds_"):
            continue
        name, value = line.rsplit(" ", 1)
        kind = name.split('kind="')[1].split('"')[0]
        if "_bucket{" in name:
            series[(kind, name.split('le="')[1].split('"')[0])] = float(value)
        elif "_count{" in name:
            series[(kind, "count")] = float(value)
    return series


async def subscribe_and_collect(port, session, count, ready, last_event_id=None):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await asyncio.wait_for(ws.recv(), 5)  # connected
        message = {"type": "subscribe", "sessionId": session}
        if last_event_id is not None:
            message["lastEventId"] = last_event_id
        await ws.send(json.dumps(message))
        seqs = []
        while len(seqs) < count:
            data = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if data["type"] == "subscription_confirmed" and ready is not None:
                ready.set()
            elif data["type"] == "event":
                seqs.append(data["seq"])
        return seqs


def test_lag_is_timed_from_the_accepting_instance_and_replays_apart():
    with RedisServer() as redis:
        env = {"REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT": "5"}
        a = Hub(dict(env, INSTANCE_ID="a"), name="lag-a", wait="/ready")
        b = Hub(dict(env, INSTANCE_ID="b"), name="lag-b", wait="/ready")
        try:
            async def live():
                ready = asyncio.Event()
                task = asyncio.create_task(subscribe_and_collect(b.port, "lag-1", 21, ready))
                await asyncio.wait_for(ready.wait(), 5)
                for n in range(20):
                    status, _ = await asyncio.to_thread(request, a, "POST", "/api/events", {"sessionId": "lag-1", "type": "t", "timestamp": TS, "n": n})
                    assert status == 201
                # An old-backend instance's message, accepted 20 s ago by its clock: the lag
                # runs from the timestamp the channel message carries.
                then = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=20)
                legacy = {"sessionId": "lag-1", "event": {"sessionId": "lag-1", "type": "legacy", "timestamp": TS, "seq": 21},
                          "timestamp": then.strftime("%Y-%m-%dT%H:%M:%S.") + f"{then.microsecond // 1000:03d}Z"}
                assert redis.cli("PUBLISH", "afw:events", json.dumps(legacy)).strip() != "0"
                return await task

            seqs = asyncio.run(live())
            assert seqs == list(range(1, 22))
            on_b = wait(lambda: (s := lag_series(b)).get(("live", "count")) == 21 and s, what="21 live deliveries timed on b")
            assert on_b[("live", "1")] == 20, "the twenty POSTed ones arrived within a second"
            assert on_b[("live", "10")] == 20 and on_b[("live", "30")] == 21, "the legacy one 20 s after its timestamp"
            assert on_b[("replay", "count")] == 0
            assert lag_series(a).get(("live", "count")) == 0, "a accepted them but delivered nothing"

            # A late subscriber on a reads all 20 from history: replay, not live.
            replayed = asyncio.run(subscribe_and_collect(a.port, "lag-1", 20, None, last_event_id=0))
            assert replayed == list(range(1, 21))
            on_a = wait(lambda: (s := lag_series(a)).get(("replay", "count")) == 20 and s, what="20 replays timed on a")
            assert on_a[("live", "count")] == 0
            assert on_a[("replay", "300")] == 0, "replays are timed from the events' own (old) timestamps"

            # The console's overview figures: p50 / p99 over the stats window (sampled every 2 s).
            def figures():
                status, stats = request(b, "GET", "/api/stats")
                assert status == 200
                lag = stats["deliveryLag"]
                return lag if lag["live"]["deliveries"] == 21 else None
            lag = wait(figures, timeout=10, what="b's stats window to hold the deliveries")
            assert 0 < lag["windowSeconds"] <= 300
            assert 0 <= lag["live"]["p50"] <= 1.0
            assert 1.0 <= lag["live"]["p99"] <= 30.0, "the 99th of 21 is the legacy one"
            assert lag["replay"] == {"deliveries": 0, "p50": None, "p99": None}
        finally:
            assert a.stop() == 0
            assert b.stop() == 0
