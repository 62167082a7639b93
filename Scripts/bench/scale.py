"""scale: the inputs of the capacity model in REDIS_INTEGRATION.md ("A million connections").

fanout: one instance on one Redis: deliveries/s, instance CPU per delivery, Redis CPU and Redis
  command time (INFO commandstats) per event.
bus: the CPU an instance spends on a channel message for a session it has no subscriber for.
idle: RSS per idle subscribed connection at several counts (5k, 10k and 19k: a process here may
  open 20,000 files) and the slope between the first and last point, with the kernel's
  socket-buffer memory per connection from /proc/net/sockstat.
instances: 1, 2 and 4 instances on one and on two shards (REDIS_URL list): deliveries/s, the ratio
  to one instance, Redis CPU per event, and the share of channel messages an instance receives
  for sessions it has no subscriber for (switchboard_bus_messages_*).

The load generator shares the machine: compare figures only within one run, and say what machine
it was."""
import os

from .common import (HZ, RedisServer, commandstats, cpu_ticks, fanout_args, heading, need, note, redis_cpu, stop,
                     switchboard, table, wsload)

def run(part, opts, records, sb_bin):
    need({"redis-server": "redis-server", "redis-cli": "redis-tools"})
    with open("/proc/meminfo") as f:
        mem_gib = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 1048576
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    note(f"scale-model inputs: {os.cpu_count()} cores, {mem_gib:.1f} GiB, loadavg {load}, THREADS={opts.scale_threads}, "
            f"REDIS_CHANNEL_MODE={opts.channel_mode}, {opts.duration} s runs")
    for name in PARTS if part == "all" else (part,):
        MEASURES[name](opts, records, sb_bin)


def instance(opts, sb_bin, redis_url):
    return switchboard(sb_bin, {"THREADS": str(opts.scale_threads), "REDIS_URL": redis_url,
                                "REDIS_CHANNEL_MODE": opts.channel_mode}, name="scale", wait="/ready")


def redis_usec(server):
    """Microseconds Redis spent in commands (INFO commandstats), INFO itself excluded."""
    return sum(usec for name, (_, usec) in commandstats(server).items() if name != "info")


def run_fanout(opts, sub_hubs, pub_hub):
    return wsload(*fanout_args([f"ws://127.0.0.1:{h.port}/ws" for h in sub_hubs], pub_hub.url, opts.subs,
                               opts.sessions, opts.size), "--duration", opts.duration)[0]


def measure_fanout(opts, records, sb_bin):
    """One instance, one Redis: delivery throughput and the CPU each delivery and each event costs."""
    server = RedisServer()
    hub = instance(opts, sb_bin, server.url)
    try:
        t0, u0, c0 = cpu_ticks(hub.proc.pid), redis_usec(server), redis_cpu(server)
        out = run_fanout(opts, [hub], hub)
        t1, u1, c1 = cpu_ticks(hub.proc.pid), redis_usec(server), redis_cpu(server)
    finally:
        stop(hub)
        server.stop()
    delivered, posted = out["delivered"], max(out["posted"], 1)
    cpu_s = (t1 - t0) / HZ
    row = {"deliveries_per_s": round(out["deliveries_per_s"]), "delivered": delivered, "events_posted": out["posted"],
           "lost": out["lost"], "p99_ms": out["lat_p99_ms"], "instance_cpu_s": round(cpu_s, 2),
           "instance_cpu_us_per_delivery": round(cpu_s * 1e6 / max(delivered, 1), 3),
           "redis_command_us_per_event": round((u1 - u0) / posted, 2),
           "redis_cpu_us_per_event": round((c1 - c0) * 1e6 / posted, 2)}
    records.add("fanout_1_instance", **row)
    heading(f"one instance on one Redis: {opts.subs} subscribers, {opts.sessions} sessions, {opts.size}-byte events")
    table(["input", "measured"], [
        ["deliveries/s (1 instance, 1 Redis)", f"{row['deliveries_per_s']:,} (p99 {row['p99_ms']} ms, lost {row['lost']})"],
        ["instance CPU per delivery", f"{row['instance_cpu_us_per_delivery']} µs"],
        ["Redis command time per event (commandstats)", f"{row['redis_command_us_per_event']} µs"],
        ["Redis process CPU per event (INFO cpu)", f"{row['redis_cpu_us_per_event']} µs"]])


def measure_bus(opts, records, sb_bin):
    """What a channel message costs an instance that has no subscriber for it: two instances,
    every subscriber and the publisher on A; B receives every event and delivers none."""
    server = RedisServer()
    a, b = instance(opts, sb_bin, server.url), instance(opts, sb_bin, server.url)
    name = "switchboard_bus_messages_without_subscriber_total"
    try:
        t0, m0 = cpu_ticks(b.proc.pid), b.metric(name)
        out = run_fanout(opts, [a], a)
        t1, m1 = cpu_ticks(b.proc.pid), b.metric(name)
    finally:
        stop(a)
        stop(b)
        server.stop()
    messages, cpu_s = int(m1 - m0), (t1 - t0) / HZ
    # The metric counts events: a channel message carrying several events (group commit,
    # REDIS_CHANNEL_BATCH=on) counts each, so this is the cost per event, as the model uses it.
    row = {"events_posted": out["posted"], "messages_without_subscriber": messages, "idle_instance_cpu_s": round(cpu_s, 2),
           "cpu_us_per_unwanted_message": round(cpu_s * 1e6 / max(messages, 1), 2)}
    records.add("bus_cost", **row)
    heading("a second instance that receives every event and delivers none")
    table(["input", "measured"], [["CPU per bus event without a subscriber",
                                   f"{row['cpu_us_per_unwanted_message']} µs ({messages:,} events, {cpu_s:.2f} CPU-s)"]])


