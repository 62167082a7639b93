"""The security review's findings (issue 20), each against the real binary: /echo behind the same
gate as /ws and off by default, no silent auth-off, throttled and counted authentication
failures, log lines that cannot be forged, token lifetimes with a ceiling and no repeated claims,
and the response headers and 404s that leak nothing. Independent clients: `websockets`,
http.client, PyJWT, curl."""
import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import jwt
import pytest
import websockets

from conftest import Hub, binary, request, wait_subscriptions

KEY = "security-edges-key-0123456789"
SECRET = "security-edges-secret-0123456789abcdef"
TS = "2026-11-24T12:00:00Z"


def run_binary(env, *flags):
    """Starts the binary expecting it to refuse; (exit code, stderr)."""
    full = {k: v for k, v in os.environ.items() if k not in Hub.SCRUBBED}
    full.update(env)
    out = subprocess.run([binary(), "--host", "127.0.0.1", "--port", "0", *flags], env=full,
                         capture_output=True, text=True, timeout=20, cwd=tempfile.gettempdir())
    return out.returncode, out.stderr


def upgrade_status(port, path, headers=None):
    """The status line's code of a raw WebSocket upgrade request."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def labelled_metric(hub, name, **labels):
    _, text = request(hub, "GET", "/metrics", headers={"x-api-key": KEY})
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.decode().splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return 0.0


# MARK: 1. /echo

def test_echo_is_off_by_default():
    h = Hub()
    try:
        assert upgrade_status(h.port, "/echo") == 404
        assert request(h, "GET", "/echo")[0] == 404
        assert upgrade_status(h.port, "/ws") == 101
    finally:
        assert h.stop() == 0


def test_echo_when_on_passes_the_key_origin_and_size_checks():
    h = Hub({"ECHO_ENDPOINT": "true", "API_KEY": KEY, "ALLOWED_ORIGINS": "https://dash.example", "MAX_MESSAGE_BYTES": "1024"})
    try:
        assert upgrade_status(h.port, "/echo") == 401
        assert upgrade_status(h.port, "/echo", {"x-api-key": "wrong-key-wrong-key"}) == 401
        assert upgrade_status(h.port, "/echo", {"x-api-key": KEY, "Origin": "https://evil.example"}) == 403
        assert upgrade_status(h.port, "/ws", {"x-api-key": KEY, "Origin": "https://evil.example"}) == 403
        assert upgrade_status(h.port, "/echo", {"x-api-key": KEY, "Origin": "https://dash.example"}) == 101

        async def scenario():
            url = f"ws://127.0.0.1:{h.port}/echo"
            async with websockets.connect(url, additional_headers={"x-api-key": KEY}, max_size=None) as ws:
                await ws.send("x" * 1000)
                assert await asyncio.wait_for(ws.recv(), 5) == "x" * 1000
                await ws.send("y" * 1025)
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1009
        asyncio.run(scenario())
    finally:
        assert h.stop() == 0


# MARK: 2. The key must be a real key

@pytest.mark.parametrize("env, names", [
    ({"API_KEY": ""}, "API_KEY is set but empty"),
    ({"AFW_API_KEY": ""}, "API_KEY is set but empty"),
    ({"API_KEY": "short-key"}, "API_KEY must be at least 16 bytes, got 9"),
    ({"AFW_API_KEY": "x" * 15}, "API_KEY must be at least 16 bytes, got 15"),
])
def test_empty_or_short_key_stops_the_start(env, names):
    code, err = run_binary(env)
    assert code == 64, err
    assert names in err


def test_empty_key_flag_stops_the_start():
    code, err = run_binary({}, "--api-key", "")
    assert code == 64 and "API_KEY is set but empty" in err


def test_auth_off_is_logged_when_not_on_loopback():
    warning = "authentication is off"
    port = free = None
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        free = s.getsockname()[1]
    full = {k: v for k, v in os.environ.items() if k not in Hub.SCRUBBED}
    log = tempfile.NamedTemporaryFile(prefix="switchboard-py-authoff-", suffix=".log", delete=False)
    proc = subprocess.Popen([binary(), "--host", "0.0.0.0", "--port", str(free)], env=full, stdout=log, stderr=log,
                            cwd=tempfile.gettempdir())
    try:
        deadline = time.time() + 20
        text = ""
        while time.time() < deadline and "listening on" not in text:
            time.sleep(0.05)
            text = open(log.name).read()
        assert re.search(r" warning switchboard: authentication is off .* not loopback", text), text
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    h = Hub()  # loopback: no warning
    try:
        assert warning not in h.log_text()
    finally:
        h.stop()
    h = Hub({"API_KEY": KEY})
    try:
        assert warning not in h.log_text()
    finally:
        h.stop()


# MARK: 3. Failed authentication is throttled and visible

def test_wrong_keys_are_throttled_per_address_and_counted():
    h = Hub({"API_KEY": KEY, "AUTH_FAILURE_BURST": "5", "AUTH_FAILURE_RATE": "1",
             "TRUSTED_PROXIES": "127.0.0.1/32"})
    try:
        attacker = {"X-Forwarded-For": "203.0.113.7", "x-api-key": "wrong-wrong-wrong-wrong"}
        statuses = []
        retry_after = None
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
        for _ in range(40):  # one keep-alive connection, as the review did
            conn.request("GET", "/api/sessions", headers=attacker)
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
            if resp.status == 429:
                retry_after = resp.getheader("Retry-After")
        conn.close()
        assert statuses[:5] == [401] * 5, statuses
        assert statuses.count(429) >= 30, statuses
        assert retry_after is not None and int(retry_after) >= 1
        # While that address is throttled, it is throttled for every credential (guessing the
        # right key does not help)...
        assert request(h, "GET", "/api/sessions", headers={**attacker, "x-api-key": KEY})[0] == 429
        assert upgrade_status(h.port, "/ws", {"X-Forwarded-For": "203.0.113.7", "x-api-key": KEY}) == 429
        # ...and no other address is slowed by it.
        for _ in range(50):
            assert request(h, "GET", "/api/sessions", headers={"X-Forwarded-For": "198.51.100.2", "x-api-key": KEY})[0] == 200
        assert upgrade_status(h.port, "/ws", {"X-Forwarded-For": "198.51.100.2", "x-api-key": KEY}) == 101
        # Visible: counted by reason, and one warning line naming the address.
        assert labelled_metric(h, "switchboard_auth_failures_total", reason="wrong_key") == 5
        assert labelled_metric(h, "switchboard_auth_failures_total", reason="throttled") >= 31
        request(h, "GET", "/api/sessions", headers={"X-Forwarded-For": "198.51.100.9"})
        assert labelled_metric(h, "switchboard_auth_failures_total", reason="missing") == 1
        lines = [l for l in h.log_text().splitlines() if "authentication failed" in l]
        assert lines and "client=203.0.113.7" in lines[0] and "reason=wrong_key" in lines[0], lines
        assert len(lines) <= 3, lines  # rate-limited: not one line per failure
        # The bucket refills: after Retry-After the address gets answers (401) again.
        time.sleep(int(retry_after) + 0.2)  # waiting out Retry-After is the point
        assert request(h, "GET", "/api/sessions", headers=attacker)[0] == 401
    finally:
        assert h.stop() == 0


def test_bad_auth_failure_settings_stop_the_start():
    for env in ({"AUTH_FAILURE_RATE": "0"}, {"AUTH_FAILURE_RATE": "inf"}, {"AUTH_FAILURE_BURST": "0.5"},
                {"AUTH_FAILURE_BURST": "nan"}):
        code, err = run_binary(env)
        assert code == 64 and "AUTH_FAILURE" in err, (env, err)


# MARK: 4. Logs cannot be forged

FORGED = "2026-01-01T00:00:00.000Z critical switchboard: FORGED"
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info|notice|warning|error|critical) [\w.-]+: ")
# Each character, percent-encoded for a path or raw for a header.
CONTROLS = ["\n", "\r", "\r\n", "\x00", "\x1b", "\x07", "\x7f", "\u0085", "\u009b", "\u2028", "\u2029"]


def pct(text):
    return "".join(f"%{b:02X}" for b in text.encode())


def test_text_logs_escape_every_control_in_paths_headers_and_session_ids():
    h = Hub({"LOG_LEVEL": "trace", "LOG_FORMAT": "text", "API_KEY": KEY, "TRUSTED_PROXIES": "127.0.0.1/32"})
    try:
        for c in CONTROLS:
            payload = c + FORGED + c
            # In a path (percent-decoded before it is logged).
            request(h, "GET", "/nope/" + pct(payload), headers={"x-api-key": KEY})
            # In a session id: a route that takes one, and a WebSocket subscribe.
            request(h, "GET", "/api/events/" + pct("s" + payload), headers={"x-api-key": KEY})
            # In a header that reaches the log: X-Forwarded-For names the client. Raw bytes go
            # through a socket (http.client refuses CR/LF in a header value, as it should).
            with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
                value = payload.replace("\r", "").replace("\n", "").encode("latin-1", "replace")
                s.sendall(b"GET /api/sessions HTTP/1.1\r\nHost: x\r\nx-api-key: " + KEY.encode() +
                          b"\r\nX-Forwarded-For: " + value + b"\r\nConnection: close\r\n\r\n")
                while s.recv(4096):
                    pass

        async def subscribe():
            async with websockets.connect(f"ws://127.0.0.1:{h.port}/ws", additional_headers={"x-api-key": KEY}) as ws:
                await asyncio.wait_for(ws.recv(), 5)  # connected
                for c in CONTROLS:
                    await ws.send(json.dumps({"type": "subscribe", "sessionId": "s" + c + FORGED}))
                    await asyncio.wait_for(ws.recv(), 5)
        asyncio.run(subscribe())
        wait_subscriptions(h, 0, headers={"x-api-key": KEY})  # the close is handled (and logged)
    finally:
        assert h.stop() == 0
    raw = open(h.log.name, "rb").read()
    text = raw.decode("utf-8")
    assert "request" in text and "FORGED" in text  # the attempts were logged...
    for line in text.split("\n")[:-1]:  # ...and every line is one of ours, whole
        assert LINE.match(line), repr(line)
        assert not line.startswith("2026-01-01T00:00:00.000Z"), repr(line)
        for c in ("\r", "\x00", "\x1b", "\x07", "\x7f", "\u0085", "\u009b", "\u2028", "\u2029"):
            assert c not in line, repr(line)
    assert text.count("\n") == len([l for l in text.split("\n")[:-1] if LINE.match(l)])
    # A value with spaces is quoted, so it cannot pose as more key=value fields.
    assert re.search(r'path="/nope/\\n2026-01-01T00:00:00\.000Z critical switchboard: FORGED\\n"', text), text[-3000:]


# MARK: 5. Tokens have a ceiling

def hs256(claims_json):
    """A token over exactly these claim bytes (PyJWT would re-serialize a dict)."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(claims_json.encode())
    return head + "." + b64(hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest())


