"""DELETE /api/sessions/:id tells the truth, on the memory store, on Redis and on Redis Cluster: 204 when it
removed anything of the session (record, events, chains, queues), 404 only when there was
nothing, and then nothing changed (no new epoch, no session_deleted sent to subscribers)."""
import asyncio
import json

import pytest
import websockets

from conftest import Hub, request
from redis_cluster import RedisCluster
from redis_server import RedisServer

TS = "2026-11-24T12:00:00Z"


@pytest.fixture(params=["memory", "redis", "cluster"])
def hub(request):
    redis = RedisServer() if request.param == "redis" else None
    cluster = RedisCluster(masters=3, replicas=0) if request.param == "cluster" else None
    env = {"REDIS_URL": redis.url} if redis else {"REDIS_CLUSTER_NODES": cluster.seeds} if cluster else {}
    h = Hub(env, wait="/ready")
    yield h
    assert h.stop() == 0
    if redis:
        redis.stop()
    if cluster:
        cluster.stop()


def post(hub, session, n):
    for i in range(n):
        assert request(hub, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS})[0] == 201


def test_events_without_a_record_are_deleted_with_204(hub):
    post(hub, "only-events", 2)
    assert len(request(hub, "GET", "/api/events/only-events")[1]["events"]) == 2
    assert request(hub, "DELETE", "/api/sessions/only-events")[0] == 204
    assert request(hub, "GET", "/api/events/only-events")[1]["events"] == []
    assert request(hub, "DELETE", "/api/sessions/only-events")[0] == 404


def test_a_chain_or_a_queue_alone_is_something_to_delete(hub):
    assert request(hub, "POST", "/api/sessions", {"id": "with-chain", "cwd": "/w"})[0] == 201
    assert request(hub, "POST", "/api/sessions/with-chain/chains", {"name": "c"})[0] == 201
    assert request(hub, "DELETE", "/api/sessions/with-chain")[0] == 204
    assert request(hub, "DELETE", "/api/sessions/with-chain")[0] == 404
    assert request(hub, "POST", "/api/sessions/with-input/input", {"input": "x"})[0] in (200, 201)
    assert request(hub, "DELETE", "/api/sessions/with-input")[0] == 204
    assert request(hub, "DELETE", "/api/sessions/with-input")[0] == 404


def test_a_404_changes_nothing_and_tells_no_subscriber(hub):
    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
            await asyncio.wait_for(ws.recv(), 5)
            await ws.send(json.dumps({"type": "subscribe", "sessionId": "nothing-here"}))
            confirmed = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert confirmed["type"] == "subscription_confirmed"
            epoch = confirmed["payload"]["epoch"]
            assert request(hub, "DELETE", "/api/sessions/nothing-here")[0] == 404
            with pytest.raises(asyncio.TimeoutError):  # no session_deleted for a delete of nothing
                message = await asyncio.wait_for(ws.recv(), 1.0)
                pytest.fail(f"a 404 DELETE sent {message}")
            post(hub, "nothing-here", 1)
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["type"] == "event" and event["seq"] == 1
            await ws.send(json.dumps({"type": "subscribe", "sessionId": "nothing-here", "lastEventId": 1, "epoch": epoch}))
            again = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert again["payload"]["epoch"] == epoch and again["payload"]["recovered"] is True, again
    asyncio.run(scenario())
