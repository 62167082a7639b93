#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: stable on a noisy or shared machine,
# where timings are not. Runs the release build (THREADS=1, memory store) under callgrind twice,
# with a small and a large number of keep-alive requests from one client, and divides the
# difference in instructions by the difference in requests, so start-up and shutdown cancel out.
#   Scripts/instructions.sh [health|post|both|delivery|post-redis] [N]     (default both, N = 4000)
# post-redis: the POSTs of `post` on the Redis store (REDIS_URL to a real redis-server that
# Tests/python/redis_server.py starts and stops, emptied before each run); the instance's
# instructions only, Redis's own work is not in them. One request at a time: each append is a
# script call of its own (group commit has nothing to group).
# delivery: SUBS (100) WebSocket subscribers of one session (Python `websockets`), N/10 events
# POSTed one at a time; instructions per delivery, the event's POST included (one POST per SUBS
# deliveries; `post` gives its share).
#   CALLGRIND_KEEP=1 keeps the profiles (printed paths) for callgrind_annotate.
#   INSTRUCTIONS_BIN=<path> counts that binary instead (e.g. a baseline build's, same run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" valgrind binutils curl
mode="${1:-both}"
n="${2:-4000}"
subs="${SUBS:-100}"
cd "$root"
[[ $mode == delivery ]] && ensure_python_clients
redis_url=""
if [[ $mode == post-redis ]]; then
    ensure_packages redis-server redis-tools
    # The suite's launcher: prints {"port", "pid"} once the server answers, and stops it by
    # PID when its stdin closes (at this script's exit, however it ends).
    coproc REDIS { exec python3 "$root/Tests/python/redis_server.py"; }
    read -r -u "${REDIS[0]}" started
    redis_port=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["port"])' "$started")
    redis_url="redis://127.0.0.1:$redis_port"
fi
if [[ -z ${INSTRUCTIONS_BIN:-} ]]; then swift build -c release --product switchboard >&2; fi
work=$(mktemp -d)
# valgrind 3.19 cannot read the DWARF 5 the toolchain emits: count on a copy without it.
cp "${INSTRUCTIONS_BIN:-.build/release/switchboard}" "$work/switchboard"
objcopy --strip-debug "$work/switchboard"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One run: COUNT requests of KIND; prints the total instructions of the process.
run() {
    local kind=$1 count=$2 port out pid
    port=$(free_port)
    out="$work/callgrind.$kind.$count.out"
    if [[ -n $redis_url ]]; then redis-cli -p "$redis_port" FLUSHALL >/dev/null; fi
    PORT=$port THREADS=1 LOG_LEVEL=error REDIS_URL=$redis_url valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$work/switchboard" --host 127.0.0.1 >"$work/server.log" 2>&1 &
    pid=$!
    # /ready: with Redis, connected and its scripts loaded.
    for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.1; done
    if [[ $kind == delivery ]]; then
        python3 - "$port" "$count" "$subs" <<'PY'
import asyncio, http.client, json, sys
import websockets
port, count, subs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"sessionId": "cg", "type": "bench", "timestamp": "2026-11-24T12:00:00.000Z",
                   "data": {"n": 1, "pad": "x" * 120}}).encode()

def post_all():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(count):
        conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse(); r.read()
        if r.status != 201:
            sys.exit(f"unexpected status {r.status}")

async def subscriber(ready):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None, open_timeout=120, ping_interval=None) as ws:
        await asyncio.wait_for(ws.recv(), 120)
        await ws.send(json.dumps({"type": "subscribe", "sessionId": "cg"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 120))["type"] != "subscription_confirmed":
            pass
        ready.release()
        got = 0
        while got < count:
            if json.loads(await asyncio.wait_for(ws.recv(), 120))["type"] == "event":
                got += 1

async def main():
    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(subscriber(ready)) for _ in range(subs)]
    for _ in range(subs):
        await ready.acquire()
    await asyncio.to_thread(post_all)
    await asyncio.gather(*tasks)

asyncio.run(main())
PY
    else
    python3 - "$port" "$kind" "$count" <<'PY'
import http.client, json, sys
port, kind, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
body = json.dumps({"sessionId": "cg", "type": "bench", "timestamp": "2026-11-24T12:00:00.000Z",
                   "data": {"n": 1, "pad": "x" * 120}}).encode()
for i in range(count):
    if kind == "health":
        conn.request("GET", "/health")
    else:
        conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status >= 300:
        sys.exit(f"unexpected status {r.status}")
PY
    fi
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    awk '/^totals:|^summary:/ {print $2; exit}' "$out"
}

small=$((n / 4))
for kind in health post post-redis; do
    [[ $mode == both && $kind != post-redis || $mode == "$kind" ]] || continue
    a=$(run "$kind" "$small")
    b=$(run "$kind" "$n")
    python3 -c "print(f'$kind: {($b - $a) / ($n - $small):,.0f} instructions per request ({$n - $small} requests between two runs)')"
done
if [[ $mode == delivery ]]; then
    events=$((n / 10)); few=$((events / 4))
    a=$(run delivery "$few")
    b=$(run delivery "$events")
    python3 -c "print(f'delivery: {($b - $a) / (($events - $few) * $subs):,.0f} instructions per delivery, its POST included ({$events - $few} events x $subs subscribers between two runs)')"
fi
if [[ -n ${CALLGRIND_KEEP:-} ]]; then echo "profiles kept in $work" >&2; else rm -rf "$work"; fi