@pytest.fixture(scope="module")
def token_hub():
    h = Hub({"API_KEY": KEY, "TOKEN_SECRET": SECRET, "TOKEN_LEEWAY": "5", "TOKEN_MAX_TTL": "3600",
             "AUTH_FAILURE_BURST": "1000"})
    yield h
    assert h.stop() == 0


def token(**claims):
    now = int(time.time())
    base = {"sub": "dash", "iat": now, "exp": now + 600, "sessions": ["t*"], "scope": ["read"]}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def get_with(hub, tok):
    return request(hub, "GET", "/api/events/t1", headers={"Authorization": f"Bearer {tok}"})


def test_token_lifetime_has_a_ceiling(token_hub):
    now = int(time.time())
    assert get_with(token_hub, token())[0] == 200
    assert get_with(token_hub, token(exp=now + 3600))[0] == 200
    for tok in [token(exp=int(1e11) - 1), token(iat=None, exp=now + 3600 + 60),
                token(iat=now - 3000, exp=now + 1000)]:  # exp - iat = 4000 > 3600
        status, body = get_with(token_hub, tok)
        assert status == 401 and "TOKEN_MAX_TTL" in body["error"], body
    status, body = get_with(token_hub, token(iat=now + 120))
    assert status == 401 and body["error"] == "token issued in the future (iat)"
    assert get_with(token_hub, token(iat=now + 3))[0] == 200  # within the leeway
    # Minting caps ttl at TOKEN_MAX_TTL too.
    status, body = request(token_hub, "POST", "/api/tokens", {"sub": "d", "sessions": ["t1"], "scope": ["read"], "ttl": 3601},
                           {"x-api-key": KEY})
    assert status == 400 and "3600" in body["error"]
    status, body = request(token_hub, "POST", "/api/tokens", {"sub": "d", "sessions": ["t1"], "scope": ["read"]},
                           {"x-api-key": KEY})
    assert status == 201 and get_with(token_hub, body["token"])[0] == 200


