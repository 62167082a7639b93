"""Concurrent keep-alive clients, TTL expiry and the history limit, against a real process on the
memory store."""
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Hub, request, wait_until

TS = "2026-11-24T12:00:00Z"


def test_two_hundred_concurrent_keep_alive_clients(hub):
    """200 keep-alive clients post to and read from shared sessions at once: every event gets a
    distinct seq, none lost or duplicated."""
    clients, per_client, sessions = 200, 20, 10

    def client(c):
        failures = 0
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
        try:
            for i in range(per_client):
                body = json.dumps({"sessionId": f"conc-{c % sessions}", "type": "t", "timestamp": TS,
                                   "data": {"c": c, "i": i}})
                conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                failures += response.status != 201
                if i % 5 == 0:
                    conn.request("GET", f"/api/events/conc-{c % sessions}?limit=5")
                    response = conn.getresponse()
                    response.read()
                    failures += response.status != 200
        except OSError:
            failures += 1
        finally:
            conn.close()
        return failures

    with ThreadPoolExecutor(clients) as pool:
        assert sum(pool.map(client, range(clients))) == 0
    total = 0
    for s in range(sessions):
        events = request(hub, "GET", f"/api/events/conc-{s}?limit=10000")[1]["events"]
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"seq is dense and ordered for conc-{s}"
        pairs = {(e["data"]["c"], e["data"]["i"]) for e in events}
        assert len(pairs) == len(events), f"no duplicated event in conc-{s}"
        total += len(events)
    assert total == clients * per_client


def test_ttl_expiry():
    """Short TTLs really expire sessions, events and queues."""
    hub = Hub({"SESSION_TTL": "1", "QUEUE_TTL": "1"})
    try:
        status, created = request(hub, "POST", "/api/sessions", {"cwd": "/tmp"})
        session_id = created["id"]
        assert request(hub, "POST", "/api/events", {"sessionId": "ttl-1", "type": "t", "timestamp": TS})[0] == 201
        assert request(hub, "POST", "/api/sessions/ttl-1/commands", {"type": "pause"})[0] == 201
        assert request(hub, "GET", f"/api/sessions/{session_id}")[0] == 200
        wait_until(lambda: request(hub, "GET", f"/api/sessions/{session_id}")[0] == 404, 5,
                   what="the session to expire after SESSION_TTL")
        # Each was written a moment after the session, so each gets its own deadline.
        wait_until(lambda: request(hub, "GET", "/api/events/ttl-1")[1]["count"] == 0, 5, what="the events to expire")
        wait_until(lambda: request(hub, "GET", "/api/sessions")[1]["count"] == 0, 5, what="the listing to empty")
        # GET on a queue drains it, so the queue check is last and cannot poll without draining
        # early: it must come back empty once QUEUE_TTL has passed.
        time.sleep(1.2)  # waiting out QUEUE_TTL (1 s) is the point
        assert request(hub, "GET", "/api/sessions/ttl-1/commands")[1]["count"] == 0
    finally:
        hub.stop()


def test_history_limit_trims():
    """HISTORY_LIMIT trims the oldest events; seq keeps counting."""
    hub = Hub({"HISTORY_LIMIT": "5"})
    try:
        for _ in range(8):
            assert request(hub, "POST", "/api/events", {"sessionId": "h", "type": "t", "timestamp": TS})[0] == 201
        assert [e["seq"] for e in request(hub, "GET", "/api/events/h")[1]["events"]] == [4, 5, 6, 7, 8]
    finally:
        hub.stop()
