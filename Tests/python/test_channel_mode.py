"""REDIS_CHANNEL_MODE=session on real processes: each instance subscribes only to the channels
of the sessions its clients watch (afw:channel:<id>), events still go to afw:events for an old
backend, nothing arrives for sessions without a local subscriber, a subscriber that joins while
events flow misses none (the channel's confirmation triggers a read from history), channels
are let go when the last subscriber leaves, and a Redis restart is survived."""
import asyncio
import json
import signal
import socket
import threading
import time

import websockets

from conftest import Hub, request, wait_until, wait_until_async
from redis_server import RedisServer

TS = "2026-11-30T12:00:00Z"


def Instance(redis_url, name):
    """An instance in session channel mode, ready (its store and bus up)."""
    return Hub({"INSTANCE_ID": name, "SHUTDOWN_TIMEOUT": "5", "LOG_LEVEL": "info", "THREADS": "2",
                "REDIS_URL": redis_url, "REDIS_CHANNEL_MODE": "session"}, name=name, wait="/ready")


class LegacySubscriber(threading.Thread):
    """An old-backend stand-in: a raw RESP SUBSCRIBE to afw:events, counting messages."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$10\r\nafw:events\r\n")
        self.data = b""
        self.start()

    def run(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                self.data += chunk
        except OSError:
            return

    def messages(self):
        return self.data.count(b"$7\r\nmessage\r\n")


class Client:
    def __init__(self, port):
        self.port = port
        self.received = []   # (type, sessionId, seq or None)

    async def run(self, sessions, until, after_subscribe=None, from_start=True):
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", max_size=None) as ws:
            await asyncio.wait_for(ws.recv(), 5)
            for s in sessions:
                message = {"type": "subscribe", "sessionId": s}
                if from_start:
                    message["lastEventId"] = 0
                await ws.send(json.dumps(message))
            if after_subscribe:
                await after_subscribe(ws)
            while time.time() < until():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                except asyncio.TimeoutError:
                    continue
                if message.get("type") in ("event", "command", "input"):
                    self.received.append((message["type"], message["sessionId"], message.get("seq")))

    def seqs(self, session):
        return [seq for kind, s, seq in self.received if kind == "event" and s == session]


def post(instance, session, n=1):
    for _ in range(n):
        status, answer = request(instance, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS})
        assert status == 201, answer


def post_once_ready(instance, session, n=1, seconds=10):
    """`post`, retrying a 503 (which stores nothing) for `seconds`: after a Redis restart each
    event loop's connection comes back on its own backoff, and /ready answers for one loop only."""
    for _ in range(n):
        deadline = time.time() + seconds
        while True:
            status, answer = request(instance, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS})
            if status != 503 or time.time() > deadline:
                break
            time.sleep(0.05)
        assert status == 201, answer


