"""THREADS above 64 on real processes: with THREADS=100 and subscribers on every one of the
100 event loops (memory store, Redis in both REDIS_CHANNEL_MODEs), each subscriber gets every
event exactly once.

Connections reach a loop through SO_REUSEPORT (the kernel hashes each connection to one of the
loops' listeners), so which loop a client lands on is not chosen here: subscribers are opened
in batches until the process's own epoll sets (/proc/<pid>/fdinfo) show one on every loop. Each
loop has its own epoll holding its listener; a subscriber's server-side socket is found by its
inode (/proc/net/tcp) in one of them. Up to THREADS=64 every loop was told; from loop 64 on,
`1 << index` was 0 and those subscribers never received anything."""
import asyncio
import json
import os
import resource

import pytest
import websockets

from conftest import Hub, request
from redis_server import RedisServer

THREADS = 100
EVENTS = 3
TS = "2026-11-30T12:00:00Z"


def listening_inodes(port):
    """Inodes of the sockets listening on 127.0.0.1:port (state 0A)."""
    found = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == "0A" and int(local.split(":")[1], 16) == port:
                found.add(inode)
    return found


def server_side_inodes(port, client_ports):
    """client port -> inode of the server's socket of that connection."""
    wanted = set(client_ports)
    found = {}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in wanted:
                found[int(remote.split(":")[1], 16)] = inode
    return found


def epoll_sets(pid):
    """{epoll fd: set of the inodes it watches} for every epoll instance of the process."""
    sets = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                inodes = {int(word.split(":")[1], 16) for line in f if line.startswith("tfd:")
                          for word in line.split() if word.startswith("ino:")}
        except OSError:
            continue
        sets[int(fd)] = inodes
    return sets


def loops_covered(hub, client_ports):
    """(number of event loops, number of them holding at least one of the clients)."""
    listeners = listening_inodes(hub.port)
    loops = [inodes for inodes in epoll_sets(hub.proc.pid).values() if inodes & listeners]
    clients = set(server_side_inodes(hub.port, client_ports).values())
    return len(loops), sum(1 for inodes in loops if inodes & clients)


async def fan_out(hub, session):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    clients = []
    try:
        # Batches until every loop has a subscriber (about 500 connections for 100 loops).
        while True:
            batch = await asyncio.gather(*[websockets.connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None)
                                           for _ in range(200)])
            for ws in batch:
                await asyncio.wait_for(ws.recv(), 10)  # subscription_confirmed (the welcome)
                await ws.send(json.dumps({"type": "subscribe", "sessionId": session}))
            clients += batch
            loops, covered = loops_covered(hub, [ws.local_address[1] for ws in clients])
            assert loops == THREADS, f"{loops} event loops found in /proc, THREADS={THREADS}"
            if covered == THREADS:
                break
            assert len(clients) < 4000, f"{len(clients)} connections reached only {covered} of {THREADS} loops"
        # Every subscribe confirmed before the events go out.
        for ws in clients:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("type") == "subscription_confirmed" and message.get("sessionId") == session:
                    break
        for _ in range(EVENTS):
            status, answer = await asyncio.to_thread(
                request, hub, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS})
            assert status == 201, answer

        async def collect(ws):
            seqs = []
            try:
                while len(seqs) < EVENTS + 1:  # one more than expected: a duplicate would show
                    message = json.loads(await asyncio.wait_for(ws.recv(), 3 if len(seqs) < EVENTS else 0.5))
                    if message.get("type") == "event":
                        seqs.append(message["seq"])
            except asyncio.TimeoutError:
                pass
            return seqs

        received = await asyncio.gather(*[collect(ws) for ws in clients])
        wrong = [seqs for seqs in received if seqs != list(range(1, EVENTS + 1))]
        assert not wrong, f"{len(wrong)} of {len(clients)} subscribers did not get events 1..{EVENTS} once each: {wrong[:5]}"
        return len(clients)
    finally:
        await asyncio.gather(*[ws.close() for ws in clients], return_exceptions=True)


def run(env, session):
    hub = Hub({"THREADS": str(THREADS), "SHUTDOWN_TIMEOUT": "5", "MAX_SUBSCRIPTIONS_PER_CONNECTION": "10", **env},
              name="threads", wait="/ready")
    try:
        asyncio.run(fan_out(hub, session))
    finally:
        assert hub.stop() == 0


def test_threads_100_memory_store_every_loop_gets_every_event():
    run({}, "wide-memory")


@pytest.mark.parametrize("mode", ["shared", "session"])
def test_threads_100_redis_every_loop_gets_every_event(mode):
    redis = RedisServer()
    try:
        run({"REDIS_URL": redis.url, "REDIS_CHANNEL_MODE": mode}, f"wide-{mode}")
    finally:
        redis.stop()