def test_a_repeated_claim_is_refused(token_hub):
    now = int(time.time())
    ok = f'{{"sub":"dash","iat":{now},"exp":{now + 600},"sessions":["t*"],"scope":["read"]}}'
    assert get_with(token_hub, hs256(ok))[0] == 200
    for claims in [
        f'{{"sub":"dash","iat":{now},"exp":{now - 600},"exp":{now + 600},"sessions":["t*"],"scope":["read"]}}',
        f'{{"sub":"dash","iat":{now},"exp":{now + 600},"sessions":["x"],"sessions":["t*"],"scope":["read"]}}',
        f'{{"sub":"dash","iat":{now},"exp":{now + 600},"sessions":["t*"],"scope":["read"],"scope":["read","write"]}}',
        f'{{"sub":"other","s\\u0075b":"dash","iat":{now},"exp":{now + 600},"sessions":["t*"],"scope":["read"]}}',
    ]:
        status, body = get_with(token_hub, hs256(claims))
        assert status == 401 and body["error"].startswith("token repeats the claim"), (claims, body)


def test_bad_token_max_ttl_stops_the_start():
    for value in ("0", "-1", "59", "31536001", "nan", "1e9"):
        code, err = run_binary({"TOKEN_SECRET": SECRET, "TOKEN_MAX_TTL": value})
        assert code == 64 and "TOKEN_MAX_TTL" in err, (value, err)


