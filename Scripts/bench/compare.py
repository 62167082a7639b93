"""http, fanout (with the latency curve) and idle: Switchboard side by side with the Hummingbird
and aiohttp peers (../shared/peers), the same load generators, one machine. Switchboard runs at
its default THREADS (= CPU count) and at THREADS=1: on a 2-core machine the load generator needs
one core, so one loop thread is the better setting there; both are shown so neither is hidden.
Every scenario starts each server fresh."""
import os
import subprocess
import time

from .common import (HZ, PEERS, Hub, Nginx, cpu_ticks, fanout_args, fmt, heading, log, median, need, note, ratio,
                     stop, switchboard, table, wrk, wsload)

ALL = ("sb", "sb1", "hb", "aio")
RATIOS = (("sb", "hb"), ("sb", "aio"), ("sb1", "hb"), ("sb1", "aio"), ("sb", "base"))
CURVE = (0.25, 0.5, 1, 2, 4)


class Servers:
    """The servers under comparison, each running on a port of its own, restarted on demand."""

    def __init__(self, keys, sb_bin, base=None):
        self.keys = list(keys)
        self.sb_bin = sb_bin
        self.base_rev, self.base_bin = base or (None, None)
        self.names = {"sb": "sb(default)", "sb1": "sb(THREADS=1)", "base": f"sb@{self.base_rev}",
                      "hb": "hummingbird", "aio": "aiohttp"}
        self.live = {}

    def launch(self, key):
        if key in ("sb", "sb1", "base"):
            binary = self.base_bin if key == "base" else self.sb_bin
            env = {"THREADS": "1"} if key == "sb1" else {}
            hub = switchboard(binary, env, name=f"bench-{key}")
        else:
            run = os.path.join(PEERS, {"hb": "hummingbird-hub", "aio": "aiohttp-hub"}[key], "run")
            # The first start of the aiohttp peer makes its virtualenv: allow minutes.
            hub = Hub(name=f"bench-{key}", wait="/health", timeout=600, executable=run)
        self.live[key] = hub

    def start_all(self):
        if "hb" in self.keys:  # build before timing anything (the first build takes minutes)
            subprocess.run([os.path.join(PEERS, "hummingbird-hub", "run"), "--build-only"], check=True)
        for key in self.keys:
            self.launch(key)

    def restart(self, key):
        stop(self.live.pop(key))
        self.launch(key)

    def stop_all(self):
        for key in list(self.live):
            stop(self.live.pop(key))

    def url(self, key, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.live[key].port}"

    def pairs(self):
        return [(a, b) for a, b in RATIOS if a in self.keys and b in self.keys]

    def header(self, first):
        return [first, *(self.names[k] for k in self.keys), *(f"{a}/{b}" for a, b in self.pairs())]

    def row(self, label, values, ratios=True):
        cells = [fmt(values.get(k)) for k in self.keys]
        extra = [ratio(values.get(a), values.get(b)) if ratios else "" for a, b in self.pairs()]
        return [label, *cells, *extra]


def run(mode, opts, records, sb_bin, base):
    keys = opts.servers or [*ALL, *(["base"] if base else [])]
    unknown = [k for k in keys if k not in (*ALL, "base")]
    if unknown or ("base" in keys and not base):
        raise SystemExit(f"--servers: {' '.join(unknown) or 'base'}: choose from {' '.join(ALL)} and base (with --baseline)")
    servers = Servers(keys, sb_bin, base)
    try:
        servers.start_all()
        if mode in ("http", "all"):
            http(servers, opts, records)
        if mode in ("fanout", "all"):
            dps = fanout(servers, opts, records)
            curve(servers, opts, records, dps)
        if mode in ("idle", "all"):
            idle(servers, opts, records)
    finally:
        servers.stop_all()


