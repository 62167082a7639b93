#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: stable on a noisy or shared machine,
# where timings are not. Runs the release build (THREADS=1, memory store) under callgrind twice,
# with a small and a large number of keep-alive requests from one client, and divides the
# difference in instructions by the difference in requests, so start-up and shutdown cancel out.
#   Scripts/instructions.sh [health|post|both] [N]     (default both, N = 4000)
#   CALLGRIND_KEEP=1 keeps the profiles (printed paths) for callgrind_annotate.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" valgrind binutils curl
mode="${1:-both}"
n="${2:-4000}"
cd "$root"
swift build -c release --product switchboard >&2
work=$(mktemp -d)
# valgrind 3.19 cannot read the DWARF 5 the toolchain emits: count on a copy without it.
cp .build/release/switchboard "$work/switchboard"
objcopy --strip-debug "$work/switchboard"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One run: COUNT requests of KIND; prints the total instructions of the process.
run() {
    local kind=$1 count=$2 port out pid
    port=$(free_port)
    out="$work/callgrind.$kind.$count.out"
    PORT=$port THREADS=1 LOG_LEVEL=error valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$work/switchboard" --host 127.0.0.1 >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
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
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    awk '/^totals:|^summary:/ {print $2; exit}' "$out"
}

small=$((n / 4))
for kind in health post; do
    [[ $mode == both || $mode == "$kind" ]] || continue
    a=$(run "$kind" "$small")
    b=$(run "$kind" "$n")
    python3 -c "print(f'$kind: {($b - $a) / ($n - $small):,.0f} instructions per request ({$n - $small} requests between two runs)')"
done
if [[ -n ${CALLGRIND_KEEP:-} ]]; then echo "profiles kept in $work" >&2; else rm -rf "$work"; fi