def sockstat_tcp_pages():
    """/proc/net/sockstat "TCP … mem N": pages of socket buffers of every TCP socket on the machine."""
    with open("/proc/net/sockstat") as f:
        fields = next(line for line in f if line.startswith("TCP:")).split()
    return int(fields[fields.index("mem") + 1])


def measure_idle(opts, records, sb_bin):
    """RSS per idle subscribed connection at several counts; the slope between the first and last
    point is what the model extrapolates (fixed costs cancel out). Both ends of every socket are
    local, so half of the kernel's socket-buffer growth is the server's (other load on the machine
    adds noise)."""
    server = RedisServer()
    rows, points = [], []
    try:
        for n in opts.scale_idle:
            hub = instance(opts, sb_bin, server.url)
            try:
                k0 = sockstat_tcp_pages()
                out = wsload("idle", "--url", f"ws://127.0.0.1:{hub.port}/ws", "--conns", n, "--sessions", 100,
                             "--hold", 3, "--pid", hub.proc.pid)[0]
                k1 = sockstat_tcp_pages()
                refused = [line for line in hub.log_text().splitlines() if "connection refused" in line]
            finally:
                stop(hub)
            if refused:
                note(f"   (the instance refused connections at {n}: {refused[0][:160]})")
            est = out["established"]
            kernel = max(k1 - k0, 0) * 4096 / 2 / max(est, 1)
            points.append((est, out["rss_after_kb"]))
            records.add("idle_rss", connections=n, established=est, rss_before_kb=out["rss_before_kb"],
                        rss_after_kb=out["rss_after_kb"], rss_per_conn_bytes=out["rss_per_conn_bytes"],
                        kernel_buffer_bytes_per_conn=round(kernel))
            rows.append([f"RSS per idle connection at {n:,}", f"{out['rss_per_conn_bytes']:,.0f} bytes ({est:,} established, RSS "
                         f"{out['rss_before_kb'] / 1024:.1f} → {out['rss_after_kb'] / 1024:.1f} MiB; kernel socket buffers "
                         f"≈ {kernel:,.0f} bytes)"])
    finally:
        server.stop()
    if len(points) >= 2:
        (e0, a0), (e1, a1) = points[0], points[-1]
        slope = (a1 - a0) * 1024 / max(e1 - e0, 1)
        records.add("idle_rss_slope", bytes_per_connection=round(slope))
        rows.append(["RSS slope between the first and last point", f"{slope:,.0f} bytes/connection"])
    heading("RSS per idle subscribed connection")
    table(["input", "measured"], rows)


def measure_instances(opts, records, sb_bin):
    """K instances on S shards: cross-instance delivery, Redis cost per event, unwanted messages.
    Subscribers spread over the instances, publisher on the first."""
    base_rate, rows = None, []
    for shards in opts.scale_shards:
        servers = [RedisServer() for _ in range(shards)]
        url_list = ",".join(s.url for s in servers)
        try:
            for k in opts.scale_instances:
                hubs = [instance(opts, sb_bin, url_list) for _ in range(k)]
                try:
                    c0, u0 = sum(map(redis_cpu, servers)), sum(map(redis_usec, servers))
                    out = run_fanout(opts, hubs, hubs[0])
                    c1, u1 = sum(map(redis_cpu, servers)), sum(map(redis_usec, servers))
                    bus = sum(h.metric("switchboard_bus_messages_total") for h in hubs)
                    unwanted = sum(h.metric("switchboard_bus_messages_without_subscriber_total") for h in hubs)
                finally:
                    for hub in hubs:
                        stop(hub)
                posted, rate = max(out["posted"], 1), out["deliveries_per_s"]
                base_rate = base_rate or rate
                row = {"shards": shards, "instances": k, "deliveries_per_s": round(rate),
                       "ratio_to_1_instance_1_shard": round(rate / base_rate, 2), "lost": out["lost"],
                       "p99_ms": out["lat_p99_ms"], "redis_cpu_us_per_event": round((c1 - c0) * 1e6 / posted, 2),
                       "redis_command_us_per_event": round((u1 - u0) / posted, 2), "bus_messages": int(bus),
                       "share_without_subscriber": round(unwanted / bus, 3) if bus else 0.0}
                records.add("instances", **row)
                rows.append([f"{k} instance(s), {shards} shard(s)", f"{row['deliveries_per_s']:,}", row["ratio_to_1_instance_1_shard"],
                             row["redis_cpu_us_per_event"], row["redis_command_us_per_event"],
                             f"{row['share_without_subscriber']:.2f}", row["lost"]])
        finally:
            for server in servers:
                server.stop()
    heading("K instances on S shards: subscribers spread over the instances, publisher on the first")
    table(["instances", "deliveries/s", "ratio", "Redis CPU/event µs", "Redis command µs/event", "unwanted share", "lost"], rows)


MEASURES = {"fanout": measure_fanout, "bus": measure_bus, "idle": measure_idle, "instances": measure_instances}
PARTS = tuple(MEASURES)
