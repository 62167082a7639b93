"""A bounded chaos run (about 60 s; CHAOS_SECONDS to change): two instances behind a real nginx
on one redis-server (AOF, fsync always); subscribers that reconnect at random through nginx
with lastEventId and epoch; publishers that retry with Idempotency-Key until acknowledged;
Redis SIGKILLed and restarted on its AOF twice, one instance SIGKILLed and restarted once.

At the end every subscriber has every acknowledged event exactly once and in order, and no
event is stored twice. The counts are printed (Scripts/chaos.sh shows them). The run is made
twice: with Redis on plain TCP, and with Redis speaking only TLS (`rediss://`, issue 22)."""
import asyncio
import http.client
import json
import os
import random
import signal
import time

import pytest
import websockets

from conftest import Hub, free_port
from nginx_server import Nginx
from redis_server import RedisServer

TS = "2026-11-24T12:00:00Z"
SESSIONS = ["chaos-a", "chaos-b", "chaos-c"]


def Instance(redis_url, port, name, extra=None):
    """An instance behind nginx; the test waits for it (and SIGKILLs and restarts it)."""
    return Hub({"REDIS_URL": redis_url, "INSTANCE_ID": name, "SHUTDOWN_TIMEOUT": "5", "LOG_LEVEL": "warning", **(extra or {})},
               port=port, name=name, wait=None)


def get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, decode(resp.read())
    finally:
        conn.close()


def decode(data):
    """The hub answers JSON; while an instance is down nginx answers POSTs itself with an HTML
    502 page (it does not retry a non-idempotent request on the other upstream): that is a
    failed attempt, which the publisher retries, not a broken answer."""
    try:
        return json.loads(data or b"null")
    except ValueError:
        return data.decode(errors="replace")


