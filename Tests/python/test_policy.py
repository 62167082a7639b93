"""API key, Origin allowlist, rate limits and the connection cap, against real processes."""
import http.client

from conftest import Hub, request
from wire import RawWebSocket, connect, exchange, open_websocket, receive_until_close

EVENT = {"sessionId": "p", "type": "t", "timestamp": "2026-11-24T12:00:00Z"}


def upgrade_status(port, headers=(), path="/ws"):
    ws = RawWebSocket(port, path=path, headers=headers)
    ws.close()
    return ws.status


def test_api_key_on_rest_and_websocket_and_never_logged():
    key = "s3cret-key-XYZ-0123456789"
    hub = Hub({"API_KEY": key, "LOG_LEVEL": "debug"})
    try:
        assert request(hub, "GET", "/health")[0] == 200, "health needs no key"
        assert request(hub, "GET", "/ready")[0] == 200, "ready needs no key"
        status, denied = request(hub, "POST", "/api/events", EVENT)
        assert status == 401
        assert isinstance(denied["error"], str)
        assert request(hub, "GET", "/metrics")[0] == 401
        assert request(hub, "GET", "/api/sessions", headers={"x-api-key": "wrong"})[0] == 401
        assert request(hub, "POST", "/api/events", EVENT, {"Authorization": f"Bearer {key}"})[0] == 201
        assert request(hub, "GET", "/api/sessions", headers={"x-api-key": key})[0] == 200
        assert request(hub, "GET", f"/api/events/p?apiKey={key}")[0] == 200
        assert upgrade_status(hub.port) != 101, "upgrade without a key is refused"
        ws = open_websocket(hub.port, path=f"/ws?apiKey={key}")
        assert ws.next_json()["type"] == "subscription_confirmed"
        assert upgrade_status(hub.port, [("Authorization", f"Bearer {key}")]) == 101
    finally:
        assert hub.stop() == 0
    log = hub.log_text()
    assert "path=/api/events/p" in log, "requests are logged at debug"
    assert key not in log, "the key never appears in logs"


def test_origin_allowlist():
    hub = Hub({"ALLOWED_ORIGINS": "https://dash.example, http://localhost:5173"})
    try:
        assert upgrade_status(hub.port, [("Origin", "https://dash.example")]) == 101
        assert upgrade_status(hub.port, [("Origin", "https://evil.example")]) == 403, "foreign origin refused"
        # No Origin: a non-browser client (agent, CLI), authenticated by the key: accepted.
        assert upgrade_status(hub.port) == 101
        allowed = exchange(hub.port, "GET", "/api/sessions", headers=[("Origin", "http://localhost:5173")])
        assert allowed.headers.get("access-control-allow-origin") == "http://localhost:5173"
        other = exchange(hub.port, "GET", "/api/sessions", headers=[("Origin", "https://evil.example")])
        assert "access-control-allow-origin" not in other.headers
    finally:
        hub.stop()


def test_origin_after_key_on_upgrade():
    """The key is checked before the Origin: no key → 401, key but a foreign Origin → 403, key
    and no Origin → accepted."""
    key = "k3y-0123456789abcdef"
    hub = Hub({"ALLOWED_ORIGINS": "https://dash.example", "API_KEY": key})
    try:
        assert upgrade_status(hub.port) == 401
        assert upgrade_status(hub.port, [("Origin", "https://evil.example")]) == 401, "no key: 401 whatever the Origin"
        assert upgrade_status(hub.port, [("Authorization", f"Bearer {key}"), ("Origin", "https://evil.example")]) == 403
        assert upgrade_status(hub.port, [("Authorization", f"Bearer {key}")]) == 101
        assert upgrade_status(hub.port, [("x-api-key", key), ("Origin", "https://dash.example")]) == 101
    finally:
        hub.stop()


def test_rate_limit_per_forwarded_client_behind_trusted_proxies():
    """Behind a trusted proxy each forwarded client has its own bucket; from an untrusted peer
    the header is ignored (a client cannot pick its own address)."""
    hub = Hub({"RATE_LIMIT": "2", "RATE_BURST": "2", "TRUSTED_PROXIES": "127.0.0.0/8, ::1"})
    untrusted = None
    try:
        def statuses(client):
            return [request(hub, "POST", "/api/events", EVENT, {"X-Forwarded-For": f"{client}, 127.0.0.9"})[0] for _ in range(3)]
        assert statuses("203.0.113.1") == [201, 201, 429]
        assert statuses("203.0.113.2") == [201, 201, 429], "another client behind the same proxy has its own bucket"
        untrusted = Hub({"RATE_LIMIT": "2", "RATE_BURST": "2", "TRUSTED_PROXIES": "10.0.0.0/8"})
        spoofed = [request(untrusted, "POST", "/api/events", EVENT, {"X-Forwarded-For": f"198.51.100.{i}"})[0] for i in range(3)]
        assert spoofed == [201, 201, 429], "the peer is not a trusted proxy: its header is ignored"
    finally:
        hub.stop()
        if untrusted:
            untrusted.stop()


def test_metric_labels_come_from_closed_sets(hub):
    """Made-up methods count as `other`: a client cannot grow the metric set."""
    def metric_lines():
        return len(request(hub, "GET", "/metrics")[1].decode().split("\n"))
    exchange(hub.port, "FOO0", "/x/0")
    metric_lines()  # the first scrape adds the /metrics route's own series
    before = metric_lines()
    for i in range(1, 300):
        exchange(hub.port, f"M{i}X", f"/made/up/{i}")
    after = metric_lines()
    assert after == before, f"300 made-up methods and paths added {after - before} lines"
    assert b'method="other"' in request(hub, "GET", "/metrics")[1]


def test_rest_write_rate_limit():
    hub = Hub({"RATE_LIMIT": "5", "RATE_BURST": "5"})
    try:
        statuses, retry_after = [], None
        for _ in range(8):
            response = exchange(hub.port, "POST", "/api/events", EVENT)
            statuses.append(response.status)
            if response.status == 429:
                retry_after = response.headers.get("retry-after")
        assert statuses[:5].count(201) == 5
        assert 429 in statuses
        assert retry_after is not None
        assert request(hub, "GET", "/api/events/p")[0] == 200, "reads are not limited"
        assert request(hub, "GET", "/api/events/p")[1]["count"] <= 6, "a 429 stored nothing"
    finally:
        hub.stop()


def test_websocket_message_rate_limit():
    hub = Hub({"WS_RATE_LIMIT": "5"})
    try:
        ws = open_websocket(hub.port)
        ws.next_json()
        for _ in range(40):
            ws.send_json({"type": "ping"})
        limited, close_code = False, None
        ws.settimeout(2)
        while True:
            try:
                opcode, _, payload, _ = ws.recv_message()
            except (OSError, EOFError):
                break
            if opcode == 1 and b"rate_limited" in payload:
                limited = True
            if opcode == 8:
                close_code = int.from_bytes(payload[:2], "big")
                break
        assert limited, "excess messages get an error"
        assert close_code == 1008, "sustained abuse is closed with 1008"
    finally:
        hub.stop()


def test_max_connections():
    hub = Hub({"MAX_CONNECTIONS": "3"})
    try:
        held = [open_websocket(hub.port) for _ in range(2)]  # both answered 101: both held
        third = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
        third.request("GET", "/health")
        response = third.getresponse()
        response.read()
        assert response.status == 200, "third connection fits"
        with connect(hub.port) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = receive_until_close(extra)
        assert reply.startswith(b"HTTP/1.1 503"), reply
        third.close()
        for ws in held:
            ws.close()
    finally:
        hub.stop()