def http(servers, opts, records):
    need({"wrk": "wrk"})
    heading(f"wrk, 1 thread, 64 connections, {opts.duration}s")
    rows, peer = [], {}
    for scenario in ("health", "post"):
        rps = {}
        for key in servers.keys:
            path = "/health" if scenario == "health" else ""
            out = wrk(servers.url(key) + path, opts.duration, post=scenario == "post")
            rps[key] = out["requests_per_s"]
            records.add("http", scenario=scenario, server=servers.names[key], **out)
            if out["non_2xx"]:
                log(f"  note: {servers.names[key]} answered {out['non_2xx']} non-2xx responses in {scenario}")
        rows.append(servers.row(f"{scenario} req/s", rps))
        peer[scenario] = rps.get("hb")
    table(servers.header("scenario"), rows)
    ceiling(servers, opts, records, peer)
    for key in servers.keys:
        servers.restart(key)


def ceiling(servers, opts, records, peer):
    """What this load generator can drive at all on this machine: nginx answering a constant 200
    from one worker (no body to parse, nothing dynamic), the same wrk commands."""
    if not servers.keys:
        return
    need({"nginx": "nginx"})
    # A regular-expression location wins over the launcher's catch-all proxy location.
    constant = "location ~ ^/ { default_type application/json; return 200 '{\"status\":\"ok\"}'; }"
    nginx = Nginx([servers.live[servers.keys[0]].port], locations=constant)
    try:
        get = wrk(nginx.url + "/health", opts.duration)["requests_per_s"]
        post = wrk(nginx.url, opts.duration, post=True)["requests_per_s"]  # the same POSTs; nginx discards the bodies
    finally:
        nginx.stop()
    records.add("http_ceiling", get_requests_per_s=get, post_requests_per_s=post)
    against = (f" = {ratio(get, peer.get('health'))} the Hummingbird peer's health req/s" if peer.get("health") else "",
               f" = {ratio(post, peer.get('post'))} its POST req/s" if peer.get("post") else "")
    note(f"ceiling: nginx 'return 200' (1 worker), same wrk: GET {get:.0f} req/s{against[0]}; POST {post:.0f} req/s{against[1]}")


def fanout(servers, opts, records):
    heading(f"wsload fanout: {opts.subs} subscribers, {opts.sessions} sessions, 200-byte events, max rate, "
            f"{opts.duration}s; median of {opts.rounds} interleaved rounds")
    dps = {k: [] for k in servers.keys}
    p99 = {k: [] for k in servers.keys}
    lost = {k: 0 for k in servers.keys}
    for round_ in range(1, opts.rounds + 1):
        for key in servers.keys:
            out, _, _ = wsload(*fanout_args([servers.url(key, "ws") + "/ws"], servers.url(key), opts.subs, opts.sessions, 200),
                               "--duration", opts.duration)
            dps[key].append(out["deliveries_per_s"])
            p99[key].append(out["lat_p99_ms"])
            lost[key] += out["lost"]
            records.add("fanout", server=servers.names[key], round=round_, **out)
            log(f"  round {round_} {servers.names[key]}: {out['deliveries_per_s']:.0f} deliveries/s, p99 {out['lat_p99_ms']} ms")
            servers.restart(key)
    medians = {k: median(v) for k, v in dps.items()}
    table(servers.header("metric"), [
        servers.row("deliveries/s", medians),
        servers.row("p99 ms (max rate)", {k: median(v) for k, v in p99.items()}, ratios=False),
        servers.row("lost (all rounds)", lost, ratios=False)])
    for key in servers.keys:
        records.add("fanout_median", server=servers.names[key], deliveries_per_s=medians[key],
                    lat_p99_ms=median(p99[key]), lost=lost[key], rounds=opts.rounds)
    return medians


