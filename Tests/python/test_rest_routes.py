"""Every REST route's happy path against a real process on the memory store."""
import json
from datetime import datetime, timezone

from conftest import request
from wire import connect, exchange, post_bytes, read_response


def event(session, n):
    return {"sessionId": session, "type": "step", "timestamp": f"2026-11-24T12:00:0{n % 10}Z", "data": {"n": n}}


def test_health_ready_metrics(hub):
    status, health = request(hub, "GET", "/health")
    assert status == 200
    assert health["status"] == "ok"
    assert health["storage"] == "memory"
    assert isinstance(health["instanceId"], str)
    assert isinstance(health["uptimeSeconds"], int)
    assert health["redis"]["connected"] is False
    assert isinstance(health["connections"], int)
    assert request(hub, "GET", "/ready")[0] == 200
    status, metrics = request(hub, "GET", "/metrics")
    assert status == 200
    assert b"switchboard_http_requests_total" in metrics, metrics
    head = exchange(hub.port, "HEAD", "/health")
    assert head.status == 200
    assert head.body == b""


def test_events_post_list_and_recent(hub):
    status, first = request(hub, "POST", "/api/events", event("s1", 1))
    assert status == 201, first
    assert first["success"] is True
    assert first["seq"] == 1
    assert first["sessionId"] == "s1"
    assert isinstance(first["eventId"], str)

    status, batch = request(hub, "POST", "/api/events", [event("s1", 2), event("s1", 3), event("s2", 1)])
    assert status == 201, batch
    assert [r["seq"] for r in batch["results"]] == [2, 3, 1]

    status, listed = request(hub, "GET", "/api/events/s1")
    assert status == 200
    assert listed["count"] == 3
    assert [e["seq"] for e in listed["events"]] == [1, 2, 3]
    assert listed["events"][0]["data"]["n"] == 1

    assert [e["seq"] for e in request(hub, "GET", "/api/events/s1?after=1&limit=1")[1]["events"]] == [2]
    assert request(hub, "GET", "/api/events/s1?since=2026-11-24T12:00:02Z")[1]["count"] == 2

    # Key order of a posted event survives storage (raw bytes kept).
    raw = b'{"type":"ordered","zeta":1,"alpha":2,"sessionId":"s3","timestamp":"2026-11-24T12:00:00Z"}'
    assert request(hub, "POST", "/api/events", raw=raw)[0] == 201
    stored = exchange(hub.port, "GET", "/api/events/s3").body.decode()
    assert '"type":"ordered","zeta":1,"alpha":2' in stored, stored

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert request(hub, "POST", "/api/events", {"sessionId": "s4", "type": "t", "timestamp": now})[0] == 201
    status, recent = request(hub, "GET", "/api/events/s4/recent?limit=10&seconds=60")
    assert status == 200
    assert recent["count"] == 1, recent
    assert isinstance(recent["cutoffTime"], str)


def test_sessions_lifecycle(hub):
    status, created = request(hub, "POST", "/api/sessions", {"cwd": "/work", "hostname": "h1", "platform": "linux", "userId": "u1"})
    assert status == 201, created
    session_id = created["id"]
    assert isinstance(session_id, str)
    assert created["status"] == "pending"
    assert created["user"] == "u1"
    assert created["chains"] == []
    assert isinstance(created["startedAt"], str)

    listed = request(hub, "GET", "/api/sessions")[1]
    assert listed["count"] == 1
    assert listed["sessions"][0]["id"] == session_id
    assert listed["sessions"][0]["chainsCount"] == 0

    status, chain = request(hub, "POST", f"/api/sessions/{session_id}/chains", {"name": "build", "steps": [1, 2]})
    assert status == 201, chain
    chain_id = chain["id"]
    assert isinstance(chain_id, str)
    assert request(hub, "GET", f"/api/chains/{chain_id}")[1]["name"] == "build"
    assert request(hub, "GET", f"/api/sessions/{session_id}/chains")[1]["count"] == 1
    assert len(request(hub, "GET", f"/api/sessions/{session_id}")[1]["chains"]) == 1

    status, updated = request(hub, "PUT", f"/api/sessions/{session_id}", {"status": "completed", "summary": "done", "endReason": "ok"})
    assert status == 200, updated
    assert updated["status"] == "completed"
    assert isinstance(updated["endedAt"], str)
    assert updated["summary"] == "done"

    assert request(hub, "POST", "/api/events", event(session_id, 1))[0] == 201
    assert request(hub, "DELETE", f"/api/sessions/{session_id}")[0] == 204
    assert request(hub, "GET", f"/api/sessions/{session_id}")[0] == 404
    assert request(hub, "GET", f"/api/events/{session_id}")[1]["count"] == 0
    assert request(hub, "GET", f"/api/chains/{chain_id}")[0] == 404


