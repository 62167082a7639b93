"""The Python client (clients/python, installed as `pip install ./clients/python` by
Scripts/lib.sh) against real switchboard processes, redis-server and nginx.

Every test imports the installed package; the first one fails when that copy is not this
tree's (Scripts/checks/python-client.py), so nothing here passes against stale code."""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, Hub, free_port, request, wait_subscriptions
from nginx_server import Nginx
from redis_server import RedisServer

try:
    import switchboard
    from switchboard import (AsyncClient, Client, Event, Message, RetryDeadlineExceeded, RetryPolicy, StreamReset,
                             SwitchboardError)
except ImportError as e:  # every test here fails (below); the rest of the suite still runs
    MISSING = f"the Python client is not installed ({e}): pip install ./clients/python (Scripts/test.sh does it)"
else:
    MISSING = None


@pytest.fixture(autouse=True)
def installed_client(monkeypatch):
    """Fails the test when the package is missing; keeps a developer's SWITCHBOARD_* variables
    (which the client reads as defaults) out of the tests."""
    if MISSING:
        pytest.fail(MISSING, pytrace=False)
    for name in ("SWITCHBOARD_URL", "SWITCHBOARD_API_KEY", "SWITCHBOARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)

KEY = "python-client-test-key-0123456789"


def test_the_installed_package_is_this_tree():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "checks", "python-client.py")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not os.path.realpath(switchboard.__file__).startswith(os.path.realpath(os.path.join(ROOT, "clients")))


class Publisher(threading.Thread):
    """Publishes `key` 0, 1, 2 … to `session` through `client` until stopped; every
    acknowledgement is kept as key -> PublishResult."""

    def __init__(self, client, session, interval=0.01):
        super().__init__(daemon=True)
        self.client, self.session, self.interval = client, session, interval
        self.acknowledged = {}
        self.failures = []
        self.stop_event = threading.Event()

    def run(self):
        n = 0
        while not self.stop_event.is_set():
            try:
                self.acknowledged[n] = self.client.publish(self.session, "tick", {"key": n})
            except SwitchboardError as e:
                self.failures.append((n, e))
            n += 1
            time.sleep(self.interval)  # pacing: a steady publisher

    def stop(self):
        self.stop_event.set()
        self.join(timeout=60)
        assert not self.is_alive()


