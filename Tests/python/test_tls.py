"""Native TLS (TLS_CERT_FILE / TLS_KEY_FILE) checked by independent clients: curl, Python's
ssl and `websockets`, headless Chromium, sslscan and the openssl CLI. A throwaway PKI (root,
intermediate, leaves for localhost/127.0.0.1) is made at test time; no key is committed."""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest
import websockets

from conftest import Hub, binary
from tls_certs import ThrowawayPKI, der, spki_sha256_base64

TS = "2026-11-24T12:00:00Z"


@pytest.fixture(scope="module")
def pki():
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not installed")
    p = ThrowawayPKI()
    yield p
    shutil.rmtree(p.dir, ignore_errors=True)


class TLSHub(Hub):
    """A switchboard process serving HTTPS/WSS with the given certificate chain and key."""

    def __init__(self, pki, cert, key, env=None):
        self.context = pki.context()
        self.ca = pki.ca
        super().__init__({"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key, "METRICS_PUBLIC": "true", **(env or {})})

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"wss://127.0.0.1:{self.port}/ws"

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=5, context=self.context) as r:
            return r.status, json.loads(r.read() or b"null")

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5, context=self.context) as r:
            return r.status, json.loads(r.read())

    def metrics(self):
        with urllib.request.urlopen(self.url + "/metrics", timeout=5, context=self.context) as r:
            return r.read().decode()

    def wait_for_log(self, pattern, count=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(re.findall(pattern, self.log_text())) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"log never showed {pattern!r}:\n{self.log_text()}")


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.split()[-1])
    return None


@pytest.fixture(scope="module")
def ec_leaf(pki):
    return pki.leaf("server-ec")


@pytest.fixture
def tls_hub(pki, ec_leaf):
    chain, key, _ = ec_leaf
    h = TLSHub(pki, chain, key)
    yield h
    assert h.stop() == 0, h.log_text()


def peer_certificate(port, context):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)


# MARK: HTTPS and WSS with real clients

def test_curl_https_health_post_and_read_back(tls_hub):
    """curl verifies the chain against the test root only (the server sends the intermediate),
    negotiates http/1.1 by ALPN, posts an event and reads it back."""
    base = tls_hub.url
    out = curl("--cacert", tls_hub.ca, "-w", "\\n%{http_version} %{http_code}", f"{base}/health")
    assert out.returncode == 0, out.stderr
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "1.1 200" and json.loads(body)["status"] == "ok"

    event = {"sessionId": "tls-curl", "type": "t", "timestamp": TS, "n": 1}
    out = curl("--cacert", tls_hub.ca, "-X", "POST", "-H", "Content-Type: application/json",
               "--data", json.dumps(event), "-w", "\\n%{http_code}", f"{base}/api/events")
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "201", out
    assert json.loads(body)["seq"] == 1

    out = curl("--cacert", tls_hub.ca, f"{base}/api/events/tls-curl")
    events = json.loads(out.stdout)["events"]
    assert [(e["seq"], e["n"]) for e in events] == [(1, 1)]

    # Verification is real: without the test root curl refuses the certificate.
    out = curl(f"{base}/health")
    assert out.returncode == 60, out  # CURLE_PEER_FAILED_VERIFICATION


