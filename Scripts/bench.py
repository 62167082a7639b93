#!/usr/bin/env python3
"""Switchboard's benchmarks and capacity-model inputs, on the test suite's launchers
(Tests/python: conftest.Hub, redis_server.py, nginx_server.py, tls_certs.py): every server on a
free loopback port, stopped by PID. Each measurement is one JSON object in --json (JSON Lines);
the tables go to stdout as Markdown, per-round figures to stderr.

  Scripts/bench.py [MODE] [PART] [options]

Modes (default all):
  http       wrk -t1 -c64: GET /health and POST /api/events, and the ceiling of this load
             generator on this machine (nginx answering a constant 200 from one worker)
  fanout     wsload fanout at max rate (1000 subscribers, 10 sessions, 200-byte events), then the
             latency curve at 1/4..4x the Hummingbird peer's max event rate, with server + wsload CPU
  idle       RSS per idle subscribed connection (wsload idle)
  all        http, fanout and idle: Switchboard at its default THREADS and THREADS=1 beside the
             Hummingbird and aiohttp peers (../shared/peers), with ratios
  redis      memory store against two instances on one Redis; POST on Redis against the append
             script run directly (redis-benchmark); what the script costs Redis
  redis-tls  Redis connections over redis:// and rediss:// to one redis-server (with --baseline,
             that build over plain TCP too)
  tls        fan-out over ws/http and wss/https, idle RSS, TLS handshake rate (openssl s_time)
  deflate    fan-out to subscribers with and without permessage-deflate, idle RSS with and without
  scale      the capacity model's inputs (REDIS_INTEGRATION.md); PART: all (default), fanout,
             bus, idle, instances
  cluster    Redis Cluster fan-out (standalone, 1 and 3 masters) and the channel messages an
             instance receives, sharded against classic Pub/Sub

The binary is --bin / SWITCHBOARD_BIN, or else a release build made here. Every option has an
environment variable of the same meaning (the names bench.sh and scale-model.sh used), shown in
--help. Loopback only. The load generator shares the machine: compare figures within one run."""
import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import cluster, compare, redis_modes, scale, tls_deflate  # noqa: E402
from bench.common import ROOT, Records, baseline_build, log, swift_build  # noqa: E402

MODES = ("http", "fanout", "idle", "all", "redis", "redis-tls", "tls", "deflate", "scale", "cluster")
COMPARE = ("http", "fanout", "idle", "all")


def words(text):
    return text.replace(",", " ").split()


def numbers(text):
    return [int(x) for x in words(text)]


