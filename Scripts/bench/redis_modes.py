"""redis: fan-out on one memory-store instance against two instances sharing one Redis, POST
/api/events on a Redis-backed instance against the append script run directly, and what the
script costs Redis. redis-tls: Switchboard's Redis connections over plain TCP (redis://) and over
TLS (rediss://) to one redis-server listening on both; with a baseline also that build over plain
TCP, so "plain" can be compared with the previous build in the same run."""
import re
import shutil
import subprocess

from .common import (RedisServer, ThrowawayPKI, commandstats, fanout_args, free_port, heading, log,
                     median, need, note, ratio, redis_cpu, stop, switchboard, table, wrk, wsload)

REDIS_PACKAGES = {"redis-server": "redis-server", "redis-cli": "redis-tools", "redis-benchmark": "redis-tools", "wrk": "wrk"}
# One ~200-byte event for the append script, laid out as RedisScripts.appendEventsSource reads it:
# 4 keys for its session (no idempotency key: the event is not keyed); 10 fixed arguments (no
# session channel: those three empty), batch on, one session, no keyed event; then the session's
# id, event count and refresh '0' (lifetimes are refreshed about once a minute, so a steady
# publisher's call does not), and per event its body without the opening brace and its
# timestamp in ms.
BODY = ('{"eventId":"bench","sessionId":"rb","type":"bench","timestamp":"2026-11-24T12:00:00.000Z",'
        '"data":{"n":1,"pad":"' + "x" * 95 + '"}}')
APPEND_KEYS = ["afw:seq:rb", "afw:events:rb", "afw:times:rb", "afw:epoch:rb"]
APPEND_ARGS = ["10000", "86400", "afw:events", "2026-11-24T12:00:00.000Z", "000000000000000", "300", "1", "", "", "",
               "1", "1", "0", "rb", "1", "0", BODY[1:], "1764000000000"]


def fanout_pair(opts, sub_hubs, pub_hub):
    return wsload(*fanout_args([f"ws://127.0.0.1:{h.port}/ws" for h in sub_hubs], pub_hub.url, opts.subs, opts.sessions, 200),
                  "--duration", opts.duration, "--pub-conns", opts.redis_pub_conns)[0]


def redis(opts, records, sb_bin):
    """Publisher connections: one request in flight each, for both the memory and the Redis runs.
    With wsload's default of 4, the Redis run measures the POST round trip through Redis rather
    than what the bus can deliver."""
    need(REDIS_PACKAGES)
    server = RedisServer()
    try:
        heading(f"fan-out, memory vs two instances on one Redis: {opts.subs} subscribers, {opts.sessions} sessions, "
                f"{opts.redis_pub_conns} publisher connections; medians of {opts.rounds} interleaved rounds")
        rows, lines = [], []
        for threads in ("default", "1"):
            env = {"THREADS": "1"} if threads == "1" else {}
            memory = switchboard(sb_bin, env, name="bench-memory")
            shared = [switchboard(sb_bin, {**env, "REDIS_URL": server.url}, name=f"bench-redis-{i}", wait="/ready")
                      for i in range(2)]
            try:
                dps = {"memory": [], "redis": []}
                p99 = {"memory": [], "redis": []}
                lost = {"memory": 0, "redis": 0}
                for round_ in range(1, opts.rounds + 1):  # interleaved rounds, medians: one sample is noise
                    for kind, subs, pub in (("memory", [memory], memory), ("redis", shared, shared[0])):
                        out = fanout_pair(opts, subs, pub)
                        dps[kind].append(out["deliveries_per_s"])
                        p99[kind].append(out["lat_p99_ms"])
                        lost[kind] += out["lost"]
                        records.add("redis_fanout", threads=threads, store=kind, round=round_, **out)
                    log(f"  round {round_} THREADS={threads}: memory {dps['memory'][-1]:.0f}, redis {dps['redis'][-1]:.0f} deliveries/s")
                d1, d2 = median(dps["memory"]), median(dps["redis"])
                rows.append([f"THREADS={threads}: 1 instance, memory", f"{d1:.0f}", median(p99["memory"]), lost["memory"]])
                rows.append([f"THREADS={threads}: 2 instances, redis", f"{d2:.0f}", median(p99["redis"]), lost["redis"]])
                lines.append(f"THREADS={threads}: redis/memory ratio {ratio(d2, d1)} (medians of {opts.rounds} rounds)")
                records.add("redis_fanout_median", threads=threads, memory_deliveries_per_s=d1, redis_deliveries_per_s=d2,
                            memory_p99_ms=median(p99["memory"]), redis_p99_ms=median(p99["redis"]),
                            memory_lost=lost["memory"], redis_lost=lost["redis"])
                if threads == "default":
                    post_rows, post_lines = append_cost(opts, records, sb_bin, server, shared[0])
            finally:
                for hub in (memory, *shared):
                    stop(hub)
                server.cli("FLUSHALL")
        table(["scenario", "deliveries/s", "p99 ms", "lost"], rows)
        for line in lines:
            note(line)
        heading("POST /api/events on one Redis-backed instance (wrk -t1 -c64) vs the append script run directly "
                "(redis-benchmark -c 64)")
        table(["measure", "value"], post_rows)
        for line in post_lines:
            note(line)
    finally:
        server.stop()


