"""Redis Cluster (issue 23): two real switchboard instances on a real 3-master, 3-replica
cluster (`redis_cluster.RedisCluster`). Every REST route works; each session's keys share one
slot (hash tag `afw:{id}:…`); events reach the other instance over sharded Pub/Sub (SPUBLISH /
SSUBSCRIBE), and the classic `afw:events` channel is not published to unless asked."""
import asyncio
import json
import re
import time

import pytest
import websockets

from conftest import Hub, request
from redis_cluster import RedisCluster, redis_cluster  # noqa: F401  (fixture)

TS = "2026-11-24T12:00:00Z"


def Instance(cluster, name, extra=None):
    env = {"REDIS_CLUSTER_NODES": cluster.seeds, "INSTANCE_ID": name, "THREADS": "2", "SHUTDOWN_TIMEOUT": "5",
           "LOG_LEVEL": "info", **(extra or {})}
    if cluster.tls:
        # Every node speaks only TLS (clients, replication and the cluster bus).
        env.update({"REDIS_URL": "rediss://127.0.0.1", "REDIS_TLS_CA_FILE": cluster.tls.ca})
    return Hub(env, name=name, wait=None)


@pytest.fixture(params=["tcp", "tls"])
def any_cluster(request, redis_tls):
    cluster = RedisCluster(tls=redis_tls if request.param == "tls" else None)
    yield cluster
    cluster.stop()


def started(cluster, count=2, extra=None):
    instances = [Instance(cluster, f"cluster-{i}", extra) for i in range(count)]
    for instance in instances:
        assert instance.wait_ready(), instance.log_text()
    return instances


def command_calls(cluster, name):
    """How often `name` ran on every live node (INFO commandstats; scripts' calls count)."""
    total = 0
    for node in cluster.live():
        match = re.search(rf"cmdstat_{name}:calls=(\d+)", node.cli("INFO", "commandstats"))
        total += int(match.group(1)) if match else 0
    return total