# (flag, environment variable, type, default (None: per mode, below), help)
OPTIONS = (
    ("--duration", "BENCH_DURATION", int, None, "seconds per run (10; scale: SCALE_DURATION, 5)"),
    ("--rounds", "BENCH_ROUNDS", int, 3, "interleaved rounds, medians reported"),
    ("--servers", "BENCH_SERVERS", words, None, "http/fanout/idle: only these of sb sb1 hb aio base"),
    ("--baseline", "BENCH_BASELINE", str, None, "also build this git revision (release, worktree under /tmp) and run it as 'base'"),
    ("--baseline-bin", "BENCH_BASELINE_BIN", str, None, "run this already built binary as 'base' instead of building --baseline"),
    ("--curve-duration", "BENCH_CURVE_DURATION", int, 5, "seconds per latency-curve point"),
    ("--curve-base-dps", "BENCH_FIXED_RATE_DPS", float, 100000, "the curve's 1x in deliveries/s when the Hummingbird peer is not run"),
    ("--idle-conns", "BENCH_IDLE_CONNS", int, None, "idle connections (10000; tls and deflate: 5000)"),
    ("--subs", None, int, None, "subscribers (1000; scale: SCALE_SUBS)"),
    ("--sessions", None, int, None, "sessions (10; scale: SCALE_SESSIONS, 20)"),
    ("--redis-pub-conns", "BENCH_REDIS_PUB_CONNS", int, 16, "redis mode's publisher connections"),
    ("--tls-fixed-rate", "BENCH_TLS_FIXED_RATE", int, 200, "tls mode's fixed event rate"),
    ("--handshake-clients", "BENCH_HANDSHAKE_CLIENTS", int, 8, "parallel openssl s_time clients"),
    ("--handshake-seconds", "BENCH_HANDSHAKE_SECONDS", int, 5, "seconds of openssl s_time"),
    ("--deflate-subs", "BENCH_DEFLATE_SUBS", int, 1000, "deflate mode's subscribers"),
    ("--deflate-size", "BENCH_DEFLATE_SIZE", int, 1024, "deflate mode's event size, bytes"),
    ("--deflate-fixed-rate", "BENCH_DEFLATE_FIXED_RATE", int, 1500, "deflate mode's fixed event rate"),
    ("--size", "SCALE_SIZE", int, 200, "scale: event size, bytes"),
    ("--scale-idle", "SCALE_IDLE", numbers, [5000, 10000, 19000], "scale idle: connection counts"),
    ("--scale-instances", "SCALE_INSTANCES", numbers, [1, 2, 4], "scale instances: instance counts"),
    ("--scale-shards", "SCALE_SHARDS", numbers, [1, 2], "scale instances: Redis shard counts"),
    ("--scale-threads", "SCALE_THREADS", int, 1, "scale: THREADS of the instances"),
    ("--channel-mode", "SCALE_CHANNEL_MODE", str, "shared", "scale: REDIS_CHANNEL_MODE of the instances (shared|session)"),
    ("--bin", "SWITCHBOARD_BIN", str, None, "the switchboard binary (default: build release here)"),
    ("--json", "BENCH_JSON", str, None, "JSON Lines file the records are appended to (default: a new file under /tmp)"),
)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="all", choices=MODES)
    parser.add_argument("part", nargs="?", default="all", choices=("all", *scale.PARTS), help="scale mode's part")
    for flag, env, kind, default, text in OPTIONS:
        value = os.environ.get(env) if env else None
        parser.add_argument(flag, type=kind, default=kind(value) if value else default, help=f"{text}{f' [{env}]' if env else ''}")
    opts = parser.parse_args(argv)
    if opts.part != "all" and opts.mode != "scale":
        parser.error("PART is for the scale mode")
    is_scale = opts.mode == "scale"
    if opts.duration is None:
        opts.duration = int(os.environ.get("SCALE_DURATION", 5)) if is_scale else 10
    if opts.subs is None:
        opts.subs = int(os.environ.get("SCALE_SUBS", 1000)) if is_scale else 1000
    if opts.sessions is None:
        opts.sessions = int(os.environ.get("SCALE_SESSIONS", 20)) if is_scale else 10
    if opts.mode not in (*COMPARE, "redis-tls"):
        opts.servers = None
    return opts


def git(*args):
    out = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def main(argv=None):
    # SIGTERM unwinds like Ctrl-C, so every server started so far is stopped by the launchers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    opts = parse(argv)
    sb_bin = os.path.abspath(opts.bin or swift_build(ROOT))
    if not os.access(sb_bin, os.X_OK):
        sys.exit(f"no switchboard binary at {sb_bin}")
    log(f"switchboard: {sb_bin}")
    os.environ["SWITCHBOARD_BIN"] = sb_bin  # the launchers' default too (the cluster launcher's instances)
    base = None
    if opts.mode in (*COMPARE, "redis-tls"):
        if opts.baseline_bin:
            base = (opts.baseline or "base", os.path.abspath(opts.baseline_bin))
        elif opts.baseline:
            base = baseline_build(opts.baseline)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = opts.json or os.path.join(tempfile.gettempdir(), f"switchboard-bench-{opts.mode}-{stamp}.jsonl")
    with open("/proc/loadavg") as f:
        load = [float(x) for x in f.read().split()[:3]]
    context = {"time": stamp, "commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain")),
               "binary": sb_bin, "baseline": base[0] if base else None, "cores": os.cpu_count(), "loadavg": load,
               "kernel": platform.release(), "options": {k: v for k, v in vars(opts).items() if k not in ("bin", "json")}}
    records = Records(path, opts.mode if opts.mode != "scale" else f"scale-{opts.part}", context)
    try:
        if opts.mode in COMPARE:
            compare.run(opts.mode, opts, records, sb_bin, base)
        elif opts.mode == "redis":
            redis_modes.redis(opts, records, sb_bin)
        elif opts.mode == "redis-tls":
            redis_modes.redis_tls(opts, records, sb_bin, base)
        elif opts.mode == "tls":
            tls_deflate.tls(opts, records, sb_bin)
        elif opts.mode == "deflate":
            tls_deflate.deflate(opts, records, sb_bin)
        elif opts.mode == "scale":
            scale.run(opts.part, opts, records, sb_bin)
        elif opts.mode == "cluster":
            cluster.run(opts, records, sb_bin)
    finally:
        records.close()
        log(f"records: {path}")


if __name__ == "__main__":
    main()