def test_keep_alive_and_large_bodies_over_tls(tls_hub):
    """Several requests on one TLS connection, a body spanning many records both ways."""
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", tls_hub.port, context=tls_hub.context, timeout=10)
    try:
        big = "x" * 200_000
        for n in range(1, 4):
            conn.request("POST", "/api/events", body=json.dumps({"sessionId": "tls-big", "type": "t", "timestamp": TS, "blob": big, "n": n}),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 201, resp.read()
            resp.read()
        conn.request("GET", "/api/events/tls-big")
        resp = conn.getresponse()
        events = json.loads(resp.read())["events"]
        assert [e["n"] for e in events] == [1, 2, 3] and all(e["blob"] == big for e in events)
    finally:
        conn.close()


def test_websockets_over_wss_receive_events(tls_hub):
    async def run():
        async with websockets.connect(tls_hub.ws_url, ssl=tls_hub.context) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "subscription_confirmed"
            await ws.send(json.dumps({"type": "subscribe", "sessionId": "tls-ws"}))
            confirmed = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert confirmed["type"] == "subscription_confirmed" and confirmed["sessionId"] == "tls-ws"
            for n in range(1, 21):
                await asyncio.to_thread(tls_hub.post, "/api/events", {"sessionId": "tls-ws", "type": "t", "timestamp": TS, "n": n})
            got = []
            while len(got) < 20:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if msg["type"] == "event":
                    got.append((msg["seq"], msg["payload"]["n"]))
            assert got == [(n, n) for n in range(1, 21)]
            # A message larger than one TLS record, echoed through the hub's own path.
            await ws.send(json.dumps({"type": "ping", "pad": "p" * 40_000}))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if msg["type"] in ("pong", "error"):
                    break
        # A clean close: the server answered the close handshake over TLS.
        assert ws.close_code == 1000
    asyncio.run(run())


def test_chromium_dashboard_over_wss(pki, ec_leaf, tls_hub):
    """A real browser trusts the test certificate by its public key (as a CA-managed fleet
    would trust a private root) and subscribes over wss://."""
    if not shutil.which("chromedriver") and not os.path.exists("/usr/bin/chromedriver"):
        pytest.skip("chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from test_browser import check_dashboard
    _, _, leaf = ec_leaf
    profile = tempfile.mkdtemp(prefix="switchboard-chromium-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--user-data-dir={profile}", f"--ignore-certificate-errors-spki-list={spki_sha256_base64(leaf)}"):
        options.add_argument(arg)
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if shutil.which(candidate):
            options.binary_location = candidate
            break
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        check_dashboard(driver, tls_hub, f"wss://localhost:{tls_hub.port}/ws")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert metric(tls_hub.metrics(), "switchboard_tls_handshakes", result="ok") >= 1


# MARK: Policy: protocols, ciphers, preference, ALPN

WEAK = re.compile(r"RC4|DES|3DES|NULL|EXP|EXPORT|anon|ADH|AECDH|MD5|PSK|SRP|CBC|IDEA|SEED|CAMELLIA|ARIA|^AES|^DHE|-SHA$")
STRONG_TLS12 = re.compile(r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$")


def test_sslscan_no_protocol_below_tls12_and_no_weak_cipher(tls_hub):
    if not shutil.which("sslscan"):
        pytest.skip("sslscan not installed")
    out = subprocess.run(["sslscan", "--no-colour", "--xml=-", f"127.0.0.1:{tls_hub.port}"],
                         capture_output=True, text=True, timeout=60)
    xml = out.stdout[out.stdout.index("<?xml"):]
    root = ET.fromstring(xml)
    protocols = {(p.get("type"), p.get("version")): p.get("enabled") for p in root.iter("protocol")}
    assert protocols == {("ssl", "2"): "0", ("ssl", "3"): "0", ("tls", "1.0"): "0", ("tls", "1.1"): "0",
                         ("tls", "1.2"): "1", ("tls", "1.3"): "1"}, protocols
    ciphers = [(c.get("sslversion"), c.get("cipher"), c.get("status"), int(c.get("bits"))) for c in root.iter("cipher")]
    assert ciphers, xml
    for version, name, _, bits in ciphers:
        assert version in ("TLSv1.2", "TLSv1.3"), (version, name)
        assert bits >= 128, name
        assert not WEAK.search(name), name
        if version == "TLSv1.2":
            assert STRONG_TLS12.match(name), name
    # Server preference: the first suite of our list is the preferred one.
    preferred = {v: n for v, n, status, _ in ciphers if status == "preferred"}
    assert preferred.get("TLSv1.2") == "ECDHE-ECDSA-AES128-GCM-SHA256", preferred
    renegotiation = next(root.iter("renegotiation"))
    assert renegotiation.get("supported") == "0"
    groups = [g.get("name") for g in root.iter("group")]
    assert groups and not any(g.startswith("ffdhe") for g in groups), groups


def test_server_cipher_preference_and_alpn(tls_hub):
    # The client lists ChaCha20 first; the server picks by its own order.
    ctx12 = ssl.create_default_context(cafile=tls_hub.ca)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx12.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256")
    ctx12.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", tls_hub.port), timeout=5) as raw:
        with ctx12.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.version() == "TLSv1.2"
            assert s.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
            assert s.selected_alpn_protocol() == "http/1.1"
    # ALPN without http/1.1 is refused (RFC 7301: no_application_protocol).
    h2_only = ssl.create_default_context(cafile=tls_hub.ca)
    h2_only.set_alpn_protocols(["h2"])
    with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application protocol"):
        peer_certificate(tls_hub.port, h2_only)
    # A TLS 1.2 client limited to CBC suites finds nothing in common.
    cbc = ssl.create_default_context(cafile=tls_hub.ca)
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384")
    with pytest.raises(ssl.SSLError):
        peer_certificate(tls_hub.port, cbc)
    # Plain HTTP to the TLS port is refused and counted, not parsed: one fixed 400 that says
    # to use https (never the /health answer), then the end of the stream.
    with socket.create_connection(("127.0.0.1", tls_hub.port), timeout=5) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), answer
        assert json.loads(body) == {"error": "this port speaks TLS: use https:// (or wss://)"}, answer
        assert b"instanceId" not in answer  # the request was never served
    # curl says the same to a user who typed http://
    curl = subprocess.run(["curl", "-s", f"http://127.0.0.1:{tls_hub.port}/health"], capture_output=True, text=True, timeout=10)
    assert "use https://" in curl.stdout, curl
    deadline = time.time() + 5
    while time.time() < deadline:
        text = tls_hub.metrics()
        if metric(text, "switchboard_tls_handshakes", result="plain_http") == 2:
            break
        time.sleep(0.05)
    assert metric(text, "switchboard_tls_handshakes", result="plain_http") == 2, text
    assert metric(text, "switchboard_tls_handshakes", result="alpn") == 1, text
    assert metric(text, "switchboard_tls_handshakes", result="cipher") == 1, text
    assert metric(text, "switchboard_tls_handshakes", result="ok") >= 2, text
    # Failures are logged, rate-limited, without secrets.
    assert "tls handshake failed" in tls_hub.log_text()


# MARK: Handshake deadline

def stall_mid_handshake(port):
    """Sends a real ClientHello, reads the server's flight, and never sends Finished."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    raw.sendall(outgoing.read())
    flight = raw.recv(65536)
    assert flight[:1] == b"\x16", flight[:16]  # a handshake record: the server answered
    return raw


def wait_closed(sock, limit):
    start = time.time()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.time() - start


def test_stalled_handshake_times_out_and_others_are_served(pki, ec_leaf):
    chain, key, _ = ec_leaf
    hub = TLSHub(pki, chain, key, env={"TLS_HANDSHAKE_TIMEOUT": "1"})
    try:
        stalled = stall_mid_handshake(hub.port)
        silent = socket.create_connection(("127.0.0.1", hub.port), timeout=10)  # never says anything
        # Meanwhile other clients are served, handshake and all.
        for n in range(5):
            assert hub.get("/health")[0] == 200
        async def subscribe():
            async with websockets.connect(hub.ws_url, ssl=hub.context) as ws:
                return json.loads(await ws.recv())["type"]
        assert asyncio.run(subscribe()) == "subscription_confirmed"
        # The stalled ones are closed after the deadline (swept once a second), not before.
        elapsed = wait_closed(stalled, 10)
        assert 0.5 <= elapsed <= 4, elapsed
        assert wait_closed(silent, 10) <= 4
        stalled.close()
        silent.close()
        text = hub.metrics()
        assert metric(text, "switchboard_tls_handshakes", result="timeout") == 2, text
        assert metric(text, "switchboard_tls_handshakes", result="ok") >= 6, text
        hub.wait_for_log(r"tls handshake failed: handshake not completed in time")
    finally:
        assert hub.stop() == 0, hub.log_text()


# MARK: SIGHUP reload

def test_sighup_reloads_certificate_without_dropping_connections(pki):
    chain_a, key_a, leaf_a = pki.leaf("reload-a")
    chain_b, key_b, leaf_b = pki.leaf("reload-b", key="rsa")
    live = tempfile.mkdtemp(prefix="switchboard-live-cert-")
    cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
    shutil.copy(chain_a, cert)
    shutil.copy(key_a, key)
    hub = TLSHub(pki, cert, key)

    def install(src_cert, src_key):
        for src, dst in ((src_cert, cert), (src_key, key)):
            shutil.copy(src, dst + ".new")
            os.replace(dst + ".new", dst)

    async def run():
        async with websockets.connect(hub.ws_url, ssl=hub.context) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "sessionId": "tls-reload"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscription_confirmed"

            async def next_event():
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if msg["type"] == "event":
                        return msg["payload"]["n"]

            assert peer_certificate(hub.port, hub.context) == der(leaf_a)
            install(chain_b, key_b)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log(r"TLS certificate reloaded")
            # New connections see the new certificate; the open one keeps working on the old.
            deadline = time.time() + 5
            while peer_certificate(hub.port, hub.context) != der(leaf_b) and time.time() < deadline:
                time.sleep(0.05)  # every loop installs it on its next turn
            for _ in range(4):  # both loops (SO_REUSEPORT spreads new connections)
                assert peer_certificate(hub.port, hub.context) == der(leaf_b)
            await asyncio.to_thread(hub.post, "/api/events", {"sessionId": "tls-reload", "type": "t", "timestamp": TS, "n": 1})
            assert await next_event() == 1

            # A broken pair on reload: logged, the previous (good) one stays.
            with open(cert, "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log(r"TLS reload failed, keeping the previous certificate")
            install(chain_a, key_b)  # mismatched key: refused as well
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log(r"TLS reload failed, keeping the previous certificate", count=2)
            assert "does not match the certificate" in hub.log_text()
            for _ in range(4):
                assert peer_certificate(hub.port, hub.context) == der(leaf_b)
            await asyncio.to_thread(hub.post, "/api/events", {"sessionId": "tls-reload", "type": "t", "timestamp": TS, "n": 2})
            assert await next_event() == 2
        assert ws.close_code == 1000

    try:
        asyncio.run(run())
        text = hub.metrics()
        assert metric(text, "switchboard_tls_reloads", result="ok") == 1, text
        assert metric(text, "switchboard_tls_reloads", result="failed") == 2, text
        assert hub.proc.poll() is None  # SIGHUP never ends the process with TLS on
    finally:
        assert hub.stop() == 0, hub.log_text()
        shutil.rmtree(live, ignore_errors=True)


# MARK: Startup errors and the default

def start_fails(env, *flags):
    full = dict(os.environ)
    for k in ("TLS_CERT_FILE", "TLS_KEY_FILE", "API_KEY", "REDIS_URL"):
        full.pop(k, None)
    full.update(env)
    out = subprocess.run([binary(), "--host", "127.0.0.1", "--port", "0", *flags], env=full,
                         capture_output=True, text=True, timeout=20, cwd=tempfile.gettempdir())
    assert out.returncode != 0, out
    return out.stderr


def test_startup_errors_are_clear(pki, ec_leaf, tmp_path):
    chain, key, _ = ec_leaf
    other_chain, other_key, _ = pki.leaf("other")
    missing = str(tmp_path / "missing.pem")
    assert f"TLS_CERT_FILE {missing}: cannot open: No such file or directory" in start_fails({"TLS_CERT_FILE": missing, "TLS_KEY_FILE": key})
    assert f"TLS_KEY_FILE {missing}: cannot open" in start_fails({"TLS_CERT_FILE": chain, "TLS_KEY_FILE": missing})
    assert "must be set together" in start_fails({"TLS_CERT_FILE": chain})
    assert "must be set together" in start_fails({"TLS_KEY_FILE": key})
    assert "does not match the certificate" in start_fails({"TLS_CERT_FILE": chain, "TLS_KEY_FILE": other_key})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    assert "no usable PEM certificate" in start_fails({"TLS_CERT_FILE": str(garbage), "TLS_KEY_FILE": key})
    assert "no usable unencrypted PEM private key" in start_fails({"TLS_CERT_FILE": chain, "TLS_KEY_FILE": str(garbage)})
    # An encrypted key fails at once rather than prompting for a passphrase.
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", key, "-aes256", "-passout", "pass:secret", "-out", str(encrypted)], check=True)
    assert "no usable unencrypted PEM private key" in start_fails({"TLS_CERT_FILE": chain, "TLS_KEY_FILE": str(encrypted)})
    unreadable = tmp_path / "unreadable.pem"
    shutil.copy(chain, unreadable)
    os.chmod(unreadable, 0)
    if os.geteuid() != 0:  # root reads anything
        assert "cannot open: Permission denied" in start_fails({"TLS_CERT_FILE": str(unreadable), "TLS_KEY_FILE": key})
    assert "TLS_HANDSHAKE_TIMEOUT must be an integer" in start_fails({"TLS_CERT_FILE": chain, "TLS_KEY_FILE": key, "TLS_HANDSHAKE_TIMEOUT": "0"})
    # Flags work like the variables.
    assert "does not match" in start_fails({}, "--tls-cert-file", other_chain, "--tls-key-file", key)


def test_plain_http_stays_the_default(hub):
    assert hub.get("/health")[0] == 200
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        peer_certificate(hub.port, ctx)
    assert hub.get("/health")[0] == 200
    with urllib.request.urlopen(hub.url + "/metrics", timeout=5) as r:
        assert "switchboard_tls_" not in r.read().decode()