def test_every_rest_route_and_cross_instance_delivery(any_cluster):
    cluster = any_cluster
    a, b = started(cluster)
    try:
        ids = [f"cl-{i}" for i in range(8)]
        slots = {int(cluster.nodes[0].cli("CLUSTER", "KEYSLOT", i)) for i in ids}
        owners = {cluster.master_of(i).port for i in ids}
        assert len(owners) >= 2, f"the sessions spread over masters ({owners})"

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{b.port}/ws") as ws:
                await asyncio.wait_for(ws.recv(), 5)
                for i in ids:
                    await ws.send(json.dumps({"type": "subscribe", "sessionId": i}))
                    confirmed = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert confirmed["type"] == "subscription_confirmed", confirmed
                for i in ids:
                    status, body = await asyncio.to_thread(request, a, "POST", "/api/sessions", {"id": i, "cwd": "/w"})
                    assert status == 201, body
                # One batch over every session (several slots, so several scripts), then singles.
                batch = [{"sessionId": i, "type": "t", "timestamp": TS, "n": 1} for i in ids]
                status, body = await asyncio.to_thread(request, a, "POST", "/api/events", batch)
                assert status == 201 and body["count"] == len(ids), body
                assert [r["seq"] for r in body["results"]] == [1] * len(ids)
                for i in ids:
                    status, body = await asyncio.to_thread(request, a, "POST", "/api/events",
                                                           {"sessionId": i, "type": "t", "timestamp": TS, "n": 2})
                    assert (status, body["seq"]) == (201, 2), body
                got = {i: [] for i in ids}
                deadline = time.time() + 10
                while any(len(v) < 2 for v in got.values()) and time.time() < deadline:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if message.get("type") == "event":
                        got[message["sessionId"]].append(message["seq"])
                assert got == {i: [1, 2] for i in ids}, "every event reached the other instance once, in order"

        asyncio.run(scenario())

        # Every key of a session is on the master of its slot, named with the hash tag.
        for i in ids[:3]:
            owner = cluster.master_of(i)
            keys = sorted(owner.cli("KEYS", f"afw:{{{i}}}:*").split())
            assert f"afw:{{{i}}}:events" in keys and f"afw:{{{i}}}:sessions" in keys and f"afw:{{{i}}}:seq" in keys, keys
        assert len(slots) == len(ids)

        # Reads, from the other instance.
        status, body = request(b, "GET", f"/api/events/{ids[0]}")
        assert status == 200 and [e["seq"] for e in body["events"]] == [1, 2]
        status, body = request(b, "GET", f"/api/events/{ids[0]}?after=1")
        assert [e["seq"] for e in body["events"]] == [2]
        status, body = request(b, "GET", f"/api/events/{ids[0]}/recent?limit=1&seconds=31536000")
        assert status == 200 and [e["seq"] for e in body["events"]] == [2], body
        status, body = request(b, "GET", f"/api/sessions/{ids[1]}")
        assert status == 200 and body["id"] == ids[1]
        status, body = request(b, "GET", "/api/sessions")
        assert status == 200 and sorted(s["id"] for s in body["sessions"]) == sorted(ids), body
        assert {s["id"]: s["lastSeq"] for s in body["sessions"]} == {i: 2 for i in ids}
        status, body = request(b, "PUT", f"/api/sessions/{ids[1]}", {"status": "completed"})
        assert status == 200 and body["status"] == "completed"

        # Idempotency: the same key answers the first append.
        first = request(a, "POST", "/api/events", {"sessionId": ids[2], "type": "t", "timestamp": TS}, {"Idempotency-Key": "k-1"})
        again = request(b, "POST", "/api/events", {"sessionId": ids[2], "type": "t", "timestamp": TS}, {"Idempotency-Key": "k-1"})
        assert first[0] == 201 and again[0] == 200 and again[1]["duplicate"] and again[1]["seq"] == first[1]["seq"] == 3

        # Chains: added on one instance, listed and read by id on the other.
        status, chain = request(a, "POST", f"/api/sessions/{ids[3]}/chains", {"name": "c"})
        assert status == 201, chain
        chain_id = chain["id"]
        status, body = request(b, "GET", f"/api/sessions/{ids[3]}/chains")
        assert status == 200 and [c["id"] for c in (body.get("chains") if isinstance(body, dict) else body)] == [chain_id], body
        status, body = request(b, "GET", f"/api/chains/{chain_id}")
        assert status == 200 and body["id"] == chain_id, body
        assert request(b, "GET", "/api/chains/no-such-chain")[0] == 404

        # Commands and input: pushed, drained once, acknowledged once.
        status, body = request(a, "POST", f"/api/sessions/{ids[4]}/commands", {"type": "pause"})
        assert status == 201, body
        command_id = body["commandId"]
        status, body = request(b, "GET", f"/api/sessions/{ids[4]}/commands")
        assert status == 200 and body["count"] == 1
        assert request(b, "GET", f"/api/sessions/{ids[4]}/commands")[1]["count"] == 0
        assert request(b, "POST", f"/api/commands/{command_id}/ack", {"result": "ok"})[0] == 200
        assert request(b, "POST", "/api/commands/no-such-command/ack", {})[0] == 404
        assert request(a, "POST", f"/api/sessions/{ids[5]}/input", {"input": "x"})[0] == 201
        status, body = request(b, "GET", f"/api/sessions/{ids[5]}/input")
        assert status == 200 and body["count"] == 1

        # DELETE tells the truth, and the session leaves the listing.
        assert request(b, "DELETE", f"/api/sessions/{ids[3]}")[0] == 204
        assert request(a, "DELETE", f"/api/sessions/{ids[3]}")[0] == 404
        assert request(a, "GET", f"/api/chains/{chain_id}")[0] == 404, "its chains went with it"
        assert ids[3] not in [s["id"] for s in request(a, "GET", "/api/sessions")[1]["sessions"]]
        assert request(a, "DELETE", "/api/sessions/never-was")[0] == 404

        # Both instances' heartbeats (the registry shares the tag {instances}), within a few beats.
        deadline = time.time() + 15
        while True:
            status, body = request(a, "GET", "/api/stats")
            seen = {i["instanceId"] for i in body["instances"]}
            if status == 200 and seen >= {"cluster-0", "cluster-1"} or time.time() > deadline:
                break
            time.sleep(0.5)
        assert status == 200 and seen >= {"cluster-0", "cluster-1"}, body["instances"]

        # Sharded Pub/Sub only: nothing went to the classic channel.
        assert command_calls(cluster, "spublish") >= 2 * len(ids)
        assert command_calls(cluster, "publish") == 0, "the classic channel is off by default"
        if cluster.tls:
            logs = a.log_text() + b.log_text()
            assert "rediss://" in logs and "redis TLS failed" not in logs
        for instance in (a, b):
            assert instance.stop() == 0
    finally:
        a.stop()
        b.stop()


def test_the_classic_channel_is_published_when_asked(redis_cluster):
    (a,) = started(redis_cluster, 1, {"REDIS_CLUSTER_CLASSIC_CHANNEL": "true"})
    try:
        before = command_calls(redis_cluster, "publish")
        assert request(a, "POST", "/api/events", {"sessionId": "classic", "type": "t", "timestamp": TS})[0] == 201
        assert command_calls(redis_cluster, "publish") == before + 1
        assert a.stop() == 0
    finally:
        a.stop()