def append_cost(opts, records, sb_bin, server, hub):
    """POST rate and Redis's cost per event (group commit: the appends of one loop turn share one
    script call), against redis-benchmark running the same EVALSHA directly; then the script's
    time against the commands it runs (commands called from a script are counted in commandstats
    too)."""
    server.cli("CONFIG", "RESETSTAT")
    cpu_before = redis_cpu(server)
    out = wrk(hub.url, opts.duration, post=True)
    cpu_after = redis_cpu(server)
    calls = commandstats(server).get("evalsha", (0, 0))[0]
    posted = max(out["requests"], 1)
    per_event = {"evalsha_per_event": round(calls / posted, 3), "redis_cpu_us_per_event": round((cpu_after - cpu_before) * 1e6 / posted, 2)}
    script = subprocess.run([sb_bin, "redis-script", "appendEvents"], check=True, capture_output=True, text=True).stdout
    sha = server.cli("SCRIPT", "LOAD", script)
    server.cli("CONFIG", "RESETSTAT")
    bench = subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", "64", "-n", "300000", "-q", "EVALSHA", sha,
                            str(len(APPEND_KEYS)), *APPEND_KEYS, *APPEND_ARGS], capture_output=True, text=True, timeout=600).stdout
    rates = re.findall(r"([0-9.]+) requests per second", bench.replace("\r", "\n"))
    direct = float(rates[-1]) if rates else None
    stats = commandstats(server)
    script_calls, script_usec = stats.get("evalsha", (0, 0))
    commands = sum(usec for name, (_, usec) in stats.items() if name != "evalsha" and "|" not in name)
    script_us, commands_us = script_usec / max(script_calls, 1), commands / max(script_calls, 1)
    records.add("redis_post", requests_per_s=out["requests_per_s"], requests=out["requests"], **per_event,
                redis_benchmark_evalsha_per_s=direct, script_us_per_evalsha=round(script_us, 2),
                script_commands_us=round(commands_us, 2), script_over_commands=round(script_usec / max(commands, 1), 2))
    rows = [["switchboard POST req/s", f"{out['requests_per_s']:.0f}"],
            ["redis-benchmark EVALSHA req/s", f"{direct:.0f}" if direct else "n/a"],
            ["EVALSHA per posted event", f"{per_event['evalsha_per_event']:.3f}"],
            ["Redis CPU per posted event (INFO cpu), µs", f"{per_event['redis_cpu_us_per_event']:.2f}"]]
    lines = [f"switchboard/redis-benchmark ratio: {ratio(out['requests_per_s'], direct)}",
             f"append script: {script_us:.2f} us per EVALSHA; its commands {commands_us:.2f} us; ratio {script_usec / max(commands, 1):.2f}"]
    return rows, lines


