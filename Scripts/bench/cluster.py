"""cluster: Redis Cluster figures (issue 23, item 8), with the test suite's cluster launcher
(Tests/python/redis_cluster.py):

1. Fan-out on a 1-master and on a 3-master cluster (no replicas), two instances, sharded
   Pub/Sub, beside one standalone redis-server in REDIS_CHANNEL_MODE=session as the baseline:
   deliveries/s, latency and losses from `wsload fanout` (1000 subscribers over both
   instances, 10 sessions, 16 publisher connections), and Redis CPU per accepted event (the
   nodes' used_cpu_sys + used_cpu_user over the run, divided by the events the instances
   accepted).
2. Channel messages each instance receives, sharded against classic Pub/Sub, on one 3-master
   cluster: instance A accepts events for 100 sessions; instance B's clients watch 5 of them.
   Sharded: B's `switchboard_bus_messages_total`. Classic (`REDIS_CLUSTER_CLASSIC_CHANNEL=true`):
   what a subscriber of `<prefix>events` receives, which is what every instance received in the
   old design, and the cluster bus carries each classic message to every node."""
import json
import re
import subprocess
import threading
import time
import urllib.request

from .common import RedisServer, fanout_args, heading, need, note, stop, switchboard, table, wsload

from redis_cluster import RedisCluster  # noqa: E402  (Tests/python, on the path once .common is imported)

TS = "2026-11-24T12:00:00Z"


def cpu_seconds(cluster):
    total = 0.0
    for node in cluster.live():
        info = node.cli("INFO", "cpu")
        for name in ("used_cpu_sys", "used_cpu_user"):
            total += float(re.search(rf"^{name}:([0-9.]+)", info, re.M).group(1))
    return total


def metric(hub, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{hub.port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name) and not line.startswith("#"))


def instances(sb_bin, cluster, extra=None, count=2):
    where = {"REDIS_CLUSTER_NODES": cluster.seeds} if isinstance(cluster, RedisCluster) else \
        {"REDIS_URL": cluster.url, "REDIS_CHANNEL_MODE": "session"}
    hubs = [switchboard(sb_bin, {**where, "METRICS_PUBLIC": "true", **(extra or {})}, name=f"bench-cluster-{i}", wait=None)
            for i in range(count)]
    for hub in hubs:
        if not hub.wait_ready():
            raise RuntimeError(hub.log_text()[-4000:])
    return hubs


class Standalone(RedisServer):
    """One redis-server, for the baseline row (REDIS_CHANNEL_MODE=session)."""

    def live(self):
        return [self]


def fanout(sb_bin, masters, opts):
    """`masters` 0 = the standalone baseline."""
    cluster = RedisCluster(masters=masters, replicas=0) if masters else Standalone()
    hubs = []
    try:
        hubs = instances(sb_bin, cluster)
        accepted_before = sum(metric(h, "switchboard_events_accepted_total") for h in hubs)
        cpu_before = cpu_seconds(cluster)
        result = wsload(*fanout_args([f"ws://127.0.0.1:{h.port}/ws" for h in hubs], hubs[0].url, opts.subs, opts.sessions, 200),
                        "--pub-url", hubs[1].url, "--duration", opts.duration, "--pub-conns", 16)[0]
        cpu = cpu_seconds(cluster) - cpu_before
        accepted = sum(metric(h, "switchboard_events_accepted_total") for h in hubs) - accepted_before
        return {"masters": masters, "deliveries_per_s": result["deliveries_per_s"], "lat_p99_ms": result.get("lat_p99_ms"),
                "lost": result.get("lost"), "events_accepted": int(accepted),
                "redis_cpu_us_per_event": round(cpu * 1e6 / max(accepted, 1), 2)}
    finally:
        for hub in hubs:
            stop(hub)
        cluster.stop()


def post_events(hub, sessions, count):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    for n in range(count):
        body = json.dumps([{"sessionId": sessions[(n * 10 + k) % len(sessions)], "type": "t", "timestamp": TS}
                           for k in range(10)])
        conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
    conn.close()


def channel_messages(sb_bin, batches=200):
    """Events for 100 sessions accepted by A; B watches 5. Returns the counts."""
    import asyncio
    import websockets
    cluster = RedisCluster(masters=3, replicas=0)
    hubs = []
    try:
        hubs = instances(sb_bin, cluster, {"REDIS_CLUSTER_CLASSIC_CHANNEL": "true"})
        a, b = hubs
        sessions = [f"bench-msg-{i}" for i in range(100)]
        watched = sessions[:5]
        classic = subprocess.Popen(["redis-cli", "-p", str(cluster.nodes[1].port), "SUBSCRIBE", "afw:events"],
                                   stdout=subprocess.PIPE, text=True)
        counted = [0]

        def count_classic():
            for line in classic.stdout:
                if line.strip() == "message":
                    counted[0] += 1
        reader = threading.Thread(target=count_classic, daemon=True)
        reader.start()

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{b.port}/ws", max_size=None) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                for s in watched:
                    await ws.send(json.dumps({"type": "subscribe", "sessionId": s}))
                    await asyncio.wait_for(ws.recv(), 5)
                before = metric(b, "switchboard_bus_messages_total")
                await asyncio.to_thread(post_events, a, sessions, batches)
                await asyncio.sleep(2)
                return metric(b, "switchboard_bus_messages_total") - before

        received_sharded = asyncio.run(scenario())
        time.sleep(1)
        classic.kill()
        classic.wait()
        return {"events": batches * 10, "sessions": len(sessions), "watched_on_b": len(watched),
                "b_received_sharded": int(received_sharded), "classic_subscriber_received": counted[0]}
    finally:
        for hub in hubs:
            stop(hub)
        cluster.stop()


def run(opts, records, sb_bin):
    need({"redis-server": "redis-server", "redis-cli": "redis-tools"})
    rows = []
    for masters in (0, 1, 3):
        row = fanout(sb_bin, masters, opts)
        records.add("cluster_fanout", **row)
        rows.append([row["masters"], f"{row['deliveries_per_s']:.0f}", row["lat_p99_ms"], row["lost"], row["events_accepted"],
                     row["redis_cpu_us_per_event"]])
    m = channel_messages(sb_bin)
    records.add("cluster_channel_messages", **m)
    heading(f"Redis Cluster fan-out: two instances, {opts.subs} subscribers, {opts.sessions} sessions, 16 publisher connections, "
            "sharded Pub/Sub")
    note("(masters 0: one standalone redis-server, REDIS_CHANNEL_MODE=session, the baseline)\n")
    table(["masters", "deliveries/s", "p99 ms", "lost", "events", "Redis CPU us/event"], rows)
    heading("Channel messages an instance receives: 3 masters, events for 100 sessions, the instance watches 5")
    note(f"events accepted {m['events']}: sharded Pub/Sub, instance B received {m['b_received_sharded']}; "
         f"classic channel, a subscriber received {m['classic_subscriber_received']}")
