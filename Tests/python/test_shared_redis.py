"""Several real switchboard processes sharing one real redis-server."""
import http.client
import json
import signal
import threading
import time

from conftest import Hub, request, wait_until
from redis_server import RedisServer, redis_server  # noqa: F401 (the fixture)
from wire import exchange, open_websocket

TS = "2026-11-24T12:00:00Z"


def instance(redis, extra=None, name="shared"):
    hub = Hub({"REDIS_URL": redis.url, **(extra or {})}, name=name)
    # /health answers before Redis is connected; these tests need the store.
    assert hub.wait_ready(10), hub.log_text()[-3000:]
    return hub


def event(session, n):
    return {"sessionId": session, "type": "t", "timestamp": TS, "data": {"n": n}}


def collect(ws, count, timeout=20):
    """Reads events until `count` arrive or the timeout passes; their seqs in order."""
    seqs = []
    deadline = time.time() + timeout
    ws.settimeout(1)
    while len(seqs) < count and time.time() < deadline:
        m = ws.poll_json()
        if m is not None and m["type"] == "event":
            seqs.append(m["seq"])
    return seqs


def subscribed(port, session):
    ws = open_websocket(port)
    ws.next_json()
    ws.send_json({"type": "subscribe", "sessionId": session})
    ws.next_type("subscription_confirmed")
    return ws


def test_three_instances_deliver_exactly_once_in_order(redis_server):
    hubs = [instance(redis_server, name=f"shared-{n}") for n in "abc"]
    a, b, c = hubs
    try:
        on_b, on_c = subscribed(b.port, "multi"), subscribed(c.port, "multi")
        for n in range(1, 201):
            assert request(a, "POST", "/api/events", event("multi", n))[0] == 201
        assert collect(on_b, 200) == list(range(1, 201))
        assert collect(on_c, 200) == list(range(1, 201))
        # Listing and reads work from any instance.
        session_id = request(a, "POST", "/api/sessions", {"cwd": "/srv"})[1]["id"]
        assert request(c, "GET", "/api/sessions")[1]["count"] == 1
        assert request(c, "GET", f"/api/sessions/{session_id}")[0] == 200
        assert request(c, "GET", "/api/events/multi?limit=5")[1]["count"] == 5
        health = request(c, "GET", "/health")[1]
        assert health["storage"] == "redis"
        assert health["redis"]["connected"] is True
    finally:
        assert [h.stop() for h in hubs] == [0, 0, 0]


def test_every_key_has_a_ttl(redis_server):
    a = instance(redis_server, {"SESSION_TTL": "1000", "QUEUE_TTL": "100"})
    try:
        session_id = request(a, "POST", "/api/sessions", {"cwd": "/w", "id": "ttl-s"})[1]["id"]
        assert request(a, "POST", "/api/events", event(session_id, 1))[0] == 201
        assert request(a, "POST", f"/api/sessions/{session_id}/chains", {"name": "c"})[0] == 201
        assert request(a, "POST", f"/api/sessions/{session_id}/commands", {"type": "pause"})[0] == 201
        assert request(a, "POST", f"/api/sessions/{session_id}/input", {"input": "x"})[0] == 201
        keys = [k for k in redis_server.cli("KEYS", "afw:*").split("\n") if k.startswith("afw:")]
        assert len(keys) >= 8, keys
        for key in keys:
            if key == "afw:sessions:index":
                continue
            ttl = redis_server.cli("TTL", key)
            assert int(ttl) > 0, f"{key} has TTL {ttl}"
            # The epoch outlives the seq counter by a minute, so a counter that expires first
            # always starts a new epoch (REDIS_INTEGRATION.md).
            expected = 100 if any(p in key for p in ("commands:", "input:", "command:")) else 1060 if "epoch:" in key else 1000
            assert int(ttl) <= expected, key
        # The index is pruned when sessions expire: delete the session key behind its back.
        redis_server.cli("DEL", f"afw:sessions:{session_id}")
        assert request(a, "GET", "/api/sessions")[1]["count"] == 0
        assert redis_server.cli("ZCARD", "afw:sessions:index") == "0"
    finally:
        a.stop()


