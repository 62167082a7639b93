"""tls and deflate: interleaved rounds against fresh instances of one build, with the TLS- and
deflate-capable wsload copy in Scripts/bench/wsload.

tls: the same fan-out over plain ws/http and over native TLS (wss/https), quoted as TLS/plain;
idle RSS per connection; then the TLS handshake rate (parallel `openssl s_time -new`).
deflate: the same fan-out of ~1 KB events (padded with words, so they compress like text) to
subscribers that all offer permessage-deflate and to subscribers that offer nothing: deliveries/s,
per server CPU-second, p99 and bytes on the wire per delivery at max rate; CPU per delivery of the
server and of wsload at a fixed rate both reach (on one 2-core machine the max-rate figure with
deflate is bound by wsload inflating every message, as a real client must); then idle RSS per
subscribed connection with and without the extension agreed."""
import glob
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.request

from .common import (HZ, WSLOAD_TLS, ThrowawayPKI, cpu_ticks, fanout_args, fmt, heading, log, median, need, note,
                     per_cpu_second, ratio, stop, switchboard, table, us_per, wsload)


def _https_ready(hub, context, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline and hub.proc.poll() is None:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{hub.port}/health", context=context, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the TLS instance did not answer:\n{hub.log_text()[-2000:]}")


def tls(opts, records, sb_bin):
    need({"openssl": "openssl"})
    pki = ThrowawayPKI()
    chain, key, _ = pki.leaf("bench")
    context = ssl.create_default_context(cafile=pki.ca)

    def start(kind):
        if kind == "plain":
            return switchboard(sb_bin, name="bench-plain")
        hub = switchboard(sb_bin, {"TLS_CERT_FILE": chain, "TLS_KEY_FILE": key}, name="bench-tls", wait=None)
        _https_ready(hub, context)
        return hub

    def urls(hub, kind):
        return (f"wss://127.0.0.1:{hub.port}/ws", f"https://127.0.0.1:{hub.port}") if kind == "tls" else \
               (f"ws://127.0.0.1:{hub.port}/ws", hub.url)

    try:
        rate = opts.tls_fixed_rate
        heading(f"fan-out, plain vs TLS: {opts.subs} subscribers, {opts.sessions} sessions, 200-byte events, {opts.duration}s at "
                f"max rate and at {rate} events/s; medians of {opts.rounds} interleaved rounds")
        kinds = ("plain", "tls")
        dps, per, p99, fixed, lost = ({k: [] for k in kinds} for _ in range(5))
        for round_ in range(1, opts.rounds + 1):
            for kind in kinds:
                hub = start(kind)
                sub, pub = urls(hub, kind)
                args = fanout_args([sub], pub, opts.subs, opts.sessions, 200)
                c0 = cpu_ticks(hub.proc.pid)
                out = wsload(*args, "--duration", opts.duration, exe=WSLOAD_TLS)[0]
                per[kind].append(per_cpu_second(out["delivered"], cpu_ticks(hub.proc.pid) - c0))
                at_rate = wsload(*args, "--rate", rate, "--duration", opts.duration, exe=WSLOAD_TLS)[0]
                stop(hub)
                dps[kind].append(out["deliveries_per_s"])
                p99[kind].append(out["lat_p99_ms"])
                fixed[kind].append(at_rate["lat_p99_ms"])
                lost[kind].append(out["lost"] + at_rate["lost"])
                records.add("tls_fanout", transport=kind, round=round_, rate="max", deliveries_per_server_cpu_s=per[kind][-1], **out)
                records.add("tls_fanout", transport=kind, round=round_, rate=rate, **at_rate)
                log(f"  round {round_} {kind}: {out['deliveries_per_s']:.0f} deliveries/s ({per[kind][-1]} per server CPU-second), "
                    f"p99 {out['lat_p99_ms']} ms; at {rate} events/s p99 {at_rate['lat_p99_ms']} ms")
        rows = []
        for label, values in (("deliveries/s (max rate)", dps), ("deliveries/server CPU-s", per),
                              ("p99 ms (max rate)", p99), (f"p99 ms @{rate} events/s", fixed)):
            mp, mt = median(values["plain"]), median(values["tls"])
            rows.append([label, fmt(mp), fmt(mt), ratio(mt, mp)])
            records.add("tls_median", metric=label, plain=mp, tls=mt)
        rows.append(["lost (all runs)", sum(lost["plain"]), sum(lost["tls"]), ""])
        table(["metric", "plain", "tls", "tls/plain"], rows)

        conns = opts.idle_conns or 5000
        heading(f"idle: {conns} subscribed connections, server RSS growth per connection")
        rss = {}
        for kind in kinds:
            hub = start(kind)
            out = wsload("idle", "--url", urls(hub, kind)[0], "--conns", conns, "--sessions", 100, "--hold", 3,
                         "--pid", hub.proc.pid, exe=WSLOAD_TLS)[0]
            stop(hub)
            rss[kind] = out["rss_per_conn_bytes"]
            records.add("tls_idle", transport=kind, **out)
        table(["metric", "plain", "tls", "tls/plain"],
              [["RSS bytes per idle conn", f"{rss['plain']:.0f}", f"{rss['tls']:.0f}", ratio(rss["tls"], rss["plain"])]])
        handshakes(opts, records, start, pki.dir, context)
    finally:
        shutil.rmtree(pki.dir, ignore_errors=True)


