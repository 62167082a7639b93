"""Fixtures: a real switchboard process on a free loopback port, stopped by PID."""
import asyncio
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from ports import free_port, listening  # noqa: F401 (the tests import them from here too)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary():
    path = os.environ.get("SWITCHBOARD_BIN") or os.path.join(ROOT, ".build", "debug", "switchboard")
    if not os.access(path, os.X_OK):
        pytest.skip("switchboard binary not built")
    return path


def request(hub, method, path, body=None, headers=None, raw=None):
    """One HTTP request on a fresh connection: (status, the JSON body parsed — None when empty —
    or the raw bytes when the answer is not JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    if resp.getheader("Content-Type", "").startswith("application/json"):
        return resp.status, (json.loads(payload) if payload else None)
    return resp.status, payload


def stop_process(proc, timeout=15):
    """SIGTERM (a graceful drain), SIGKILL if it outlasts `timeout`; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_until(predicate, timeout=10, step=0.05, what="condition"):
    """The first truthy value of `predicate()` within `timeout` seconds; AssertionError naming
    `what` after that."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_until_async(predicate, timeout=10, step=0.05, what="condition"):
    """`wait_until` inside a coroutine: `predicate` runs in a thread, so the event loop (and the
    clients whose progress it waits for) keeps running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def wait_subscriptions(hub, count, headers=None, timeout=10):
    """Until the hub holds exactly `count` subscriptions (its `switchboard_subscriptions`)."""
    wait_until(lambda: hub.metric("switchboard_subscriptions", headers) == count, timeout,
               what=f"{count} subscriptions on {hub.name}")


async def recv_json(ws, timeout=10):
    """The next WebSocket message, parsed."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def expect_close(ws, code, timeout=5):
    """The server closes `ws` with `code` before sending anything else."""
    import websockets
    try:
        await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == code, closed
    else:
        raise AssertionError(f"expected the connection to close with {code}")


async def recv_type(ws, kind, timeout=10):
    """The next message of this type, skipping others."""
    deadline = time.time() + timeout
    while True:
        message = await recv_json(ws, max(deadline - time.time(), 0.01))
        if message["type"] == kind:
            return message


class Hub:
    """One switchboard process on a free (or the given) loopback port, stopped by PID. Its
    environment is this one without what a developer's shell may carry (keys, Redis, origins),
    plus `env`. It waits until `wait` answers 200 (None: not at all; the caller polls
    `wait_ready`). `name` tags the log file. `executable` runs another server taking the same
    `--host`/`--port` arguments instead of the switchboard under test (a baseline build or a peer
    hub, for Scripts/bench.py). `launcher` runs it through a command that ends in `exec "$@"`
    (a shell that lowers `ulimit -n` first, say). Every test and benchmark that starts a
    switchboard process starts it here."""

    SCRUBBED = ("REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "API_KEY", "AFW_API_KEY", "ALLOWED_ORIGINS")

    def __init__(self, env=None, port=None, name="hub", wait="/health", timeout=20, executable=None, launcher=()):
        self.port = port or free_port()
        self.executable = executable
        self.name = name
        self.env = dict(env or {})
        self.launcher = list(launcher)
        self.log = tempfile.NamedTemporaryFile(prefix=f"switchboard-py-{name}-", suffix=".log", delete=False)
        self.proc = None
        self.start()
        # A free port can be taken between the look-up and the server's bind (it then exits
        # with EADDRINUSE): on a port of our choosing, try another.
        for _ in range(4):
            if port is not None or not self._exited_port_in_use():
                break
            self.proc.wait()
            self.port = free_port()
            self.start()
        if wait is not None and not self.wait_ready(timeout, path=wait):
            self.stop()
            raise RuntimeError(f"switchboard {name} did not answer {wait}:\n{self.log_text()[-4000:]}")

    def _exited_port_in_use(self, seconds=10):
        """Waits until this process listens on its port or exits; True when it exited because
        the port was taken."""
        deadline = time.time() + seconds
        while time.time() < deadline and self.proc.poll() is None and not self._listening():
            time.sleep(0.02)
        if self.proc.poll() is None:
            return False
        log = self.log_text()
        # Switchboard names the port; other servers (Scripts/bench.py's peers) print errno 98's text.
        return f"{self.port}) (is another process listening" in log or "address already in use" in log.lower()

    def _listening(self):
        return listening(self.proc.pid, self.port)

    def start(self):
        """(Re)starts the process on the same port and log (after `kill` or `stop`)."""
        full_env = dict(os.environ)
        for key in self.SCRUBBED:
            full_env.pop(key, None)
        full_env.update(self.env)
        self.proc = subprocess.Popen([*self.launcher, self.executable or binary(), "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=self.log, stderr=self.log, env=full_env, cwd=tempfile.gettempdir())

    def wait_ready(self, seconds=20, path="/ready"):
        """True once `path` answers 200 within `seconds`."""
        deadline = time.time() + seconds
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if self.get(path)[0] == 200:
                    return True
            except (OSError, ValueError):  # not listening yet; 503 (urllib raises HTTPError, an OSError)
                pass
            time.sleep(0.05)
        return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null")

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())

    def metric(self, name, headers=None):
        """An unlabelled series from /metrics (0 when absent); needs METRICS_PUBLIC, no key or
        the key in `headers`."""
        _, text = request(self, "GET", "/metrics", headers=headers)
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def kill(self):
        """SIGKILL: no drain (a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        return stop_process(self.proc)


@pytest.fixture
def hub():
    h = Hub()
    yield h
    assert h.stop() == 0


@pytest.fixture(scope="module")
def redis_tls():
    """One throwaway CA and a server certificate that is also a client certificate (replication,
    Sentinel's links): the files for the TLS variant of a Redis test, removed afterwards."""
    import shutil
    from redis_server import RedisTLS
    from tls_certs import ThrowawayPKI
    pki = ThrowawayPKI()
    cert, key = pki.leaf_with("redis", usage="serverAuth,clientAuth")
    yield RedisTLS(cert, key, pki.ca)
    shutil.rmtree(pki.dir, ignore_errors=True)