def post(port, path, body, headers, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        return resp.status, decode(resp.read())
    finally:
        conn.close()


class Subscriber:
    """Tracks, per session, the epoch and every seq received; reconnects at random."""

    def __init__(self, index, port, rng):
        self.index, self.port, self.rng = index, port, rng
        self.received = {s: [] for s in SESSIONS}   # seqs in arrival order
        self.epochs = {s: set() for s in SESSIONS}
        self.last = {s: 0 for s in SESSIONS}
        self.epoch = {s: None for s in SESSIONS}
        self.duplicates = 0
        self.out_of_order = 0
        self.reconnects = 0
        self.not_recovered = 0

    async def connect_once(self, stop_at, quiet_until):
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=3, max_size=None) as ws:
            await asyncio.wait_for(ws.recv(), 3)
            for s in SESSIONS:
                message = {"type": "subscribe", "sessionId": s, "lastEventId": self.last[s]}
                if self.epoch[s]:
                    message["epoch"] = self.epoch[s]
                await ws.send(json.dumps(message))
            deadline = min(stop_at, time.time() + self.rng.uniform(2, 6)) if quiet_until is None else quiet_until
            while time.time() < deadline:
                try:
                    raw = await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.time()))
                except asyncio.TimeoutError:
                    break
                self.handle(json.loads(raw))

    def handle(self, message):
        kind = message.get("type")
        s = message.get("sessionId")
        if kind == "subscription_confirmed" and s in SESSIONS:
            payload = message["payload"]
            if not payload["recovered"]:
                self.not_recovered += 1
            self.epoch[s] = payload["epoch"]
            self.epochs[s].add(payload["epoch"])
        elif kind == "event" and s in SESSIONS:
            seq = message["seq"]
            if seq <= self.last[s]:
                self.duplicates += 1
            elif seq != self.last[s] + 1:
                self.out_of_order += 1
            self.received[s].append((seq, message["payload"]["key"]))
            self.last[s] = max(self.last[s], seq)

    async def run(self, stop_at):
        while time.time() < stop_at:
            try:
                await self.connect_once(stop_at, None)
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                await asyncio.sleep(0.2)  # a client's pause before it reconnects
            self.reconnects += 1

    async def catch_up(self, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                await self.connect_once(deadline, deadline)
                return
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                await asyncio.sleep(0.2)  # a client's pause before it reconnects


class Publisher:
    def __init__(self, index, port, rng):
        self.index, self.port, self.rng = index, port, rng
        self.acknowledged = {}  # key -> (session, seq)
        self.retries = 0
        self.duplicate_answers = 0

    def publish(self, n, stop_at):
        key = f"p{self.index}-{n}"
        session = self.rng.choice(SESSIONS)
        body = {"sessionId": session, "type": "chaos", "timestamp": TS, "key": key}
        while time.time() < stop_at:
            try:
                status, answer = post(self.port, "/api/events", body, {"Idempotency-Key": key}, timeout=3)
            except OSError:
                status, answer = 0, None
            if status in (200, 201):
                if status == 200:
                    self.duplicate_answers += 1
                self.acknowledged[key] = (session, answer["seq"])
                return True
            self.retries += 1
            time.sleep(0.1)  # a publisher's pause before it retries
        return False

    async def run(self, stop_at):
        n = 0
        while time.time() < stop_at:
            await asyncio.to_thread(self.publish, n, stop_at + 20)
            n += 1
            await asyncio.sleep(self.rng.uniform(0.005, 0.03))  # pacing: an irregular flow


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_chaos_every_acknowledged_event_delivered_exactly_once_in_order(transport, redis_tls):
    seconds = float(os.environ.get("CHAOS_SECONDS", "60"))
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "20261130")))
    tls = redis_tls if transport == "tls" else None
    redis = RedisServer(appendonly=True, tls=tls)
    extra = {"REDIS_TLS_CA_FILE": tls.ca} if tls else {}
    assert redis.url.startswith("rediss://" if tls else "redis://")
    instances = [Instance(redis.url, free_port(), f"chaos-{i}", extra) for i in range(2)]
    nginx = None
    try:
        for instance in instances:
            assert instance.wait_ready(), f"{instance.name} not ready"
        nginx = Nginx([i.port for i in instances])
        subscribers = [Subscriber(i, nginx.port, random.Random(rng.random())) for i in range(6)]
        publishers = [Publisher(i, nginx.port, random.Random(rng.random())) for i in range(2)]
        chaos_log = []

        async def chaos(start):
            async def at(fraction):
                await asyncio.sleep(max(0.0, start + seconds * fraction - time.time()))  # the schedule of failures
            for fraction, action in [(0.2, "redis"), (0.45, "instance"), (0.7, "redis")]:
                await at(fraction)
                if action == "redis":
                    redis.kill(signal.SIGKILL)
                    chaos_log.append(f"{time.time() - start:.1f}s redis SIGKILL")
                    await asyncio.sleep(2)  # the outage
                    await asyncio.to_thread(redis.start)
                    chaos_log.append(f"{time.time() - start:.1f}s redis restarted on its AOF")
                else:
                    instances[0].kill()
                    chaos_log.append(f"{time.time() - start:.1f}s instance 0 SIGKILL")
                    await asyncio.sleep(2)  # the outage
                    instances[0].start()
                    chaos_log.append(f"{time.time() - start:.1f}s instance 0 restarted")

        async def scenario():
            start = time.time()
            stop_at = start + seconds
            await asyncio.gather(chaos(start), *(s.run(stop_at) for s in subscribers), *(p.run(stop_at) for p in publishers))
            for instance in instances:
                assert await asyncio.to_thread(instance.wait_ready), f"{instance.name} ready after the run"
            await asyncio.gather(*(s.catch_up(8) for s in subscribers))

        asyncio.run(scenario())

        acknowledged = {}
        for p in publishers:
            acknowledged.update(p.acknowledged)
        stored = {}
        stored_twice = 0
        for s in SESSIONS:
            status, listing = get(instances[1].port, f"/api/events/{s}?limit=10000", timeout=10)
            assert status == 200
            for event in listing["events"]:
                if event["key"] in stored:
                    stored_twice += 1
                stored[event["key"]] = (s, event["seq"])
        lost_from_store = [k for k, where in acknowledged.items() if stored.get(k) != where]
        lost = duplicates = out_of_order = 0
        delivered = 0
        for sub in subscribers:
            duplicates += sub.duplicates
            out_of_order += sub.out_of_order
            got = {key: (s, seq) for s in SESSIONS for seq, key in sub.received[s]}
            delivered += sum(len(sub.received[s]) for s in SESSIONS)
            lost += sum(1 for k, where in acknowledged.items() if got.get(k) != where)
            for s in SESSIONS:
                assert len(sub.epochs[s]) <= 1, f"the AOF kept the data: one epoch per session, saw {sub.epochs[s]}"
        print(f"\nchaos run over {transport} ({seconds:.0f} s, {len(subscribers)} subscribers, {len(publishers)} publishers): "
              f"{'; '.join(chaos_log)}")
        print(f"chaos: acknowledged {len(acknowledged)}, stored {len(stored)}, stored twice {stored_twice}, "
              f"delivered {delivered} (= {len(subscribers)} x acknowledged: {len(subscribers) * len(acknowledged)}), "
              f"duplicates {duplicates}, out of order {out_of_order}, lost {lost}, "
              f"publisher retries {sum(p.retries for p in publishers)}, repeats answered 200 {sum(p.duplicate_answers for p in publishers)}, "
              f"reconnects {sum(s.reconnects for s in subscribers)}")
        assert len(acknowledged) > 100, "the run published something"
        assert lost_from_store == [], f"acknowledged but not stored as answered: {lost_from_store[:5]}"
        assert stored_twice == 0
        assert set(stored) == set(acknowledged), "nothing stored that was not acknowledged in the end"
        assert duplicates == 0 and out_of_order == 0 and lost == 0
        assert delivered == len(subscribers) * len(acknowledged)
    finally:
        if nginx:
            nginx.stop()
        for instance in instances:
            instance.stop()
        redis.stop()