def handshakes(opts, records, start, workdir, context):
    clients, seconds = opts.handshake_clients, opts.handshake_seconds
    heading(f"TLS handshake rate: {clients} parallel 'openssl s_time -new' (full TLS 1.3 handshakes, no resumption), "
            f"{seconds}s, ECDSA P-256 certificate")
    note("(clients and server share the machine: the wall rate is bounded by the clients; the server's CPU time per "
         "handshake is not)")
    hub = start("tls")
    try:
        c0, t0 = cpu_ticks(hub.proc.pid), time.time()
        procs = []
        for i in range(clients):
            with open(os.path.join(workdir, f"s_time.{i}"), "w") as out:
                procs.append(subprocess.Popen(["openssl", "s_time", "-connect", f"127.0.0.1:{hub.port}", "-new", "-time", str(seconds)],
                                              stdout=out, stderr=subprocess.STDOUT))
        for proc in procs:
            proc.wait()
        wall = time.time() - t0
        total = 0
        for name in glob.glob(os.path.join(workdir, "s_time.*")):
            with open(name) as f:
                total += sum(int(m) for m in re.findall(r"^(\d+) connections in \S+ real seconds", f.read(), re.M))
        with urllib.request.urlopen(f"https://127.0.0.1:{hub.port}/metrics", context=context, timeout=5) as r:
            ok = re.search(r'^switchboard_tls_handshakes\{result="ok"\} (\S+)', r.read().decode(), re.M)
        cpu = (cpu_ticks(hub.proc.pid) - c0) / HZ
    finally:
        stop(hub)
    counted = ok.group(1) if ok else "?"
    records.add("tls_handshakes", handshakes=total, wall_s=round(wall, 2), per_s_wall=round(total / wall),
                server_counted_ok=counted, server_cpu_s=round(cpu, 3),
                server_cpu_us_per_handshake=round(cpu / max(total, 1) * 1e6), handshakes_per_server_cpu_s=round(total / cpu) if cpu else None)
    note(f"handshakes: {total} in {wall:.1f}s = {total / wall:.0f}/s wall (server counted ok: {counted}); server CPU {cpu:.2f}s = "
         f"{cpu / max(total, 1) * 1e6:.0f} us per handshake = {total / cpu if cpu else 0:.0f} handshakes per server CPU-second")