def test_commands_input_and_ack(hub):
    status, command = request(hub, "POST", "/api/sessions/q1/commands", {"type": "pause", "payload": {"why": "test"}})
    assert status == 201, command
    command_id = command["commandId"]
    assert isinstance(command_id, str)
    assert command["command"]["type"] == "pause"
    status, queued = request(hub, "POST", "/api/sessions/q1/input", {"input": "yes", "prompt": "continue?"})
    assert status == 201, queued
    assert isinstance(queued["inputQueued"], dict)

    commands = request(hub, "GET", "/api/sessions/q1/commands")[1]
    assert commands["count"] == 1
    assert commands["commands"][0]["id"] == command_id
    assert request(hub, "GET", "/api/sessions/q1/commands")[1]["count"] == 0, "a drain empties the queue"
    inputs = request(hub, "GET", "/api/sessions/q1/input")[1]
    assert inputs["count"] == 1
    assert inputs["inputs"][0]["input"] == "yes"

    status, ack = request(hub, "POST", f"/api/commands/{command_id}/ack", {"result": "paused"})
    assert status == 200, ack
    assert ack["acknowledged"] is True


def test_keep_alive_pipelining_and_chunked_and_continue(hub):
    with connect(hub.port) as sock:
        # Three pipelined requests in one write: three responses, in order.
        body = '{"sessionId":"p1","type":"t","timestamp":"2026-11-24T12:00:00Z"}'
        one = post_bytes("/api/events", body)
        sock.sendall(one + one + b"GET /api/events/p1 HTTP/1.1\r\nHost: x\r\n\r\n")
        response, rest = read_response(sock)
        assert response.json()["seq"] == 1
        response, rest = read_response(sock, rest)
        assert response.json()["seq"] == 2
        response, rest = read_response(sock, rest)
        assert response.json()["count"] == 2

        # Chunked body with an extension and a trailer.
        chunked = ("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                   f"10;ext=1\r\n{body[:16]}\r\n{len(body) - 16:x}\r\n{body[16:]}\r\n0\r\nX-Trailer: y\r\n\r\n")
        sock.sendall(chunked.encode())
        response, rest = read_response(sock, rest)
        assert response.status == 201, response.body
        assert response.json()["seq"] == 3

        # Expect: 100-continue gets the interim response before the body is sent.
        sock.sendall(("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode())
        interim = rest + sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(body.encode())
        response, _ = read_response(sock, interim.split(b"\r\n\r\n", 1)[1])
        assert response.json()["seq"] == 4


def test_cors_preflight_and_headers(hub):
    preflight = exchange(hub.port, "OPTIONS", "/api/events",
                         headers=[("Origin", "http://dash.example"), ("Access-Control-Request-Method", "POST")])
    assert preflight.status == 204
    assert preflight.headers.get("access-control-allow-origin") == "*"
    assert preflight.headers.get("access-control-allow-methods") is not None
    got = exchange(hub.port, "GET", "/api/sessions", headers=[("Origin", "http://dash.example")])
    assert got.headers.get("access-control-allow-origin") == "*"
    assert json.loads(got.body)["count"] == 0
