"""A real redis-server on a free loopback port, stopped by PID: the one launcher of the suite.
The Python tests use `RedisServer`; the Swift tests (SBTestSupport's RedisTestServer) run this
file as a command:

    python3 redis_server.py [--appendonly] [-- redis-server arguments...]

It prints `{"port": ..., "pid": ...}` on a line once the server answers, then takes commands on
stdin, one a line, each answered on stdout: `kill SIGNAL` (answered `{"pid": 0}` once it exited)
and `start` (again on the same port and files; answered with the new pid). At EOF on stdin (the
test process ended, however) it stops the server by PID and removes its files."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from ports import free_port, listening

try:
    import pytest
except ImportError:  # run as a command by the Swift tests, where pytest may be absent
    pytest = None


class PortTaken(RuntimeError):
    """redis-server exited while starting: most likely another process bound its port first."""


def wait_for_pong(server, name, seconds=10):
    """Until `server.cli("PING")` answers PONG (or NOAUTH: a server with a password answers
    only that); RuntimeError after `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            answer = server.cli("PING")
            if "PONG" in answer or "NOAUTH" in answer:
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not start")


class RedisTLS:
    """A TLS redis-server's files: its certificate chain and key, the CA it trusts for client
    certificates (and that clients trust), whether it requires client certificates, and the
    client certificate redis-cli presents."""

    def __init__(self, cert, key, ca, auth_clients=False, client_cert=None, client_key=None):
        """`cert` is also the client certificate of replication and of Sentinel's links
        (`tls-replication yes`): it needs clientAuth besides serverAuth."""
        self.cert, self.key, self.ca = cert, key, ca
        self.auth_clients = auth_clients
        self.client_cert, self.client_key = client_cert, client_key


def cli_tls(tls):
    """redis-cli's TLS arguments for a server with these files (none for plain TCP)."""
    if not tls:
        return []
    args = ["--tls", "--cacert", tls.ca]
    if tls.client_cert:
        args += ["--cert", tls.client_cert, "--key", tls.client_key]
    return args


class RedisServer:
    def __init__(self, appendonly=False, extra_args=(), port=None, tls=None):
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server is not installed (Scripts/test.sh installs it)")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="switchboard-redis-")
        self.appendonly = appendonly
        self.extra_args = list(extra_args)
        self.tls = tls
        self.proc = None
        # A free port can be taken between the look-up and redis-server's bind (it then exits):
        # on a port of our choosing, try another.
        for attempt in range(5):
            try:
                self.start()
                break
            except PortTaken:
                if port is not None or attempt == 4:
                    raise
                self.port = free_port()

    def start(self):
        listen = ["--port", str(self.port)]
        if self.tls:
            # TLS only: the port speaks nothing else (as managed services run it).
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls.cert,
                      "--tls-key-file", self.tls.key, "--tls-ca-cert-file", self.tls.ca,
                      "--tls-auth-clients", "yes" if self.tls.auth_clients else "no", "--tls-replication", "yes"]
        args = ["redis-server", *listen, "--bind", "127.0.0.1", "--save", "", "--dir", self.dir,
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always", *self.extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Ours listening, not merely someone answering PING on the port.
        deadline = time.time() + 10
        while time.time() < deadline and self.proc.poll() is None and not listening(self.proc.pid, self.port):
            time.sleep(0.02)
        if self.proc.poll() is not None:
            raise PortTaken(f"redis-server exited at start on port {self.port} (status {self.proc.returncode})")
        wait_for_pong(self, "redis-server")

    @property
    def url(self):
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}"

    def cli(self, *args):
        out = subprocess.run(["redis-cli", *cli_tls(self.tls), "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def stop(self):
        self.kill(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    # `with RedisServer() as server:` stops it (by PID) however the block ends.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def redis_server():
    server = RedisServer()
    yield server
    server.stop()


if pytest:
    redis_server = pytest.fixture(redis_server)


class SentinelServer:
    """A real redis-sentinel (Debian `redis-sentinel`) on a free loopback port, watching one
    master as `name`, with short failover timings so a test stays bounded; stopped by PID."""

    def __init__(self, master_port, name="mymaster", quorum=2, down_after_ms=1000, failover_timeout_ms=3000, tls=None):
        binary = shutil.which("redis-sentinel")
        if not binary:
            raise RuntimeError("redis-sentinel is not installed (Scripts/test.sh installs it)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="switchboard-sentinel-")
        self.config = os.path.join(self.dir, "sentinel.conf")
        self.tls = tls
        listen = f"port {self.port}\n"
        if tls:
            # TLS only, to clients, to the masters and replicas, and to the other sentinels.
            listen = (f"port 0\ntls-port {self.port}\ntls-cert-file {tls.cert}\ntls-key-file {tls.key}\n"
                      f"tls-ca-cert-file {tls.ca}\ntls-auth-clients {'yes' if tls.auth_clients else 'no'}\ntls-replication yes\n")
        with open(self.config, "w") as f:
            f.write(f"{listen}bind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {name} {down_after_ms}\n"
                    f"sentinel failover-timeout {name} {failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {name} 1\n")
        self.proc = subprocess.Popen([binary, self.config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_pong(self, "redis-sentinel")

    def cli(self, *args):
        out = subprocess.run(["redis-cli", *cli_tls(self.tls), "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def master_port(self, name="mymaster"):
        lines = self.cli("SENTINEL", "get-master-addr-by-name", name).split()
        return int(lines[1]) if len(lines) == 2 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def serve(argv):
    """The command mode described at the top of this file."""
    appendonly = "--appendonly" in argv[: argv.index("--") if "--" in argv else len(argv)]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    server = RedisServer(appendonly=appendonly, extra_args=extra)
    try:
        print(json.dumps({"port": server.port, "pid": server.proc.pid}), flush=True)
        for line in sys.stdin:
            command = line.split()
            if command[:1] == ["kill"]:
                server.kill(int(command[1]))
                print(json.dumps({"pid": 0}), flush=True)
            elif command == ["start"]:
                server.start()
                print(json.dumps({"pid": server.proc.pid}), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    serve(sys.argv[1:])