def deflate(opts, records, sb_bin):
    subs, size, fixed_rate = opts.deflate_subs, opts.deflate_size, opts.deflate_fixed_rate
    kinds = ("plain", "deflate")

    def run_one(kind, *extra):
        """One wsload run against a fresh server: (report, server CPU ticks, wsload CPU seconds)."""
        flags = ["--pad-words", *(["--deflate"] if kind == "deflate" else [])]
        hub = switchboard(sb_bin, name="bench-deflate")
        try:
            c0 = cpu_ticks(hub.proc.pid)
            out, wsload_cpu, _ = wsload(*fanout_args([f"ws://127.0.0.1:{hub.port}/ws"], hub.url, subs, opts.sessions, size),
                                        *extra, *flags, exe=WSLOAD_TLS)
            return out, cpu_ticks(hub.proc.pid) - c0, wsload_cpu
        finally:
            stop(hub)

    heading(f"fan-out, plain vs permessage-deflate: {subs} subscribers, {opts.sessions} sessions, ~{size}-byte events "
            f"(word padding), {opts.duration}s; medians of {opts.rounds} interleaved rounds")
    note(f"max rate: as fast as the hub answers; fixed: {fixed_rate} events/s for both (the same deliveries/s, so CPU per "
         "delivery compares like with like)")
    metrics = ("deliveries/s (max rate)", "deliveries/server CPU-s (max rate)", "wsload µs CPU/delivery (max rate)",
               "p99 ms (max rate)", "server µs CPU/delivery (fixed rate)", "wsload µs CPU/delivery (fixed rate)",
               "p99 ms (fixed rate)", "wire bytes per delivery")
    values = {m: {k: [] for k in kinds} for m in metrics}
    lost = {k: 0 for k in kinds}
    compressed = {k: 0 for k in kinds}
    for round_ in range(1, opts.rounds + 1):
        for kind in kinds:
            out, ticks, wcpu = run_one(kind, "--duration", opts.duration)
            v = values
            v["deliveries/s (max rate)"][kind].append(out["deliveries_per_s"])
            v["deliveries/server CPU-s (max rate)"][kind].append(per_cpu_second(out["delivered"], ticks))
            v["wsload µs CPU/delivery (max rate)"][kind].append(us_per(wcpu, out["delivered"]))
            v["p99 ms (max rate)"][kind].append(out["lat_p99_ms"])
            v["wire bytes per delivery"][kind].append(out["wire_bytes_per_delivery"])
            lost[kind] += out["lost"]
            compressed[kind] += out["compressed_deliveries"]
            records.add("deflate_fanout", extension=kind, round=round_, rate="max", server_cpu_ticks=ticks,
                        wsload_cpu_s=round(wcpu, 3), **out)
            log(f"  round {round_} {kind}, max rate: {out['deliveries_per_s']:.0f} deliveries/s "
                f"({v['deliveries/server CPU-s (max rate)'][kind][-1]} per server CPU-second, wsload "
                f"{v['wsload µs CPU/delivery (max rate)'][kind][-1]} µs CPU per delivery), p99 {out['lat_p99_ms']} ms, "
                f"{out['wire_bytes_per_delivery']} wire bytes per delivery")
            out, ticks, wcpu = run_one(kind, "--duration", opts.duration, "--rate", fixed_rate)
            v["server µs CPU/delivery (fixed rate)"][kind].append(us_per(ticks / HZ, out["delivered"]))
            v["wsload µs CPU/delivery (fixed rate)"][kind].append(us_per(wcpu, out["delivered"]))
            v["p99 ms (fixed rate)"][kind].append(out["lat_p99_ms"])
            lost[kind] += out["lost"]
            records.add("deflate_fanout", extension=kind, round=round_, rate=fixed_rate, server_cpu_ticks=ticks,
                        wsload_cpu_s=round(wcpu, 3), **out)
            log(f"  round {round_} {kind}, {fixed_rate} events/s: {out['deliveries_per_s']:.0f} deliveries/s, server "
                f"{v['server µs CPU/delivery (fixed rate)'][kind][-1]} µs and wsload {v['wsload µs CPU/delivery (fixed rate)'][kind][-1]} "
                f"µs CPU per delivery, p99 {out['lat_p99_ms']} ms")
    rows = []
    for metric in metrics:
        mp, md = median(values[metric]["plain"]), median(values[metric]["deflate"])
        rows.append([metric, fmt(mp, 3), fmt(md, 3), ratio(md, mp)])
        records.add("deflate_median", metric=metric, plain=mp, deflate=md)
    rows.append(["lost (all runs)", lost["plain"], lost["deflate"], ""])
    rows.append(["compressed deliveries (max rate)", compressed["plain"], compressed["deflate"], ""])
    table(["metric", "plain", "deflate", "deflate/plain"], rows)

    conns = opts.idle_conns or 5000
    heading(f"idle: {conns} subscribed connections, server RSS growth per connection, without and with permessage-deflate agreed")
    rss = {}
    for kind in kinds:
        hub = switchboard(sb_bin, name="bench-deflate")
        try:
            out = wsload("idle", "--url", f"ws://127.0.0.1:{hub.port}/ws", "--conns", conns, "--sessions", 100, "--hold", 3,
                         "--pid", hub.proc.pid, *(["--deflate"] if kind == "deflate" else []), exe=WSLOAD_TLS)[0]
        finally:
            stop(hub)
        rss[kind] = out["rss_per_conn_bytes"]
        records.add("deflate_idle", extension=kind, **out)
    table(["metric", "plain", "deflate", "deflate/plain"],
          [["RSS bytes per idle conn", f"{rss['plain']:.0f}", f"{rss['deflate']:.0f}", ratio(rss["deflate"], rss["plain"])]])