def test_cluster_settings_are_checked_at_start():
    for env, words in [({"REDIS_CLUSTER_NODES": "127.0.0.1:notaport"}, "REDIS_CLUSTER_NODES"),
                       ({"REDIS_CLUSTER_NODES": "127.0.0.1:7000", "REDIS_SENTINELS": "127.0.0.1:26379",
                         "REDIS_SENTINEL_MASTER": "m"}, "exclude each other"),
                       ({"REDIS_CLUSTER_NODES": "127.0.0.1:7000", "REDIS_URL": "redis://127.0.0.1/2"}, "database 0")]:
        hub = Hub(env, wait=None)
        assert hub.proc.wait(timeout=10) == 64, hub.log_text()
        assert words in hub.log_text(), hub.log_text()


def test_migrate_copies_a_standalone_redis_into_the_cluster_layout(redis_cluster):
    """`switchboard migrate`: a standalone Redis written by a running instance is copied into
    the cluster; an instance on the cluster then serves the same sessions, histories, chains,
    queues, command records and idempotency records, and continues each stream in its epoch. A
    second run copies nothing and changes nothing."""
    from redis_server import RedisServer
    import subprocess
    from conftest import binary
    source = RedisServer()
    old = Hub({"REDIS_URL": source.url, "INSTANCE_ID": "old"}, wait="/ready")
    new = None
    try:
        ids = [f"mig-{i}" for i in range(5)]
        for i in ids:
            assert request(old, "POST", "/api/sessions", {"id": i, "cwd": "/w"})[0] == 201
            for n in range(3):
                assert request(old, "POST", "/api/events", {"sessionId": i, "type": "t", "timestamp": TS, "n": n})[0] == 201
        first = request(old, "POST", "/api/events", {"sessionId": ids[0], "type": "t", "timestamp": TS}, {"Idempotency-Key": "mk"})
        assert first[0] == 201 and first[1]["seq"] == 4
        status, chain = request(old, "POST", f"/api/sessions/{ids[1]}/chains", {"name": "c"})
        assert status == 201
        status, command = request(old, "POST", f"/api/sessions/{ids[2]}/commands", {"type": "pause"})
        assert status == 201
        assert request(old, "POST", f"/api/sessions/{ids[3]}/input", {"input": "x"})[0] == 201
        epochs = {i: request(old, "GET", f"/api/events/{i}")[1] for i in ids}
        assert old.stop() == 0

        def migrate(*extra):
            out = subprocess.run([binary(), "migrate", "--from", source.url, "--to-cluster", redis_cluster.seeds, *extra],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            return out.stdout.strip()

        dry = migrate("--dry-run")
        assert dry.startswith("would copy 5 sessions"), dry
        assert sum(int(n.cli("DBSIZE")) for n in redis_cluster.masters()) == 0, "a dry run writes nothing"
        done = migrate()
        print(f"\n{dry}\n{done}")
        assert done.startswith("copied 5 sessions") and ", 0 already in the cluster" in done, done
        again = migrate()
        assert again.startswith("copied 5 sessions: 0 keys,") and "already in the cluster" in again, again

        new = Instance(redis_cluster, "new")
        assert new.wait_ready(), new.log_text()
        status, body = request(new, "GET", "/api/sessions")
        assert sorted(s["id"] for s in body["sessions"]) == ids
        for i in ids:
            assert request(new, "GET", f"/api/events/{i}")[1]["events"] == epochs[i]["events"]
        again = request(new, "POST", "/api/events", {"sessionId": ids[0], "type": "t", "timestamp": TS}, {"Idempotency-Key": "mk"})
        assert again[0] == 200 and again[1]["duplicate"] and again[1]["seq"] == 4
        status, body = request(new, "POST", "/api/events", {"sessionId": ids[1], "type": "t", "timestamp": TS})
        assert (status, body["seq"]) == (201, 4), "the stream goes on where it was"
        assert request(new, "GET", f"/api/chains/{chain['id']}")[0] == 200
        assert request(new, "GET", f"/api/sessions/{ids[2]}/commands")[1]["count"] == 1
        assert request(new, "POST", f"/api/commands/{command['commandId']}/ack", {"result": "ok"})[0] == 200
        assert request(new, "GET", f"/api/sessions/{ids[3]}/input")[1]["count"] == 1
        assert new.stop() == 0
    finally:
        old.stop()
        if new:
            new.stop()
        source.stop()