# MARK: 6. Headers and oracles

def raw_headers(hub, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                 headers={"Content-Type": "application/json", "x-api-key": KEY, **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}


def test_api_responses_are_nosniff_and_no_store():
    h = Hub({"API_KEY": KEY, "METRICS_PUBLIC": "true"})
    try:
        event = {"sessionId": "h1", "type": "t", "timestamp": TS}
        answers = [
            raw_headers(h, "POST", "/api/events", event),
            raw_headers(h, "GET", "/api/events/h1"),
            raw_headers(h, "GET", "/api/sessions"),
            raw_headers(h, "GET", "/health"),
            raw_headers(h, "GET", "/metrics"),
            raw_headers(h, "GET", "/api/nothing-here"),
            raw_headers(h, "GET", "/api/sessions", headers={"x-api-key": "wrong-wrong-wrong-wrong"}),
            raw_headers(h, "POST", "/api/events", {"bad": 1}),
            raw_headers(h, "POST", "/api/sessions", {"id": "h2", "cwd": "/tmp"}),
            raw_headers(h, "DELETE", "/api/sessions/h2"),
        ]
        assert [s for s, _ in answers] == [201, 200, 200, 200, 200, 404, 401, 400, 201, 204]
        for status, headers in answers:
            assert headers.get("x-content-type-options") == "nosniff", (status, headers)
            assert headers.get("cache-control") == "no-store", (status, headers)
        assert "strict-transport-security" not in answers[0][1]
    finally:
        assert h.stop() == 0


def test_hsts_only_over_native_tls_when_set(tmp_path):
    if not shutil.which("openssl") or not shutil.which("curl"):
        pytest.skip("openssl and curl needed")
    from tls_certs import ThrowawayPKI
    pki = ThrowawayPKI(str(tmp_path))
    chain, key, _ = pki.leaf("hsts")
    code, err = run_binary({"TLS_HSTS_SECONDS": "31536000"})
    assert code == 64 and "TLS_HSTS_SECONDS needs native TLS" in err
    for env, expected in [({"TLS_HSTS_SECONDS": "31536000"}, "strict-transport-security: max-age=31536000"),
                          ({}, None)]:
        h = Hub({"TLS_CERT_FILE": chain, "TLS_KEY_FILE": key, **env}, wait=None)
        try:
            deadline = time.time() + 20
            out = ""
            while time.time() < deadline:
                out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", "--cacert", pki.ca,
                                      f"https://localhost:{h.port}/health"], capture_output=True, text=True).stdout
                if out.startswith("HTTP/"):
                    break
                time.sleep(0.1)
            heads = out.lower()
            assert heads.startswith("http/1.1 200"), out
            if expected:
                assert expected in heads, out
            else:
                assert "strict-transport-security" not in heads, out
        finally:
            assert h.stop() == 0


def test_a_chain_the_caller_may_not_see_is_404_like_a_missing_one(token_hub):
    full = {"x-api-key": KEY}
    assert request(token_hub, "POST", "/api/sessions", {"id": "other-s", "cwd": "/tmp"}, full)[0] == 201
    status, chain = request(token_hub, "POST", "/api/sessions/other-s/chains", {"name": "c"}, full)
    assert status == 201
    reader = {"Authorization": f"Bearer {token(sessions=['t*'])}"}
    hidden = request(token_hub, "GET", f"/api/chains/{chain['id']}", headers=reader)
    missing_id = chain["id"][:-4] + ("0000" if not chain["id"].endswith("0000") else "1111")
    missing = request(token_hub, "GET", f"/api/chains/{missing_id}", headers=reader)
    assert hidden[0] == missing[0] == 404
    assert hidden[1]["error"].replace(chain["id"], "ID") == missing[1]["error"].replace(missing_id, "ID")
    assert request(token_hub, "GET", f"/api/chains/{chain['id']}", headers=full)[0] == 200
