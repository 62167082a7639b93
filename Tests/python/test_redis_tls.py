"""Redis over TLS (`rediss://`, issue 22 items 2-4) on real processes: redis-server speaking only
TLS on its port (`--port 0 --tls-port P`), certificates from a throwaway PKI made with the
openssl CLI. The happy path (two instances, two TLS shards, client certificates, cross-instance
delivery), each failure the operator must be told about (unknown CA, host-name mismatch, no
client certificate, plain redis:// at a TLS port: /ready stays 503, one warning naming the cause,
reconnects go on), startup refusals naming the file, and SIGHUP reloading the files."""
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import websockets

from conftest import Hub, binary, request
from redis_server import RedisServer, RedisTLS, SentinelServer
from tls_certs import ThrowawayPKI

TS = "2026-12-07T02:00:00Z"


@pytest.fixture(scope="module")
def pki():
    p = ThrowawayPKI()
    p.server = p.leaf_with("redis", usage="serverAuth,clientAuth")
    p.client = p.leaf_with("hub", usage="clientAuth")
    yield p
    shutil.rmtree(p.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def other_pki():
    p = ThrowawayPKI()
    yield p
    shutil.rmtree(p.dir, ignore_errors=True)


def tls_server(pki, auth_clients=False):
    cert, key = pki.server
    client_cert, client_key = pki.client
    return RedisServer(tls=RedisTLS(cert, key, pki.ca, auth_clients=auth_clients, client_cert=client_cert, client_key=client_key))


def client_env(pki, **extra):
    cert, key = pki.client
    return {"REDIS_TLS_CA_FILE": pki.ca, "REDIS_TLS_CERT_FILE": cert, "REDIS_TLS_KEY_FILE": key, **extra}


def wait_for_log(hub, pattern, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if re.search(pattern, hub.log_text()):
            return True
        time.sleep(0.1)
    return False


def assert_refused_with(server, env, cause, seconds=4):
    """The instance never becomes ready, logs `cause` once as a warning (rate-limited, however
    many connections retry), and keeps reconnecting with backoff."""
    hub = Hub({"THREADS": "2", "LOG_LEVEL": "debug", **env}, wait="/health")
    try:
        assert wait_for_log(hub, cause), hub.log_text()[-3000:]
        time.sleep(seconds)  # a window of retries: still not ready, and the warning not repeated
        assert hub.get_status("/ready") == 503
        log = hub.log_text()
        lines = [line for line in log.splitlines() if re.search(cause, line)]
        assert len(lines) == 1, lines
        assert "warning" in lines[0].lower(), lines[0]
        delays = [int(d) for d in re.findall(r"redis reconnect scheduled.*delayMs=(\d+)", log)]
        assert len(delays) >= 6, log[-3000:]
        assert max(delays) > min(delays), delays   # backing off, not spinning
    finally:
        assert hub.stop() == 0


def post_until_stored(hub, event, seconds=10):
    """POSTs `event` again every 0.2 s until it is answered 201 (Redis reconnecting, a master
    being found); the last (status, body)."""
    deadline = time.time() + seconds
    while True:
        status, body = request(hub, "POST", "/api/events", event)
        if status == 201 or time.time() > deadline:
            return status, body
        time.sleep(0.2)


def status_of(hub, path):
    status, _ = request(hub, "GET", path)
    return status


Hub.get_status = status_of


async def subscribe(ws, session):
    await ws.send(json.dumps({"type": "subscribe", "sessionId": session}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "subscription_confirmed" and message.get("sessionId") == session:
            return


async def next_event(ws, timeout=10):
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == "event":
            return message


def test_two_instances_over_tls_shards_with_client_certificates(pki):
    shards = [tls_server(pki, auth_clients=True), tls_server(pki, auth_clients=True)]
    url = ",".join(s.url for s in shards)
    assert url.count("rediss://") == 2
    a = Hub({"REDIS_URL": url, "INSTANCE_ID": "a", "THREADS": "2", **client_env(pki)}, name="a", wait="/ready")
    b = Hub({"REDIS_URL": url, "INSTANCE_ID": "b", "THREADS": "2", **client_env(pki)}, name="b", wait="/ready")
    try:
        sessions = [f"tls-{i}" for i in range(8)]

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{b.port}/ws") as ws:
                for s in sessions:
                    await subscribe(ws, s)
                for s in sessions:
                    status, body = request(a, "POST", "/api/events", {"sessionId": s, "type": "t", "timestamp": TS, "data": {"s": s}})
                    assert status == 201, body
                got = set()
                for _ in sessions:
                    event = await next_event(ws)
                    got.add(event["sessionId"])
                assert got == set(sessions)

        asyncio.run(scenario())
        for s in sessions:
            status, body = request(b, "GET", f"/api/events/{s}")
            assert status == 200 and body["count"] == 1 and body["events"][0]["data"] == {"s": s}, body
        # The sessions are spread over both TLS shards, and the keys are really there.
        assert all(int(s.cli("DBSIZE")) > 0 for s in shards)
        assert "redis_tls=CA file" in a.log_text()
    finally:
        assert a.stop() == 0 and b.stop() == 0
        for s in shards:
            s.stop()


def test_server_name_override_and_system_store_refusal(pki):
    with tls_server(pki) as server:
        # REDIS_TLS_SERVER_NAME: the certificate names localhost, the URL an IP address.
        hub = Hub({"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": pki.ca, "REDIS_TLS_SERVER_NAME": "localhost"}, wait="/ready")
        assert hub.stop() == 0
        # Without REDIS_TLS_CA_FILE the system store is used: it does not know the test CA.
        assert_refused_with(server, {"REDIS_URL": server.url}, r"redis TLS failed: certificate verify failed: unable to get local issuer certificate")


def test_unknown_ca(pki, other_pki):
    with tls_server(pki) as server:
        assert_refused_with(server, {"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": other_pki.ca},
                            r"redis TLS failed: certificate verify failed: unable to get local issuer certificate")


def test_host_name_mismatch(pki):
    with tls_server(pki) as server:
        assert_refused_with(server, {"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": pki.ca, "REDIS_TLS_SERVER_NAME": "redis.example.com"},
                            r"redis TLS failed: certificate verify failed: hostname mismatch")
        # An IP address in the URL is checked against the certificate's IP entries.
        cert, key = pki.leaf_with("dns-only", san="DNS:localhost", usage="serverAuth")
        with RedisServer(tls=RedisTLS(cert, key, pki.ca)) as dns_only:
            assert_refused_with(dns_only, {"REDIS_URL": dns_only.url, "REDIS_TLS_CA_FILE": pki.ca},
                                r"redis TLS failed: certificate verify failed: IP address mismatch")


def test_missing_client_certificate(pki):
    with tls_server(pki, auth_clients=True) as server:
        assert_refused_with(server, {"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": pki.ca},
                            r"redis TLS failed: .* right after the TLS handshake, before answering: does it require a client certificate")


def test_plain_url_at_a_tls_port(pki):
    with tls_server(pki) as server:
        assert_refused_with(server, {"REDIS_URL": f"redis://127.0.0.1:{server.port}"}, r"is it a TLS port \(then use rediss://\)")


def test_rediss_url_at_a_plain_port():
    with RedisServer() as server:
        assert_refused_with(server, {"REDIS_URL": f"rediss://127.0.0.1:{server.port}"}, r"redis TLS failed: handshake not completed in time: is it a TLS port")


def test_sentinel_over_tls_with_an_unknown_ca(pki, other_pki):
    """The Sentinel queries (resolver threads) and the +switch-master subscription verify the
    sentinels' certificates too: with a CA that did not sign them, no master is found."""
    cert, key = pki.server
    tls = RedisTLS(cert, key, pki.ca)
    master = RedisServer(tls=tls)
    sentinel = None
    try:
        # Inside the try: when no sentinel starts (not installed), the master is still stopped.
        sentinel = SentinelServer(master.port, quorum=1, tls=tls)
        env = {"REDIS_URL": "rediss://127.0.0.1", "REDIS_SENTINELS": f"127.0.0.1:{sentinel.port}", "REDIS_SENTINEL_MASTER": "mymaster"}
        hub = Hub({**env, "REDIS_TLS_CA_FILE": other_pki.ca}, wait="/health")
        try:
            assert wait_for_log(hub, r"redis address lookup failed.*TLS failed: certificate verify failed: unable to get local issuer certificate"), \
                hub.log_text()[-3000:]
            assert wait_for_log(hub, r"redis TLS failed: certificate verify failed: unable to get local issuer certificate")
            time.sleep(1)  # a window in which it must not become ready
            assert status_of(hub, "/ready") == 503
        finally:
            assert hub.stop() == 0
        # The control: the right CA finds the master through the same sentinel.
        hub = Hub({**env, "REDIS_TLS_CA_FILE": pki.ca}, wait="/ready")
        status, body = post_until_stored(hub, {"sessionId": "via-sentinel", "type": "t", "timestamp": TS})
        assert hub.stop() == 0
        assert status == 201, body
        assert master.cli("LLEN", "afw:events:via-sentinel") == "1"
    finally:
        if sentinel:
            sentinel.stop()
        master.stop()


def test_reshard_over_tls(pki):
    """`switchboard reshard` between TLS shards (REDIS_TLS_* from the environment, client
    certificates required): the sessions the new list places elsewhere move, and an instance
    with the new list finds every one."""
    from test_sharding import shard_of
    shards = [tls_server(pki, auth_clients=True), tls_server(pki, auth_clients=True)]
    sessions = [f"tls-reshard-{i}" for i in range(40)]
    env = client_env(pki)
    hub = Hub({"REDIS_URL": shards[0].url, "THREADS": "1", **env}, wait="/ready")
    try:
        for i, s in enumerate(sessions):
            status, body = post_until_stored(hub, {"sessionId": s, "type": "t", "timestamp": TS, "data": {"i": i}})
            assert status == 201, body
    finally:
        assert hub.stop() == 0
    try:
        new_list = f"{shards[0].url},{shards[1].url}"
        expected = sum(1 for s in sessions if shard_of(s, 2) == 1)
        assert 0 < expected < len(sessions)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
        moved = subprocess.run([binary(), "reshard", "--from", shards[0].url, "--to", new_list], env={**clean, **env},
                               capture_output=True, text=True, timeout=120)
        assert moved.returncode == 0 and f"moved {expected} sessions" in moved.stdout, moved.stdout + moved.stderr
        for s in sessions:
            here, there = (shards[1], shards[0]) if shard_of(s, 2) == 1 else (shards[0], shards[1])
            assert here.cli("LLEN", f"afw:events:{s}") == "1" and there.cli("LLEN", f"afw:events:{s}") == "0", s
        # Without the client certificate the TLS shards refuse the tool. (Its first command
        # follows the handshake at once, so the server's reset often overtakes its alert: the
        # message is "TLS: certificate required" or "TLS: Connection reset by peer".)
        refused = subprocess.run([binary(), "reshard", "--from", shards[0].url, "--to", new_list, "--dry-run"],
                                 env={**clean, "REDIS_TLS_CA_FILE": pki.ca}, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "SCAN: TLS: " in refused.stdout + refused.stderr, refused.stdout + refused.stderr
        after = Hub({"REDIS_URL": new_list, "THREADS": "1", **env}, wait="/ready")
        try:
            for i, s in enumerate(sessions):
                deadline = time.time() + 10
                while True:
                    status, body = request(after, "GET", f"/api/events/{s}")
                    if status == 200 or time.time() > deadline:
                        break
                    time.sleep(0.2)
                assert status == 200 and body["events"][0]["data"] == {"i": i}, (s, body)
        finally:
            assert after.stop() == 0
    finally:
        for shard in shards:
            shard.stop()


def start_refused(env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    p = subprocess.run([binary(), "--host", "127.0.0.1", "--port", "0"], env={**clean, **env}, capture_output=True,
                       text=True, timeout=20, cwd=tempfile.gettempdir())
    return p.returncode, p.stdout + p.stderr


def test_bad_files_stop_the_start_naming_them(pki, tmp_path):
    url = "rediss://127.0.0.1:1"
    missing = str(tmp_path / "missing.pem")
    code, out = start_refused({"REDIS_URL": url, "REDIS_TLS_CA_FILE": missing})
    assert code == 64 and f"REDIS_TLS_CA_FILE {missing}: cannot open" in out, out
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    code, out = start_refused({"REDIS_URL": url, "REDIS_TLS_CA_FILE": str(garbage)})
    assert code == 64 and f"REDIS_TLS_CA_FILE {garbage}: no usable PEM CA certificate" in out, out
    cert, key = pki.client
    code, out = start_refused({"REDIS_URL": url, "REDIS_TLS_CERT_FILE": cert})
    assert code == 64 and "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE must be set together" in out, out
    code, out = start_refused({"REDIS_URL": url, "REDIS_TLS_CERT_FILE": cert, "REDIS_TLS_KEY_FILE": str(garbage)})
    assert code == 64 and f"REDIS_TLS_KEY_FILE {garbage}: no usable unencrypted PEM private key" in out, out
    _, other_key = pki.server
    code, out = start_refused({"REDIS_URL": url, "REDIS_TLS_CERT_FILE": cert, "REDIS_TLS_KEY_FILE": other_key})
    assert code == 64 and f"REDIS_TLS_KEY_FILE {other_key} does not match" in out, out
    # REDIS_TLS_* without rediss:// would do nothing: refused.
    code, out = start_refused({"REDIS_URL": "redis://127.0.0.1:1", "REDIS_TLS_CA_FILE": pki.ca})
    assert code == 64 and "REDIS_TLS_* settings need a rediss:// REDIS_URL" in out, out
    # reshard reads the same files: a bad one stops it, naming it.
    p = subprocess.run([binary(), "reshard", "--from", url, "--to", "rediss://127.0.0.1:2"], capture_output=True, text=True, timeout=20,
                       env={**{k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}, "REDIS_TLS_CA_FILE": missing})
    assert p.returncode != 0 and f"REDIS_TLS_CA_FILE {missing}: cannot open" in p.stdout + p.stderr, p.stdout + p.stderr


def test_sighup_reloads_the_redis_tls_files(pki, other_pki, tmp_path):
    server = tls_server(pki)
    ca = tmp_path / "ca.pem"
    shutil.copy(other_pki.ca, ca)
    hub = Hub({"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": str(ca), "LOG_LEVEL": "info"}, wait="/health")
    try:
        assert wait_for_log(hub, r"certificate verify failed"), hub.log_text()[-3000:]
        assert status_of(hub, "/ready") == 503
        # A bad file: logged, the previous context stays (still the wrong CA, still 503).
        ca.write_text("not a certificate\n")
        hub.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(hub, r"SIGHUP: Redis TLS reload failed, keeping the previous files: REDIS_TLS_CA_FILE .*no usable PEM CA certificate")
        time.sleep(1)  # a window in which it must not become ready
        assert status_of(hub, "/ready") == 503 and hub.proc.poll() is None
        # The right CA: new connections use it, the instance becomes ready.
        shutil.copy(pki.ca, ca)
        hub.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(hub, r"SIGHUP: Redis TLS files reloaded")
        assert hub.wait_ready(20), hub.log_text()[-3000:]
        # Every connection reconnects at the end of its backoff (3 s at most) with the new files.
        status, body = post_until_stored(hub, {"sessionId": "after-reload", "type": "t", "timestamp": TS})
        assert status == 201, body
    finally:
        assert hub.stop() == 0
        server.stop()


def test_redis_outage_over_tls_is_survived(pki, tmp_path):
    """Redis (TLS, AOF) SIGKILLed and restarted on the same port: /ready drops to 503 and comes
    back, the subscriber of the other instance is resubscribed and gets the events published
    after the outage, and nothing acknowledged before it is lost."""
    cert, key = pki.server
    server = RedisServer(appendonly=True, tls=RedisTLS(cert, key, pki.ca))
    env = {"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": pki.ca, "THREADS": "2"}
    a = Hub({**env, "INSTANCE_ID": "a"}, name="a", wait="/ready")
    b = Hub({**env, "INSTANCE_ID": "b"}, name="b", wait="/ready")
    try:
        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{b.port}/ws") as ws:
                await subscribe(ws, "outage")
                for n in range(5):
                    status, body = request(a, "POST", "/api/events", {"sessionId": "outage", "type": "t", "timestamp": TS, "data": {"n": n}})
                    assert status == 201, body
                    assert (await next_event(ws))["seq"] == n + 1
                server.kill(signal.SIGKILL)
                deadline = time.time() + 10
                while status_of(a, "/ready") != 503 and time.time() < deadline:
                    await asyncio.sleep(0.1)
                assert status_of(a, "/ready") == 503
                await asyncio.to_thread(server.start)
                assert await asyncio.to_thread(a.wait_ready, 20) and await asyncio.to_thread(b.wait_ready, 20)
                deadline = time.time() + 15
                while True:
                    status, body = request(a, "POST", "/api/events", {"sessionId": "outage", "type": "t", "timestamp": TS, "data": {"n": 5}})
                    if status == 201 or time.time() > deadline:
                        break
                    await asyncio.sleep(0.2)
                assert status == 201 and body["seq"] == 6, body
                assert (await next_event(ws, 15))["seq"] == 6

        asyncio.run(scenario())
        status, body = request(b, "GET", "/api/events/outage")
        assert status == 200 and [e["seq"] for e in body["events"]] == [1, 2, 3, 4, 5, 6], body
    finally:
        assert a.stop() == 0 and b.stop() == 0
        server.stop()
