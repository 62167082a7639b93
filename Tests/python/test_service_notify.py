"""systemd's readiness protocol (issue 27, item 2), spoken without libsystemd: with NOTIFY_SOCKET
set to a datagram socket of this test's own, a real switchboard sends READY=1 once it listens
(with Redis: only once Redis is reachable and subscribed), RELOADING=1 then READY=1 around a
SIGHUP reload, and STOPPING=1 when SIGTERM starts the drain — on a socket path and on an abstract
name ('@…')."""
import os
import signal
import socket
import tempfile
import time

import pytest

from conftest import Hub, free_port, request
from redis_server import RedisServer


class NotifySocket:
    """An AF_UNIX datagram socket the hub is told to notify (as systemd's own)."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"switchboard-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="sb-notify-")
            path = os.path.join(self.dir, "notify.sock")
            self.sock.bind(path)
            self.env_value = path

    def receive(self, timeout=10):
        """The next message as {KEY: value}; None when none came within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        return dict(line.split("=", 1) for line in data.decode().split("\n") if line)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_reloading_stopping(abstract):
    notify = NotifySocket(abstract=abstract)
    hub = Hub({"NOTIFY_SOCKET": notify.env_value})
    try:
        ready = notify.receive()
        assert ready is not None and ready["READY"] == "1", ready
        assert ready["STATUS"] == f"listening on 127.0.0.1:{hub.port}, storage=memory", ready
        assert hub.get("/ready")[0] == 200

        # SIGHUP (systemd's ExecReload): RELOADING=1 with the monotonic time, then READY=1;
        # the process keeps serving.
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        hub.proc.send_signal(signal.SIGHUP)
        reloading = notify.receive()
        assert reloading is not None and reloading["RELOADING"] == "1", reloading
        assert before <= int(reloading["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        again = notify.receive()
        assert again == {"READY": "1", "STATUS": "reloaded"}, again
        assert hub.proc.poll() is None and hub.get("/health")[0] == 200
        assert "SIGHUP: nothing to reload" in hub.log_text()

        hub.proc.send_signal(signal.SIGTERM)
        stopping = notify.receive()
        assert stopping == {"STOPPING": "1"}, stopping
        assert hub.proc.wait(timeout=20) == 0
        assert notify.receive(timeout=0.5) is None, "nothing after STOPPING=1"
    finally:
        hub.stop()
        notify.close()


def test_without_notify_socket_sighup_keeps_its_default():
    """Not under systemd (and no TLS to reload): SIGHUP still ends the process, as before."""
    hub = Hub()
    hub.proc.send_signal(signal.SIGHUP)
    assert hub.proc.wait(timeout=10) == -signal.SIGHUP


def test_with_redis_ready_waits_for_redis():
    notify = NotifySocket()
    port = free_port()
    hub = Hub({"NOTIFY_SOCKET": notify.env_value, "REDIS_URL": f"redis://127.0.0.1:{port}"}, wait="/health")
    server = None
    try:
        assert notify.receive(timeout=2) is None, "READY=1 before Redis is reachable"
        assert request(hub, "GET", "/ready")[0] == 503
        server = RedisServer(port=port)
        ready = notify.receive(timeout=20)
        assert ready is not None and ready["READY"] == "1", ready
        assert ready["STATUS"].endswith("storage=redis"), ready
        assert hub.get("/ready")[0] == 200
        hub.proc.send_signal(signal.SIGTERM)
        assert notify.receive() == {"STOPPING": "1"}
        assert hub.proc.wait(timeout=20) == 0
    finally:
        hub.stop()
        if server:
            server.stop()
        notify.close()
