"""Client-side sharding on real processes: three redis-servers as shards (REDIS_URL with three
URLs), three switchboard instances, 300 sessions. Events, commands, input, chains and acks work
whichever instance is asked; listing is complete; every session lives on the shard an
independent jump-hash implementation (below) names; subscribers hear events from every shard.
SIGKILL one shard: only its sessions answer 503, the others are untouched, and after its
restart (AOF) its sessions answer again with their data. Then `switchboard reshard` moves the
sessions onto four shards and an instance with the new list finds every one of them."""
import asyncio
import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import websockets

from conftest import Hub, binary, request, wait_until, wait_until_async
from redis_server import RedisServer

TS = "2026-11-30T12:00:00Z"
SESSIONS = [f"shard-s{i:03d}" for i in range(300)]
MASK = (1 << 64) - 1


def fnv1a(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) & MASK
    return h


def jump(key, buckets):
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(session, count):
    return jump(fnv1a(session), count)


def Instance(redis_url, name):
    """An instance on the shard list `redis_url`, ready."""
    return Hub({"INSTANCE_ID": name, "SHUTDOWN_TIMEOUT": "5", "LOG_LEVEL": "warning", "THREADS": "1", "REDIS_URL": redis_url},
               name=name, wait="/ready")


def exercise(instances, i, session):
    """Every per-session route, each step through another instance; returns what was made."""
    a, b, c = instances[i % 3], instances[(i + 1) % 3], instances[(i + 2) % 3]
    status, _ = request(a, "POST", "/api/sessions", {"id": session, "cwd": "/w"})
    assert status == 201
    status, answer = request(b, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS, "n": i})
    assert status == 201 and answer["seq"] == 1, answer
    status, answer = request(c, "POST", f"/api/sessions/{session}/commands", {"type": "pause"})
    assert status == 201, answer
    command_id = answer["commandId"]
    status, _ = request(a, "POST", f"/api/sessions/{session}/input", {"input": f"hello {i}"})
    assert status == 201
    status, answer = request(b, "POST", f"/api/sessions/{session}/chains", {"name": "c"})
    assert status == 201, answer
    chain_id = answer.get("id") or answer.get("chain", {}).get("id")
    status, answer = request(c, "POST", f"/api/commands/{command_id}/ack", {"result": "ok"})
    assert status == 200 and answer["acknowledged"] is True, answer
    status, answer = request(a, "GET", f"/api/chains/{chain_id}")
    assert status == 200, answer
    status, answer = request(b, "GET", f"/api/sessions/{session}/commands")
    assert status == 200 and answer["count"] == 1 and answer["commands"][0]["id"] == command_id, answer
    status, answer = request(c, "GET", f"/api/sessions/{session}/input")
    assert status == 200 and answer["count"] == 1, answer
    status, answer = request(a, "GET", f"/api/events/{session}")
    assert status == 200 and [e["n"] for e in answer["events"]] == [i], answer
    return command_id


async def listen(port, sessions, received, until, confirmed):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        for s in sessions:
            await ws.send(json.dumps({"type": "subscribe", "sessionId": s}))
        while time.time() < until:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.3))
            except asyncio.TimeoutError:
                continue
            if message.get("type") == "subscription_confirmed":
                confirmed.append(message["sessionId"])
            if message.get("type") in ("event", "command", "input"):
                received.append((message["type"], message["sessionId"]))