class Collector:
    """Runs an AsyncClient subscription on its own event loop thread, keeping every item."""

    def __init__(self, url, session, **options):
        self.items = []
        self.statuses = []
        self.sub = None
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(url, api_key=options.pop("api_key", None), token=options.pop("token", None),
                                  refresh_token=options.pop("refresh_token", None))
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(session, options),), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def main(self, session, options):
        self.sub = self.client.subscribe(session, on_status=self.statuses.append, **options)
        self.ready.set()
        try:
            async for item in self.sub:
                self.items.append(item)
        except asyncio.CancelledError:
            pass

    def events(self):
        return [i for i in self.items if isinstance(i, Event)]

    def resets(self):
        return [i for i in self.items if isinstance(i, StreamReset)]

    def wait_for(self, predicate, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    def close(self):
        asyncio.run_coroutine_threadsafe(self.sub.close(), self.loop).result(timeout=10)
        self.thread.join(timeout=10)
        self.loop.close()


def assert_exactly_once(collector, history_events, acknowledged):
    """The subscriber got every stored event exactly once and in seq order, the store holds
    each acknowledged key exactly once, and every acknowledgement names the seq it is stored at."""
    got = [(e.seq, e.payload["key"]) for e in collector.events()]
    stored = [(e.seq, e.payload["key"]) for e in history_events]
    assert [s for s, _ in stored] == list(range(1, len(stored) + 1)), "history has a gap or a repeat in seq"
    keys = [k for _, k in stored]
    assert len(keys) == len(set(keys)), f"a key is stored twice: {sorted(k for k in keys if keys.count(k) > 1)[:10]}"
    assert set(acknowledged) <= set(keys), f"acknowledged but not stored: {sorted(set(acknowledged) - set(keys))[:10]}"
    for key, result in acknowledged.items():
        assert stored[result.seq - 1] == (result.seq, key), f"key {key} acknowledged at seq {result.seq}"
    assert got == stored, (f"subscriber: {len(got)} events, store: {len(stored)}; first difference at "
                           f"{next((i for i, (a, b) in enumerate(zip(got, stored)) if a != b), min(len(got), len(stored)))}")


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_subscriber_keeps_every_event_exactly_once_through_a_hub_restart(transport):
    """One Redis-backed instance, SIGKILLed and restarted on the same port while a publisher
    (retrying through the outage) and a subscriber (reconnecting) run. The publisher retries
    every 0.2 s at most and the subscriber waits 1–2 s between attempts, so events are stored
    while it is away: it gets them only by resuming from its last seq."""
    redis = RedisServer()
    hub = Hub({"REDIS_URL": redis.url, "API_KEY": KEY}, name=f"pyclient-restart-{transport}")
    collector = None
    try:
        publisher = Publisher(Client(hub.url, api_key=KEY, retry=RetryPolicy(deadline=30, initial=0.05, maximum=0.2)),
                              "restart")
        collector = Collector(hub.url, "restart", api_key=KEY, after=0, transport=transport, backoff=(2.0, 2.0))
        publisher.start()
        assert collector.wait_for(lambda: len(collector.events()) >= 30), collector.statuses[-5:]
        hub.kill()
        time.sleep(0.5)  # the outage: publisher and subscriber meet a dead port
        hub.start()
        assert hub.wait_ready(20)
        time.sleep(1.5)  # publishing goes on after the restart: events the subscriber resumes into
        publisher.stop()
        assert not publisher.failures
        assert collector.sub.reconnects >= 1, "the subscriber never saw the restart"
        assert collector.sub.transport == transport
        history = list(Client(hub.url, api_key=KEY).all_events("restart"))
        assert collector.wait_for(lambda: len(collector.events()) >= len(history)), \
            f"{len(collector.events())} of {len(history)}; {collector.statuses[-5:]}"
        assert_exactly_once(collector, history, publisher.acknowledged)
        assert collector.resets() == [], "nothing was lost, so the stream must not have been reset"
        retried = sum(1 for r in publisher.acknowledged.values() if r.attempts > 1)
        assert retried >= 1, "no publish was retried: the publisher never met the outage"
    finally:
        if collector:
            collector.close()
        hub.stop()
        redis.stop()


def test_subscriber_keeps_every_event_exactly_once_through_a_redis_restart_behind_nginx():
    """Two instances on one redis-server (AOF, fsync always) behind nginx; Redis SIGKILLed and
    restarted on its AOF while the publisher and two subscribers (WebSocket, SSE) go through
    nginx. The publisher meets 503s and retries; the instances fill their subscribers' gaps."""
    redis = RedisServer(appendonly=True)
    hubs = [Hub({"REDIS_URL": redis.url, "API_KEY": KEY, "INSTANCE_ID": f"pyc-{i}"}, name=f"pyclient-redis-{i}")
            for i in range(2)]
    nginx = Nginx([h.port for h in hubs])
    collectors = []
    try:
        publisher = Publisher(Client(nginx.url, api_key=KEY, retry=RetryPolicy(deadline=30)), "redis-restart")
        collectors = [Collector(nginx.url, "redis-restart", api_key=KEY, after=0, transport=t) for t in ("websocket", "sse")]
        publisher.start()
        for c in collectors:
            assert c.wait_for(lambda: len(c.events()) >= 30), c.statuses[-5:]
        redis.kill(signal.SIGKILL)
        time.sleep(1.5)  # the outage: writes meet 503 and are retried
        redis.start()
        for h in hubs:
            assert h.wait_ready(20), f"{h.name} did not come back after the Redis restart"
        time.sleep(1.5)  # publishing goes on after the restart: events the subscribers resume into
        publisher.stop()
        assert not publisher.failures
        history = list(Client(nginx.url, api_key=KEY).all_events("redis-restart"))
        for c in collectors:
            assert c.wait_for(lambda: len(c.events()) >= len(history)), f"{len(c.events())} of {len(history)}; {c.statuses[-5:]}"
            assert_exactly_once(c, history, publisher.acknowledged)
            assert c.resets() == [], "the AOF kept everything, so the stream must not have been reset"
        retried = sum(1 for r in publisher.acknowledged.values() if r.attempts > 1)
        assert retried >= 1, "no publish was retried: the publisher never met the outage"
    finally:
        for c in collectors:
            c.close()
        nginx.stop()
        for h in hubs:
            h.stop()
        redis.stop()


def test_publisher_retries_through_a_sigkilled_instance_and_stores_each_event_once():
    """Two instances on Redis behind nginx; one publisher through nginx, one pointed straight at
    instance 0, which is SIGKILLed twice and restarted, so that its publisher meets refused
    connections and resets. Every event is acknowledged and stored exactly once, at the seq
    its acknowledgement names."""
    redis = RedisServer(appendonly=True)
    hubs = [Hub({"REDIS_URL": redis.url, "API_KEY": KEY, "INSTANCE_ID": f"pyk-{i}"}, name=f"pyclient-kill-{i}")
            for i in range(2)]
    nginx = Nginx([h.port for h in hubs])
    try:
        policy = RetryPolicy(deadline=30, initial=0.05, maximum=1.0)
        via_nginx = Publisher(Client(nginx.url, api_key=KEY, retry=policy), "kill-nginx", interval=0.002)
        direct = Publisher(Client(hubs[0].url, api_key=KEY, retry=policy), "kill-direct", interval=0.002)
        via_nginx.start()
        direct.start()
        for _ in range(2):
            time.sleep(1.0)  # traffic on both instances before each failure
            hubs[0].kill()
            time.sleep(1.0)  # the outage of one instance
            hubs[0].start()
            assert hubs[0].wait_ready(20)
        time.sleep(0.5)  # traffic after the last restart
        via_nginx.stop()
        direct.stop()
        client = Client(nginx.url, api_key=KEY)
        for publisher in (via_nginx, direct):
            assert not publisher.failures, publisher.failures[:3]
            history = list(client.all_events(publisher.session))
            keys = [e.payload["key"] for e in history]
            assert len(keys) == len(set(keys)), "an event is stored twice"
            assert sorted(keys) == sorted(publisher.acknowledged), "stored and acknowledged keys differ"
            for key, result in publisher.acknowledged.items():
                assert history[result.seq - 1].payload["key"] == key
        assert sum(1 for r in direct.acknowledged.values() if r.attempts > 1) >= 2, "the direct publisher never retried"
    finally:
        nginx.stop()
        for h in hubs:
            h.stop()
        redis.stop()


class DroppingProxy(threading.Thread):
    """A loopback HTTP proxy in front of a hub that forwards each POST and then, for the first
    `drop` of them, closes the client's connection instead of answering: the event is stored
    but the publisher never hears so — the case an idempotency key exists for."""

    def __init__(self, upstream_port, drop):
        super().__init__(daemon=True)
        self.upstream_port, self.drop = upstream_port, drop
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.keys = []
        self.running = True

    def run(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = dict(line.split(": ", 1) for line in lines[1:])
                length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
                while len(body) < length:
                    body += conn.recv(65536)
                method, path, _ = lines[0].split(" ")
                self.keys.append({k.lower(): v for k, v in headers.items()}.get("idempotency-key"))
                status, answer = request(type("H", (), {"port": self.upstream_port}), method, path, raw=body,
                                         headers={k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")})
                if method == "POST" and self.drop > 0:
                    self.drop -= 1
                    conn.shutdown(socket.SHUT_RDWR)
                    continue
                payload = json.dumps(answer).encode()
                conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                             f"Connection: close\r\n\r\n".encode() + payload)

    def stop(self):
        self.running = False
        self.join(timeout=5)
        self.listener.close()


def test_a_retry_after_a_lost_answer_stores_nothing_twice(hub):
    """The first two answers are lost after the hub stored the event: the retries carry the same
    Idempotency-Key (single event) / eventIds (batch), the hub answers duplicate, and history
    holds each event once."""
    proxy = DroppingProxy(hub.port, drop=2)
    proxy.start()
    try:
        client = Client(f"http://127.0.0.1:{proxy.port}", retry=RetryPolicy(deadline=10, initial=0.05))
        result = client.publish("lost-answer", "step", {"n": 1})
        assert result.attempts == 3 and result.duplicate and result.seq == 1
        assert len(set(proxy.keys)) == 1 and proxy.keys[0], "every retry must carry the first attempt's key"
        proxy.drop = 1
        results = client.publish_batch([{"sessionId": "lost-answer", "type": "b", "n": i} for i in range(5)])
        assert [r.seq for r in results] == [2, 3, 4, 5, 6] and all(r.duplicate and r.attempts == 2 for r in results)
        stored = Client(hub.url).history("lost-answer").events
        assert [e.seq for e in stored] == [1, 2, 3, 4, 5, 6]
        assert [e.payload.get("n") for e in stored] == [1, 0, 1, 2, 3, 4]
    finally:
        proxy.stop()
    # Bounded by the deadline when nothing answers; a refusal is not retried.
    dead = Client(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(deadline=1.0, initial=0.05, maximum=0.2))
    started = time.monotonic()
    with pytest.raises(RetryDeadlineExceeded) as failed:
        dead.publish("s", "t")
    assert failed.value.attempts >= 3 and time.monotonic() - started < 3
    with pytest.raises(SwitchboardError) as refused:
        Client(hub.url).publish_event({"sessionId": "bad id!", "type": "t", "timestamp": "2026-01-01T00:00:00Z"})
    assert refused.value.status == 400 and not isinstance(refused.value, RetryDeadlineExceeded)


def test_rest_calls_sessions_chains_and_queues(hub):
    client = Client(hub.url)
    session = client.create_session("/work", id="agent-1", hostname="box", platform="linux")
    assert session.id == "agent-1" and session.status == "pending" and session.hostname == "box"
    assert [s.id for s in client.list_sessions()] == ["agent-1"]
    chain = client.add_chain("agent-1", {"name": "build"})
    assert client.get_chain(chain.id).raw["name"] == "build" and [c.id for c in client.list_chains("agent-1")] == [chain.id]
    updated = client.update_session("agent-1", status="completed", summary="ok")
    assert updated.status == "completed" and updated.ended_at and updated.summary == "ok"
    assert [c.id for c in client.get_session("agent-1").chains] == [chain.id]
    command = client.send_command("agent-1", "pause", {"why": "test"})
    assert command.type == "pause" and command.id
    with pytest.raises(ValueError):
        client.send_command("agent-1", "explode")
    drained = client.drain_commands("agent-1")
    assert [c.id for c in drained] == [command.id] and drained[0].payload == {"why": "test"}
    assert client.drain_commands("agent-1") == []
    assert client.ack_command(command.id, result="done") is True
    assert client.ack_command("01a24e4b-b911-7000-ad75-000000000000") is False
    client.send_input("agent-1", "yes", prompt="continue?")
    assert [(i.input, i.prompt) for i in client.drain_input("agent-1")] == [("yes", "continue?")]
    client.delete_session("agent-1")
    assert client.get_session("agent-1") is None and client.get_chain(chain.id) is None

    async def via_asyncio():
        aclient = AsyncClient(hub.url)
        first = await aclient.publish("async-1", "a", {"x": 1})
        batch = await aclient.publish_batch([{"sessionId": "async-1", "type": "b"}, {"sessionId": "async-2", "type": "c"}])
        history = await aclient.history("async-1")
        paged = [e.seq async for e in aclient.all_events("async-1", page=1)]
        await aclient.send_command("async-1", "retry")
        drained = await aclient.drain_commands("async-1")
        return first, batch, history, paged, drained
    first, batch, history, paged, drained = asyncio.run(via_asyncio())
    assert first.seq == 1 and [(r.session_id, r.seq) for r in batch] == [("async-1", 2), ("async-2", 1)]
    assert [e.type for e in history.events] == ["a", "b"] and paged == [1, 2]
    assert [c.type for c in drained] == ["retry"]


def test_resets_are_surfaced_not_hidden():
    """recovered:false (history trimmed), a stale epoch and a DELETE each reach the
    application as a StreamReset (and on_reset), before the events of the new position."""
    hub = Hub({"HISTORY_LIMIT": "5"}, name="pyclient-resets")
    try:
        client = Client(hub.url)
        client.create_session("/work", id="trim")
        for i in range(20):
            client.publish("trim", "t", {"key": i})
        seen = []
        sync_sub = client.subscribe("trim", after=3, on_reset=seen.append)
        items = [sync_sub.get(timeout=10) for _ in range(6)]
        reset = items[0]
        assert isinstance(reset, StreamReset) and reset.reason == "not_recovered" and not reset.recovered
        assert reset.oldest_seq == 16 and reset.last_delivered_seq == 3 and seen == [reset]
        assert [e.seq for e in items[1:]] == [16, 17, 18, 19, 20]
        epoch = sync_sub.epochs["trim"]
        assert sync_sub.last_seq == {"trim": 20} and sync_sub.transport == "websocket"
        client.delete_session("trim")
        client.publish("trim", "t", {"key": "after"})
        deleted, first = sync_sub.get(timeout=10), sync_sub.get(timeout=10)
        sync_sub.close()
        assert isinstance(deleted, StreamReset) and deleted.reason == "session_deleted" and deleted.epoch != epoch
        assert isinstance(first, Event) and first.seq == 1 and first.epoch == deleted.epoch

        # Resuming with a saved position from an epoch that no longer exists.
        with client.subscribe("trim", after=1, epoch=epoch) as stale:
            reset = stale.get(timeout=10)
            assert isinstance(reset, StreamReset) and reset.reason == "not_recovered" and reset.previous_epoch == epoch
            assert stale.get(timeout=10).seq == 1
    finally:
        hub.stop()


def test_falls_back_to_server_sent_events_when_websockets_are_blocked(hub):
    """nginx refuses /ws (as a proxy without upgrade support would): the subscription moves to
    SSE on its own and delivers, commands included."""
    nginx = Nginx([hub.port], locations="        location = /ws { return 404; }")
    try:
        client = Client(nginx.url)
        client.publish("fallback", "t", {"key": 0})
        with client.subscribe("fallback", after=0) as sub:
            assert sub.get(timeout=10).seq == 1
            client.publish("fallback", "t", {"key": 1})
            client.send_command("fallback", "pause")
            assert sub.get(timeout=10).seq == 2
            command = sub.get(timeout=10)
            assert isinstance(command, Message) and command.type == "command"
            assert sub.subscription.transport == "sse"
    finally:
        nginx.stop()


def test_token_expiring_is_answered_with_a_refreshed_token():
    """Tokens live 3 s and are announced 2 s before exp: the refresh callback keeps one
    WebSocket alive for 7 s, with every event delivered and no reconnect."""
    hub = Hub({"API_KEY": KEY, "TOKEN_SECRET": "t" * 40, "TOKEN_EXPIRY_NOTICE": "2", "TOKEN_LEEWAY": "0"},
              name="pyclient-tokens")
    collector = None
    try:
        admin = Client(hub.url, api_key=KEY)
        minted = []

        def refresh():
            minted.append(admin.mint_token("dash", ["tok-*"], ["subscribe"], ttl=3)["token"])
            return minted[-1]
        collector = Collector(hub.url, "tok-1", token=refresh(), refresh_token=refresh, after=0)
        for i in range(14):
            admin.publish("tok-1", "t", {"key": i})
            time.sleep(0.5)  # pacing: publications spread over the tokens' short lives
        assert collector.wait_for(lambda: len(collector.events()) == 14, 5)
        assert [e.seq for e in collector.events()] == list(range(1, 15))
        assert collector.sub.refreshes >= 2 and collector.sub.reconnects == 0, collector.statuses
        assert collector.client.token == minted[-1]
    finally:
        if collector:
            collector.close()
        hub.stop()


def run_cli(*args, env=None, timeout=30):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "switchboard", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=tempfile.gettempdir())


def test_cli_publish_and_tail():
    hub = Hub({"API_KEY": KEY}, name="pyclient-cli")
    env = {"SWITCHBOARD_URL": hub.url, "SWITCHBOARD_API_KEY": KEY}
    try:
        for i in range(3):
            out = run_cli("publish", "cli-1", "step", json.dumps({"data": {"n": i}}), env=env)
            assert out.returncode == 0, out.stderr
            answer = json.loads(out.stdout)
            assert answer["success"] and answer["seq"] == i + 1 and answer["sessionId"] == "cli-1"
        tail = subprocess.Popen([sys.executable, "-m", "switchboard", "tail", "cli-1", "--from", "2", "--count", "3",
                                 "--url", hub.url, "--api-key", KEY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=tempfile.gettempdir(), env={k: v for k, v in os.environ.items()
                                                                          if not k.startswith("SWITCHBOARD_")})
        wait_subscriptions(hub, 1, headers={"x-api-key": KEY}, timeout=20)  # the tail is subscribed: "late" is live
        assert run_cli("publish", "cli-1", "late", env=env).returncode == 0
        stdout, stderr = tail.communicate(timeout=20)
        assert tail.returncode == 0, stderr
        lines = [json.loads(line) for line in stdout.splitlines()]
        assert [(m["type"], m["seq"]) for m in lines] == [("event", 2), ("event", 3), ("event", 4)]
        assert lines[0]["payload"]["data"] == {"n": 1} and lines[2]["payload"]["type"] == "late"
        assert all(m["sessionId"] == "cli-1" and m["epoch"] for m in lines)

        # Without --count a tail runs until stopped; SIGTERM ends it with status 0.
        live = subprocess.Popen([sys.executable, "-m", "switchboard", "tail", "cli-1", "--from", "4", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                                env={**os.environ, **env})
        assert json.loads(live.stdout.readline())["seq"] == 4
        live.send_signal(signal.SIGTERM)
        rest, stderr = live.communicate(timeout=10)
        assert live.returncode == 0 and rest == "" and stderr == "", (live.returncode, stderr)

        refused = run_cli("publish", "cli-1", "step", env={"SWITCHBOARD_URL": hub.url,
                                                           "SWITCHBOARD_API_KEY": "wrong-key-0123456789"})
        assert refused.returncode == 1 and json.loads(refused.stderr)["status"] == 401
        bad = run_cli("publish", "cli-1", "step", "[1]", env=env)
        assert bad.returncode == 2
        history = Client(hub.url, api_key=KEY).history("cli-1").events
        assert [e.type for e in history] == ["step", "step", "step", "late"]
    finally:
        hub.stop()


def test_over_native_tls_rest_websocket_and_sse():
    """https:// gives TLS to REST, wss:// and the SSE stream alike, verified against the
    test's own CA (and refused without it)."""
    import shutil
    from tls_certs import ThrowawayPKI
    from test_tls import TLSHub
    if not shutil.which("openssl"):
        pytest.fail("openssl CLI not installed (Scripts/test.sh installs it)")
    pki = ThrowawayPKI()
    cert, key, _ = pki.leaf("pyclient")
    hub = TLSHub(pki, cert, key, env={"API_KEY": KEY})
    try:
        client = Client(hub.url, api_key=KEY, ssl_context=pki.context())
        assert [client.publish("tls-1", "t", {"key": i}).seq for i in range(3)] == [1, 2, 3]
        for transport in ("websocket", "sse"):
            with client.subscribe("tls-1", after=1, transport=transport) as sub:
                assert [sub.get(timeout=10).seq for _ in range(2)] == [2, 3]
                assert sub.subscription.transport == transport
        untrusted = Client(hub.url, api_key=KEY, retry=RetryPolicy(deadline=5))
        started = time.monotonic()
        with pytest.raises(SwitchboardError) as failed:
            untrusted.publish("tls-1", "t")
        assert "CERTIFICATE_VERIFY_FAILED" in str(failed.value) and not isinstance(failed.value, RetryDeadlineExceeded)
        assert time.monotonic() - started < 2, "a certificate failure is final, not retried"
        with untrusted.subscribe("tls-1", after=0) as sub, pytest.raises(SwitchboardError) as failed:
            sub.get(timeout=10)
        assert "CERTIFICATE_VERIFY_FAILED" in str(failed.value)
    finally:
        hub.stop()
        shutil.rmtree(pki.dir, ignore_errors=True)