def test_session_channels_carry_only_watched_sessions_and_lose_nothing():
    redis = RedisServer(appendonly=True)
    instances = []
    try:
        instances = [Instance(redis.url, f"chan-{i}") for i in range(2)]
        legacy = LegacySubscriber(redis.port)
        a, b, late = Client(instances[0].port), Client(instances[1].port), Client(instances[1].port)
        stop_at = [float("inf")]
        publishing = threading.Event()
        flow_done = threading.Event()

        def flow():
            # A steady stream into "flow" from instance 0 while `late` joins it on instance 1.
            publishing.set()
            for _ in range(300):
                post(instances[0], "flow")
            flow_done.set()

        async def scenario():
            tasks = [asyncio.create_task(a.run(["one"], lambda: stop_at[0])),
                     asyncio.create_task(b.run(["two"], lambda: stop_at[0]))]
            await wait_until_async(lambda: redis.cli("PUBSUB", "NUMSUB", "afw:channel:one").split()[1:] == ["1"]
                                   and redis.cli("PUBSUB", "NUMSUB", "afw:channel:two").split()[1:] == ["1"],
                                   what="both session channels subscribed")
            assert redis.cli("PUBSUB", "NUMSUB", "afw:channel:one").split() == ["afw:channel:one", "1"]
            assert redis.cli("PUBSUB", "NUMSUB", "afw:events").split() == ["afw:events", "1"], "only the legacy client"
            for s in ("one", "two", "nobody"):
                await asyncio.to_thread(post, instances[1], s, 5)
                await asyncio.to_thread(post, instances[0], s, 5)
            for i, s in enumerate(("one", "two")):
                status, _ = await asyncio.to_thread(request, instances[i], "POST", f"/api/sessions/{s}/commands", {"type": "pause"})
                assert status == 201
            thread = threading.Thread(target=flow)
            thread.start()
            await asyncio.to_thread(publishing.wait)
            await asyncio.sleep(0.05)  # pacing: `late` joins after the flow has begun
            # No lastEventId: it starts at the current last seq, so only live delivery (and the
            # read its channel's confirmation triggers) can bring it the rest.
            tasks.append(asyncio.create_task(late.run(["flow"], lambda: stop_at[0], from_start=False)))
            await asyncio.to_thread(flow_done.wait, 60)
            await wait_until_async(lambda: a.seqs("one")[-1:] == [10] and b.seqs("two")[-1:] == [10]
                                   and late.seqs("flow")[-1:] == [300], what="the last events delivered")
            stop_at[0] = time.time() + 1
            await asyncio.gather(*tasks)

        asyncio.run(scenario())
        assert a.seqs("one") == list(range(1, 11)) and b.seqs("two") == list(range(1, 11))
        assert ("command", "one", None) in a.received and ("command", "two", None) in b.received
        assert not [r for r in a.received if r[1] != "one"] and not [r for r in b.received if r[1] != "two"]
        got = late.seqs("flow")
        assert got and got[0] > 1 and got == list(range(got[0], 301)), \
            f"joined mid-stream (from seq {got[:1]}): every later event once, in order, none missed"
        for instance in instances:
            assert instance.metric("switchboard_bus_messages_without_subscriber_total") == 0, \
                "nothing arrives for sessions without a local subscriber"
        # Instance 0 watched only "one": it heard its 10 events and its command, nothing else.
        assert instances[0].metric("switchboard_bus_messages_total") == 11
        wait_until(lambda: legacy.messages() >= 30 + 2 + 300, what="the old backend's messages")
        assert legacy.messages() == 30 + 2 + 300, "afw:events still carries everything for an old backend"
        # The clients are gone: every channel is let go.
        deadline = time.time() + 5
        while time.time() < deadline and redis.cli("PUBSUB", "CHANNELS", "afw:channel:*"):
            time.sleep(0.1)
        assert redis.cli("PUBSUB", "CHANNELS", "afw:channel:*") == ""

        # A Redis restart: the channel is subscribed again and the gap filled from history.
        c = Client(instances[1].port)
        stop_at[0] = float("inf")

        async def restart():
            task = asyncio.create_task(c.run(["one"], lambda: stop_at[0]))
            await wait_until_async(lambda: redis.cli("PUBSUB", "NUMSUB", "afw:channel:one").split()[1:] == ["1"],
                                   what="the session channel subscribed")
            redis.kill(signal.SIGKILL)
            await asyncio.to_thread(redis.start)
            assert await asyncio.to_thread(instances[1].wait_ready), instances[1].log_text()
            await asyncio.to_thread(post_once_ready, instances[0], "one", 3)
            await wait_until_async(lambda: c.seqs("one")[-1:] == [13], what="the gap filled and the new events delivered")
            stop_at[0] = time.time()
            await task

        asyncio.run(restart())
        assert c.seqs("one") == list(range(1, 14)), c.seqs("one")
        for instance in instances:
            assert instance.stop() == 0
    finally:
        for instance in instances:
            instance.stop()
        redis.stop()
