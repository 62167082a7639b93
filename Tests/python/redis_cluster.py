"""A real Redis Cluster on loopback: `redis-server --cluster-enabled yes` processes joined by
`redis-cli --cluster create` (3 masters, 1 replica each by default), stopped by PID.

Cluster nodes also listen on port + 10000 (the cluster bus), so their ports come from 20000-55000
with both ports free."""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from redis_server import cli_tls, wait_for_pong


def cluster_port():
    """A port p with p and p + 10000 free on 127.0.0.1 (the node and its cluster bus)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class ClusterNode:
    def __init__(self, tls=None, node_timeout_ms=2000):
        self.port = cluster_port()
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="switchboard-cluster-")
        self.node_timeout_ms = node_timeout_ms
        self.proc = None
        self.start()

    def start(self):
        listen = ["--port", str(self.port)]
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls.cert,
                      "--tls-key-file", self.tls.key, "--tls-ca-cert-file", self.tls.ca,
                      "--tls-auth-clients", "yes" if self.tls.auth_clients else "no",
                      "--tls-replication", "yes", "--tls-cluster", "yes"]
        args = ["redis-server", *listen, "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
                "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms), "--repl-diskless-sync-delay", "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_pong(self, "redis-server (cluster node)")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def cli(self, *args, timeout=10):
        out = subprocess.run(["redis-cli", *cli_tls(self.tls), "-p", str(self.port), *args],
                             capture_output=True, text=True, timeout=timeout)
        return out.stdout.strip()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    def __init__(self, masters=3, replicas=1, tls=None, node_timeout_ms=2000):
        for tool in ("redis-server", "redis-cli"):
            if not shutil.which(tool):
                pytest.fail(f"{tool} is not installed (Scripts/test.sh installs it)")
        self.tls = tls
        self.node_timeout_ms = node_timeout_ms
        self.nodes = []
        try:
            self.nodes = [ClusterNode(tls, node_timeout_ms) for _ in range(masters * (1 + replicas))]
            if masters == 1 and replicas == 0:
                # redis-cli --cluster create wants 3 masters: one node takes every slot itself.
                self.nodes[0].cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
            else:
                self.admin("--cluster", "create", *[n.address for n in self.nodes], "--cluster-replicas", str(replicas),
                           "--cluster-yes")
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    def admin(self, *args, timeout=120):
        """redis-cli --cluster …; raises with its output when it fails."""
        out = subprocess.run(["redis-cli", *cli_tls(self.tls), *args], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args[:2])} failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
        return out.stdout

    @property
    def seeds(self):
        return ",".join(n.address for n in self.nodes[:3])

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def masters(self):
        return [n for n in self.live() if "role:master" in n.cli("INFO", "replication")]

    def master_of(self, key):
        """The live node that serves `key`'s slot, as the nodes themselves say."""
        slot = int(self.live()[0].cli("CLUSTER", "KEYSLOT", key))
        for node in self.masters():
            if self.owns(node, slot):
                return node
        return None

    def owns(self, node, slot):
        for line in node.cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                for part in fields[8:]:
                    if part.startswith("["):
                        continue
                    low, _, high = part.partition("-")
                    if int(low) <= slot <= int(high or low):
                        return True
        return False

    def wait_ok(self, seconds=30):
        """Until every live node says cluster_state:ok and agrees on all 16384 slots."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            infos = [n.cli("CLUSTER", "INFO") for n in self.live()]
            if all("cluster_state:ok" in i and "cluster_slots_ok:16384" in i for i in infos):
                return
            time.sleep(0.2)
        raise RuntimeError(f"cluster not ok: {[n.cli('CLUSTER', 'INFO')[:80] for n in self.live()]}")

    def add_master(self):
        """A new, empty master joined to the cluster (no slots yet)."""
        node = ClusterNode(self.tls, self.node_timeout_ms)
        self.nodes.append(node)
        self.admin("--cluster", "add-node", node.address, self.nodes[0].address)
        deadline = time.time() + 20
        while time.time() < deadline:
            known = [n.cli("CLUSTER", "NODES").count("\n") + 1 for n in self.live()]
            if all(k == len(self.live()) for k in known):
                # The new node serves MIGRATE only once it sees the cluster whole.
                self.wait_ok()
                return node
            time.sleep(0.2)
        raise RuntimeError("the new node was not learnt by every node")

    def rebalance(self):
        """Moves slots (and their keys) onto empty masters too; returns its duration in seconds."""
        started = time.time()
        self.admin("--cluster", "rebalance", self.nodes[0].address, "--cluster-use-empty-masters", timeout=300)
        return time.time() - started

    def stop(self):
        for node in self.nodes:
            node.stop()


@pytest.fixture
def redis_cluster():
    cluster = RedisCluster()
    yield cluster
    cluster.stop()