class PlainAndTLSRedis(RedisServer):
    """One redis-server listening on a plain port (the launcher's) and a TLS port, both picked
    again when it has to retry."""

    def __init__(self, cert, key, ca):
        self.files = (cert, key, ca)
        super().__init__()

    def start(self):
        cert, key, ca = self.files
        self.tls_port = free_port()
        self.extra_args = ["--tls-port", str(self.tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
                           "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        super().start()


def redis_tls(opts, records, sb_bin, base):
    need({**REDIS_PACKAGES, "openssl": "openssl"})
    pki = ThrowawayPKI()
    chain, key, _ = pki.leaf("redis")
    server = PlainAndTLSRedis(chain, key, pki.ca)
    base_rev, base_bin = base or (None, None)
    kinds = ["plain", "tls", *(["base"] if base_bin else [])]
    hubs = {}
    try:
        for kind in kinds:
            env = {"REDIS_URL": server.url, "METRICS_PUBLIC": "true"}
            if kind == "tls":
                env.update(REDIS_URL=f"rediss://127.0.0.1:{server.tls_port}", REDIS_TLS_CA_FILE=pki.ca)
            binary = base_bin if kind == "base" else sb_bin
            hubs[kind] = [switchboard(binary, env, name=f"bench-redis-{kind}-{i}", wait="/ready") for i in range(2)]
        heading(f"Redis over plain TCP vs TLS: POST /api/events (wrk -t1 -c64, {opts.duration}s) and fan-out across two "
                f"instances ({opts.subs} subscribers, {opts.sessions} sessions, 16 publisher connections); "
                f"medians of {opts.rounds} interleaved rounds")
        post, cpu, fan, p99 = ({k: [] for k in kinds} for _ in range(4))
        lost = {k: 0 for k in kinds}
        for round_ in range(1, opts.rounds + 1):
            for kind in kinds:
                a, b = hubs[kind]
                accepted, c0 = a.metric("switchboard_events_accepted_total"), redis_cpu(server)
                rps = wrk(a.url, opts.duration, post=True)["requests_per_s"]
                c1, accepted = redis_cpu(server), a.metric("switchboard_events_accepted_total") - accepted
                us = round((c1 - c0) * 1e6 / max(accepted, 1), 2)
                out = wsload(*fanout_args([f"ws://127.0.0.1:{a.port}/ws", f"ws://127.0.0.1:{b.port}/ws"], a.url, opts.subs,
                                          opts.sessions, 200), "--duration", opts.duration, "--pub-conns", 16)[0]
                post[kind].append(rps)
                cpu[kind].append(us)
                fan[kind].append(out["deliveries_per_s"])
                p99[kind].append(out["lat_p99_ms"])
                lost[kind] += out["lost"]
                records.add("redis_tls", redis=kind, round=round_, post_requests_per_s=rps, redis_cpu_us_per_event=us,
                            events_accepted=accepted, **out)
                log(f"  round {round_} {kind}: POST {rps:.0f} req/s, Redis CPU {us} us/event; fan-out {out['deliveries_per_s']:.0f} deliveries/s")
                server.cli("FLUSHALL")
        m = {k: {"post": median(post[k]), "cpu": median(cpu[k]), "fan": median(fan[k]), "p99": median(p99[k])} for k in kinds}
        table(["redis", "POST req/s", "Redis us/event", "deliveries/s", "p99-ms", "lost"],
              [[f"{k}@{base_rev}" if k == "base" else k, f"{m[k]['post']:.0f}", m[k]["cpu"], f"{m[k]['fan']:.0f}", m[k]["p99"], lost[k]]
               for k in kinds])
        for k in kinds:
            records.add("redis_tls_median", redis=k, post_requests_per_s=m[k]["post"], redis_cpu_us_per_event=m[k]["cpu"],
                        deliveries_per_s=m[k]["fan"], lat_p99_ms=m[k]["p99"], lost=lost[k])
        note(f"TLS/plain: POST {ratio(m['tls']['post'], m['plain']['post'])}, deliveries {ratio(m['tls']['fan'], m['plain']['fan'])}")
        if base_bin:
            note(f"plain/base: POST {ratio(m['plain']['post'], m['base']['post'])}, deliveries {ratio(m['plain']['fan'], m['base']['fan'])}")
    finally:
        for pair in hubs.values():
            for hub in pair:
                stop(hub)
        server.stop()
        shutil.rmtree(pki.dir, ignore_errors=True)