def test_three_shards_route_every_session_and_a_down_shard_fails_only_its_own():
    shards = [RedisServer(appendonly=True) for _ in range(3)]
    fourth = None
    instances = []
    try:
        url_list = ",".join(s.url for s in shards)
        instances = [Instance(url_list, f"shard-{i}") for i in range(3)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: exercise(instances, *p), enumerate(SESSIONS)))

        # Placement: each session's keys are on the shard an independent jump hash names.
        for index, shard in enumerate(shards):
            members = set(shard.cli("ZRANGE", "afw:sessions:index", "0", "-1").split())
            expected = {s for s in SESSIONS if shard_of(s, 3) == index}
            assert members == expected, f"shard {index} holds exactly its sessions"
            assert 60 <= len(expected) <= 140, f"jump hash spreads the sessions ({len(expected)} on shard {index})"
            for s in list(expected)[:10]:
                assert shard.cli("LLEN", f"afw:events:{s}") == "1"

        # Listing merges all shards, on every instance.
        for instance in instances:
            status, answer = request(instance, "GET", "/api/sessions")
            assert status == 200 and sorted(x["id"] for x in answer["sessions"]) == SESSIONS

        # Live delivery crosses shards: a subscriber on instance 0 hears events, commands and
        # input published through the others, for sessions on every shard.
        watched = [s for k in range(3) for s in [x for x in SESSIONS if shard_of(x, 3) == k][:5]]
        received, confirmed = [], []

        async def live():
            until = time.time() + 4
            task = asyncio.create_task(listen(instances[0].port, watched, received, until, confirmed))
            await wait_until_async(lambda: len(confirmed) == len(watched), 3, what="every subscription confirmed")
            for n, s in enumerate(watched):
                await asyncio.to_thread(request, instances[1 + n % 2], "POST", "/api/events",
                                        {"sessionId": s, "type": "t", "timestamp": TS})
                await asyncio.to_thread(request, instances[1 + n % 2], "POST", f"/api/sessions/{s}/commands", {"type": "resume"})
                await asyncio.to_thread(request, instances[1 + n % 2], "POST", f"/api/sessions/{s}/input", {"input": "x"})
            await task

        asyncio.run(live())
        assert sorted(received) == sorted((kind, s) for s in watched for kind in ("event", "command", "input"))

        # One shard dies: only its sessions answer 503; the others never notice.
        down = 1
        shards[down].kill(signal.SIGKILL)
        on_down = [s for s in SESSIONS if shard_of(s, 3) == down]
        wait_until(lambda: all(request(i, "GET", f"/api/events/{on_down[0]}")[0] == 503 for i in instances),
                   what="every instance to see the shard down")
        others = [s for s in SESSIONS if shard_of(s, 3) != down]

        def probe(s):
            status, _ = request(instances[SESSIONS.index(s) % 3], "GET", f"/api/events/{s}")
            post, _ = request(instances[(SESSIONS.index(s) + 1) % 3], "POST", "/api/events",
                              {"sessionId": s, "type": "t", "timestamp": TS})
            return status, post

        with ThreadPoolExecutor(8) as pool:
            results = dict(zip(SESSIONS, pool.map(probe, SESSIONS)))
        assert all(results[s] == (503, 503) for s in on_down), "the down shard's sessions answer 503"
        assert all(results[s] == (200, 201) for s in others), "every other session still works"
        for instance in instances:
            assert request(instance, "GET", "/ready")[0] == 200, "a down shard does not take instances out of the balancer"
            assert request(instance, "GET", "/api/sessions")[0] == 503, "an incomplete listing is refused, not served"

        shards[down].start()
        deadline = time.time() + 15   # each instance reconnects on its own backoff (at most 3 s)
        while time.time() < deadline and any(request(i, "GET", f"/api/events/{on_down[0]}")[0] != 200 for i in instances):
            time.sleep(0.2)
        for s in on_down:
            status, answer = request(instances[2], "GET", f"/api/events/{s}")
            assert status == 200 and answer["events"][0]["n"] == SESSIONS.index(s), "back after the restart, with its data (AOF)"

        # The shard list grows to four: reshard moves about a quarter of the sessions, then an
        # instance with the new list finds every session, its history, chains and command.
        for instance in instances:
            assert instance.stop() == 0
        instances = []
        fourth = RedisServer(appendonly=True)
        new_list = url_list + "," + fourth.url
        expected_moves = sum(1 for s in SESSIONS if shard_of(s, 4) != shard_of(s, 3))
        dry = subprocess.run([binary(), "reshard", "--from", url_list, "--to", new_list, "--dry-run"],
                             capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0 and f"would move {expected_moves} sessions" in dry.stdout, dry.stdout + dry.stderr
        moved = subprocess.run([binary(), "reshard", "--from", url_list, "--to", new_list],
                               capture_output=True, text=True, timeout=120)
        assert moved.returncode == 0 and f"moved {expected_moves} sessions" in moved.stdout, moved.stdout + moved.stderr
        assert all(shard_of(s, 4) in (shard_of(s, 3), 3) for s in SESSIONS), "jump hash only moves sessions to the new shard"
        assert set(fourth.cli("ZRANGE", "afw:sessions:index", "0", "-1").split()) == {s for s in SESSIONS if shard_of(s, 4) == 3}
        after = Instance(new_list, "shard-after")
        instances = [after]
        status, answer = request(after, "GET", "/api/sessions")
        assert status == 200 and sorted(x["id"] for x in answer["sessions"]) == SESSIONS
        for s in SESSIONS:
            status, answer = request(after, "GET", f"/api/events/{s}")
            assert status == 200 and answer["events"][0]["n"] == SESSIONS.index(s), (s, answer)
            status, answer = request(after, "GET", f"/api/sessions/{s}")
            assert status == 200 and len(answer["chains"]) == 1, (s, answer)
        print(f"\nsharding: 300 sessions on 3 shards ({[sum(1 for s in SESSIONS if shard_of(s, 3) == k) for k in range(3)]}); "
              f"{len(on_down)} answered 503 with shard {down} down, {len(others)} unaffected; "
              f"reshard to 4 moved {expected_moves}")
        assert after.stop() == 0
    finally:
        for instance in instances:
            instance.stop()
        for shard in shards + ([fourth] if fourth else []):
            shard.stop()
