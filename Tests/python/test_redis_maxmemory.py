"""Redis's maxmemory limit holds (issue 22, item 8): against a real redis-server started with a
small `maxmemory` and `noeviction`, the hub's writes stop at the limit (507, nothing stored,
counted), while reads, an existing WebSocket subscriber and /health keep working."""
import asyncio
import json

import websockets

from conftest import Hub, request
from redis_server import RedisServer

TS = "2026-11-24T12:00:00Z"
MAXMEMORY = 3 * 1024 * 1024


def info_memory(server):
    fields = {}
    for line in server.cli("INFO", "memory").splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return int(fields["used_memory"]), int(fields["maxmemory"])


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws, session):
    await ws.send(json.dumps({"type": "subscribe", "sessionId": session}))
    while True:
        message = await recv_json(ws)
        if message["type"] == "subscription_confirmed" and message.get("sessionId") == session:
            return message


async def next_event(ws, timeout=10):
    while True:
        message = await recv_json(ws, timeout)
        if message["type"] == "event":
            return message


def test_writes_stop_at_maxmemory_and_reads_subscribers_health_keep_working():
    server = RedisServer(extra_args=["--maxmemory", str(MAXMEMORY), "--maxmemory-policy", "noeviction"])
    hub = Hub({"REDIS_URL": server.url, "HISTORY_LIMIT": "100000", "METRICS_PUBLIC": "true"}, wait="/ready")
    try:
        asyncio.run(scenario(server, hub))
    finally:
        assert hub.stop() == 0
        server.stop()


async def scenario(server, hub):
    pad = "x" * 2000
    async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as ws:
        await subscribe(ws, "watched")
        status, body = request(hub, "POST", "/api/events", {"sessionId": "watched", "type": "t", "timestamp": TS})
        assert status == 201, body
        assert (await next_event(ws))["seq"] == 1

        # Batches of 50 × ~2 KB until Redis refuses: 3 MB is reached within a few dozen.
        refused = None
        stored = 0
        for i in range(400):
            batch = [{"sessionId": "filler", "type": "t", "timestamp": TS, "data": {"i": i, "j": j, "pad": pad}}
                     for j in range(50)]
            status, body = request(hub, "POST", "/api/events", batch)
            if status == 507:
                refused = body
                break
            assert status == 201, (status, body)
            stored += len(batch)
        assert refused is not None, f"{stored} events stored past maxmemory and never refused"
        assert refused["error"].startswith("Redis is out of memory (maxmemory)"), refused
        assert stored > 0
        used, limit = info_memory(server)
        assert limit == MAXMEMORY
        # Refused at the script's start: over by at most the last accepted batch and the
        # server's own buffers, not the ~20 MB an unflagged script let through.
        assert used < limit + 1024 * 1024, (used, limit)

        # Right at the limit, used_memory moves with client buffers (a 100 KB request's own
        # query buffer counts), so a small write may pass or not. Lower the limit well under
        # what is stored: from here on every write must be refused.
        lowered = used - 512 * 1024
        assert server.cli("CONFIG", "SET", "maxmemory", str(lowered)) == "OK"
        refusals = 1

        # Nothing of a refused write is stored: the seq of the watched session did not move.
        status, body = request(hub, "POST", "/api/events", {"sessionId": "watched", "type": "t", "timestamp": TS})
        assert status == 507, (status, body)
        assert server.cli("GET", "afw:seq:watched") == "1"
        assert server.cli("LLEN", "afw:events:watched") == "1"
        # Creating a session and queueing are writes too.
        status, body = request(hub, "POST", "/api/sessions", {"id": "new-session", "cwd": "/tmp", "hostname": "dev-1"})
        assert status == 507, (status, body)
        status, body = request(hub, "POST", "/api/sessions/watched/input", {"input": "hello"})
        assert status == 507, (status, body)

        # Reads, health and readiness keep working.
        status, body = request(hub, "GET", "/api/events/watched")
        assert status == 200, (status, body)
        assert [e["seq"] for e in body["events"]] == [1]
        status, body = request(hub, "GET", "/api/events/filler?limit=5")
        assert status == 200 and len(body["events"]) == 5, (status, body["count"])
        status, _ = request(hub, "GET", "/api/sessions")
        assert status == 200
        assert hub.get("/health")[0] == 200
        assert hub.get("/ready")[0] == 200
        assert hub.metric("switchboard_store_out_of_memory_total") == refusals + 3

        # A new subscriber can still read its stream (a new stream's two small keys are let
        # through: readStream allows OOM).
        async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ws") as late:
            confirmed = await subscribe(late, "filler")
            assert confirmed["payload"]["lastSeq"] == stored, confirmed

        # Memory freed (the filler stream deleted: DELETE runs at the limit), writes work again
        # and the subscriber that stayed connected gets the next event.
        status, body = request(hub, "DELETE", "/api/sessions/filler")
        assert status == 204, (status, body)  # its events are something to delete
        status, body = request(hub, "POST", "/api/events", {"sessionId": "watched", "type": "t", "timestamp": TS})
        assert status == 201, (status, body)
        assert (await next_event(ws))["seq"] == 2