def test_racing_drainers_get_each_command_once(redis_server):
    a, b = instance(redis_server, name="race-a"), instance(redis_server, name="race-b")
    try:
        total = 10_000
        # Push from A while two pollers (one per instance) drain concurrently.
        taken = []
        pusher_done = threading.Event()

        def push():
            conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
            try:
                for _ in range(total):
                    conn.request("POST", "/api/sessions/race/commands", body=b'{"type":"retry"}', headers={"Content-Type": "application/json"})
                    conn.getresponse().read()
            finally:
                conn.close()
                pusher_done.set()

        def drain(port):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            idle = 0
            try:
                while idle < 50:
                    conn.request("GET", "/api/sessions/race/commands")
                    ids = [c["id"] for c in json.loads(conn.getresponse().read())["commands"]]
                    taken.extend(ids)
                    if not ids and pusher_done.is_set():
                        idle += 1
            finally:
                conn.close()

        threads = [threading.Thread(target=push, daemon=True), threading.Thread(target=drain, args=(a.port,), daemon=True),
                   threading.Thread(target=drain, args=(b.port,), daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert len(taken) == total, "every command drained"
        assert len(set(taken)) == total, "no command drained twice"
    finally:
        a.stop()
        b.stop()


def test_old_backend_channel_message_is_delivered(redis_server):
    a = instance(redis_server)
    try:
        ws = subscribed(a.port, "legacy")
        redis_server.cli("PUBLISH", "afw:events", '{"sessionId":"legacy","event":{"type":"tool_use","sessionId":"legacy",'
                                                  '"timestamp":"2026-11-24T12:00:00Z"},"timestamp":"2026-11-24T12:00:00Z"}')
        message = ws.next_type("event")
        assert message["sessionId"] == "legacy"
        assert message["payload"]["type"] == "tool_use"
    finally:
        a.stop()


def test_redis_crash_and_restart_loses_nothing():
    """Redis is SIGKILLed mid-stream and restarted on its AOF while a publisher keeps posting
    (retrying on 503). Every event answered 2xx reaches the subscriber exactly once, in order;
    while Redis is down, writes get 503 with Retry-After and /ready is 503."""
    with RedisServer(appendonly=True) as redis:
        a, b = instance(redis, name="crash-a"), instance(redis, name="crash-b")
        stop = threading.Event()
        try:
            ws = subscribed(b.port, "crash")
            acknowledged, saw_503 = [], []

            def publish():
                for n in range(1, 401):
                    while not stop.is_set():
                        # A retry after an ambiguous 503 carries the same key: stored once.
                        try:
                            response = exchange(a.port, "POST", "/api/events", event("crash", n), [("Idempotency-Key", f"crash-{n}")])
                        except (OSError, http.client.HTTPException):
                            response = None
                        if response is not None and response.status in (200, 201):
                            acknowledged.append(response.json()["seq"])
                            break
                        if response is not None and response.status == 503 and "retry-after" in response.headers:
                            saw_503.append(n)
                        time.sleep(0.02)  # a publisher's pause before it retries
                    time.sleep(0.005)  # pacing: a steady flow across the crash
                stop.set()

            publisher = threading.Thread(target=publish, daemon=True)
            publisher.start()
            wait_until(lambda: len(acknowledged) >= 50, 10, what="50 events acknowledged")
            redis.kill(signal.SIGKILL)
            wait_until(lambda: request(a, "GET", "/ready")[0] == 503, 5, what="/ready to answer 503")
            assert request(a, "GET", "/health")[1]["redis"]["connected"] is False
            down = exchange(a.port, "POST", "/api/events", event("crash", 0))
            assert down.status == 503
            assert "retry-after" in down.headers
            time.sleep(0.5)  # the outage goes on a while
            redis.start()
            wait_until(lambda: request(a, "GET", "/ready")[0] == 200, 10, what="/ready to answer 200 again")
            assert stop.wait(30)
            seqs = list(acknowledged)
            assert saw_503, "the outage was visible to the publisher"
            assert len(seqs) == 400, "every event was acknowledged in the end"
            assert seqs == sorted(seqs), "seqs only grow"
            assert len(set(seqs)) == len(seqs), "no seq acknowledged twice: numbering continues after the restart (AOF)"
            # A POST whose script ran just before the SIGKILL is stored but its reply was lost, so
            # it was answered 503; its retry carries the same Idempotency-Key and is answered with
            # the original seq: every event is stored exactly once, so the seqs are exactly 1...400.
            assert seqs == list(range(1, 401)), "each event stored once, retries included"
            assert collect(ws, 400) == list(range(1, 401)), "every stored event exactly once, in order"
            assert request(a, "GET", "/api/events/crash?limit=1000")[1]["count"] == 400, "nothing stored twice"
        finally:
            stop.set()
            a.stop()
            b.stop()