def curve(servers, opts, records, dps):
    """p50/p99 at fixed event rates of 1/4, 1/2, 1, 2 and 4 times the Hummingbird peer's max rate
    (its deliveries/s / subscribers per session), medians of interleaved rounds. A server keeps up
    when it published at least 95 % of the rate. With it, the CPU time of the server and of wsload
    over each of sb's runs, per second of the run (1.0 = one core): where the curve bends, the two
    together near the machine's cores. Process accounting (/proc/PID/stat, wait4), because this
    VM's /proc/stat idle counts are not reliable."""
    per_session = opts.subs // opts.sessions
    base_dps = dps.get("hb") or opts.curve_base_dps
    base_events = base_dps / per_session
    heading(f"latency curve: fixed event rates relative to the Hummingbird peer's max ({base_events:.0f} events/s"
            f"{'' if dps.get('hb') else ', assumed'}), {opts.curve_duration}s, median of {opts.rounds} rounds")
    header = ["rate", *(f"{servers.names[k]} p50/p99" for k in servers.keys)]
    if "sb" in servers.keys:
        header.append(f"server + wsload CPU, sb (cores of {os.cpu_count()}, each round)")
    rows, sb_p99 = [], {}
    for mult in CURVE:
        rate = max(1, int(base_events * mult))
        p50s, p99s, rates, lost, cpu = ({k: [] for k in servers.keys} for _ in range(5))
        for round_ in range(1, opts.rounds + 1):
            for key in servers.keys:
                pid = servers.live[key].proc.pid
                before, t0 = cpu_ticks(pid), time.time()
                out, wsload_cpu, _ = wsload(*fanout_args([servers.url(key, "ws") + "/ws"], servers.url(key), opts.subs,
                                                         opts.sessions, 200), "--rate", rate, "--duration", opts.curve_duration)
                wall = time.time() - t0
                server_cores = (cpu_ticks(pid) - before) / HZ / wall
                p50s[key].append(out["lat_p50_ms"])
                p99s[key].append(out["lat_p99_ms"])
                rates[key].append(out["publish_rate"])
                lost[key].append(out["lost"])
                cpu[key].append(f"{server_cores:.2f}+{wsload_cpu / wall:.2f}")
                records.add("latency_curve", server=servers.names[key], multiple=mult, rate=rate, round=round_,
                            server_cores=round(server_cores, 3), wsload_cores=round(wsload_cpu / wall, 3), **out)
                servers.restart(key)
        row = [f"{mult}x = {rate}/s"]
        for key in servers.keys:
            m50, m99, mrate = median(p50s[key]), median(p99s[key]), median(rates[key])
            keeps_up = mrate >= 0.95 * rate
            if keeps_up:
                row.append(f"{m50:.2f}/{m99:.2f} ms")
                if key == "sb":
                    sb_p99[mult] = m99
            else:
                row.append(f"behind ({mrate:.0f}/s)")
            if sum(lost[key]):
                log(f"  note: {servers.names[key]} lost {sum(lost[key])} events at {rate}/s")
            records.add("latency_curve_median", server=servers.names[key], multiple=mult, rate=rate, lat_p50_ms=m50,
                        lat_p99_ms=m99, publish_rate=mrate, keeps_up=keeps_up, lost=sum(lost[key]))
        if "sb" in servers.keys:
            row.append(" ".join(cpu["sb"]))
        rows.append(row)
    table(header, rows)
    if 2 in sb_p99 and 0.5 in sb_p99:
        note(f"flatness (sb p99 at 2x / at 0.5x; bar <= 2): {ratio(sb_p99[2], sb_p99[0.5])}")
        records.add("latency_flatness", p99_2x_over_half=sb_p99[2] / sb_p99[0.5] if sb_p99[0.5] else None)
    elif "sb" in servers.keys:
        note("flatness: n/a (sb did not keep up at 0.5x or 2x)")


def idle(servers, opts, records):
    """Interleaved rounds, median per server: the first measurement of a run reads 60-100 B per
    connection higher than later ones, whichever server takes it, so a single pass would favour
    the servers measured last."""
    conns = opts.idle_conns or 10000
    heading(f"wsload idle: {conns} subscribed connections, RSS growth per connection; "
            f"median of {opts.rounds} interleaved rounds")
    per = {k: [] for k in servers.keys}
    for round_ in range(1, opts.rounds + 1):
        for key in servers.keys:
            out, _, _ = wsload("idle", "--url", servers.url(key, "ws") + "/ws", "--conns", conns, "--sessions", 100,
                               "--hold", 5, "--pid", servers.live[key].proc.pid)
            per[key].append(out["rss_per_conn_bytes"])
            records.add("idle", server=servers.names[key], round=round_, **out)
            servers.restart(key)
    for key in servers.keys:
        log(f"  {servers.names[key]}: {' '.join(f'{v:.0f}' for v in per[key])}")
        records.add("idle_median", server=servers.names[key], rss_per_conn_bytes=median(per[key]), connections=conns)
    table(servers.header("metric"), [servers.row("bytes/conn", {k: median(v) for k, v in per.items()})])
