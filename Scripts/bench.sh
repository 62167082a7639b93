#!/usr/bin/env bash
# Side-by-side benchmarks in one go, same load generators, same machine: Switchboard (release)
# vs the Hummingbird and aiohttp peers in ../shared/peers.
#   Scripts/bench.sh [http|fanout|idle|redis|redis-tls|tls|deflate|all]   (default all; redis, redis-tls, tls and deflate are not part of all)
# Switchboard runs twice: with its default THREADS (= CPU count) and with THREADS=1. On a
# 2-core machine the load generator needs one core, so one loop thread is the better setting
# there (see README, Performance); both are shown so neither is hidden.
# http also prints a ceiling: nginx answering a constant 200 from one worker under the same wrk
# commands (GET, and the same POSTs with their bodies discarded), i.e. what this load generator
# can drive on this machine at all.
# Prints one table per scenario with ratios against the peers. Loopback only; every server
# started here is stopped by PID at exit.
#   BENCH_DURATION (10 s), BENCH_ROUNDS (3: fanout, idle, redis, tls), BENCH_CURVE_DURATION (5 s per latency-curve point),
#   BENCH_IDLE_CONNS (10000), BENCH_REDIS_PUB_CONNS (16, redis mode's publisher connections)
#   BENCH_BASELINE=<git rev>: also build that revision (release, in a worktree under /tmp) and
#   run it as one more server, "base", with an sb/base ratio: did a change make anything slower?
#   BENCH_SERVERS="sb base": only these servers (default: all, plus base when set).
# tls: the same fan-out over plain ws/http and over native TLS (wss/https), interleaved rounds of
# the TLS-capable wsload copy in Scripts/bench/wsload against fresh instances of one release
# build, quoted as TLS/plain; then the TLS handshake rate (parallel `openssl s_time -new`).
#   BENCH_TLS_FIXED_RATE (200 events/s), BENCH_IDLE_CONNS (5000), BENCH_HANDSHAKE_CLIENTS (8),
#   BENCH_HANDSHAKE_SECONDS (5)
# redis-tls: Switchboard's Redis connections over plain TCP (redis://) and over TLS (rediss://)
# to one redis-server listening on both (a throwaway CA made with the openssl CLI): POST
# /api/events (wrk -c64) and cross-instance fan-out (two instances), interleaved rounds, with
# Redis CPU per accepted event (INFO used_cpu_* over the POST run); with BENCH_BASELINE also that
# build over plain TCP, so "plain" can be compared with the previous build in the same run.
# deflate: permessage-deflate. The same fan-out of ~1 KB events (padded with words, so they
# compress like text) to subscribers that all offer permessage-deflate and to subscribers that
# offer nothing, interleaved rounds against fresh instances of one release build (Scripts/bench/
# wsload with --deflate: it inflates what it receives, as a real client must); deliveries/s,
# per server CPU-second, p99, and bytes on the wire per delivery at max rate; CPU per delivery of
# the server and of wsload at a fixed rate both reach (on one 2-core machine the max-rate figure
# with deflate is bound by wsload inflating every message); then idle RSS per subscribed
# connection with and without the extension agreed.
#   BENCH_DEFLATE_SUBS (1000), BENCH_DEFLATE_SIZE (1024 bytes), BENCH_DEFLATE_FIXED_RATE (1500
#   events/s), BENCH_IDLE_CONNS (5000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$(cd "$root/../shared" && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" wrk curl iproute2
mode="${1:-all}"
wsload="$shared/bench/wsload/run"
duration="${BENCH_DURATION:-10}"
sb_bin="$root/.build/release/switchboard"
servers=(sb sb1 hb aio)
declare -A PORT=([sb]=16110 [sb1]=16111 [base]=16112 [hb]=16210 [aio]=16310)
declare -A NAME=([sb]="sb(default)" [sb1]="sb(THREADS=1)" [base]="sb@${BENCH_BASELINE:-base}" [hb]=hummingbird [aio]=aiohttp)
declare -A PID=()
base_bin=""
if [[ -n ${BENCH_BASELINE:-} ]]; then
    rev=$(git -C "$root" rev-parse --short "$BENCH_BASELINE")
    base_src="/tmp/switchboard-baseline-$rev"
    [ -d "$base_src" ] || git -C "$root" worktree add --detach "$base_src" "$rev" >&2
    (cd "$base_src" && swift build -c release --product switchboard >&2)
    base_bin="$base_src/.build/release/switchboard"
    servers+=(base)
fi
[[ -n ${BENCH_SERVERS:-} ]] && read -r -a servers <<< "$BENCH_SERVERS"
[[ $mode == tls || $mode == redis-tls || $mode == deflate ]] && servers=()  # their own instances, below
has() { [[ " ${servers[*]} " == *" $1 "* ]]; }

(cd "$root" && swift build -c release --product switchboard >&2)
if has hb; then "$shared/peers/hummingbird-hub/run" --build-only >&2; fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
# A port another process already listens on would be shared through SO_REUSEPORT (same user):
# the kernel would split the load generator's connections between the two servers.
port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
launch() {  # launch NAME: start one server and wait until it answers
    local s=$1 p=${PORT[$1]}
    port_free "$p" || { echo "port $p is already in use: stop what listens there first" >&2; exit 1; }
    case $s in
        sb)  LOG_LEVEL=warning "$sb_bin" --host 127.0.0.1 --port "$p" >/tmp/bench-sb.log 2>&1 & ;;
        sb1) LOG_LEVEL=warning THREADS=1 "$sb_bin" --host 127.0.0.1 --port "$p" >/tmp/bench-sb1.log 2>&1 & ;;
        base) LOG_LEVEL=warning "$base_bin" --host 127.0.0.1 --port "$p" >/tmp/bench-base.log 2>&1 & ;;
        hb)  "$shared/peers/hummingbird-hub/run" --host 127.0.0.1 --port "$p" >/tmp/bench-hb.log 2>&1 & ;;
        aio) "$shared/peers/aiohttp-hub/run" --host 127.0.0.1 --port "$p" >/tmp/bench-aio.log 2>&1 & ;;
    esac
    PID[$s]=$!; pids+=("${PID[$s]}")
    wait_port "$p"
}
restart() { kill "${PID[$1]}"; wait "${PID[$1]}" 2>/dev/null || true; launch "$1"; }  # each scenario starts fresh
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d['$1'])"; }
ratio() { python3 -c "a,b=float('${1:-0}' or 0),float('${2:-0}' or 0); print(f'{a/b:.2f}x' if b else 'n/a')"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" $1; }
header() {
    printf "%-22s" "$1"; for s in "${servers[@]}"; do printf " %14s" "${NAME[$s]}"; done
    printf " %9s %9s %9s %9s" sb/hb sb/aio sb1/hb sb1/aio; has base && printf " %9s" sb/base; printf "\n"
}
row() {  # row LABEL assoc-array-name [ratios]
    local -n v=$2
    printf "%-22s" "$1"; for s in "${servers[@]}"; do printf " %14s" "${v[$s]}"; done
    if [[ ${3:-} == ratios ]]; then
        printf " %9s %9s %9s %9s" "$(ratio "${v[sb]:-}" "${v[hb]:-}")" "$(ratio "${v[sb]:-}" "${v[aio]:-}")" "$(ratio "${v[sb1]:-}" "${v[hb]:-}")" "$(ratio "${v[sb1]:-}" "${v[aio]:-}")"
        has base && printf " %9s" "$(ratio "${v[sb]:-}" "${v[base]:-}")"
    fi
    printf "\n"
}

if [[ $mode != redis && $mode != redis-tls && $mode != tls && $mode != deflate ]]; then
    for s in "${servers[@]}"; do launch "$s"; done
fi

if [[ $mode == tls ]]; then
    ensure_packages openssl iproute2
    tls_wsload="$root/Scripts/bench/wsload/run"
    pki=$(mktemp -d /tmp/switchboard-bench-tls.XXXXXX)
    trap 'cleanup; rm -rf "$pki"' EXIT
    read -r chain key _ < <(python3 - "$root/Tests/python" "$pki" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from tls_certs import ThrowawayPKI
print(*ThrowawayPKI(sys.argv[2]).leaf("bench"))
EOF
)
    PP=16130 TP=16131
    for p in $PP $TP; do port_free $p || { echo "port $p is in use: stop that server or pick other ports" >&2; exit 1; }; done
    start_one() {  # start_one plain|tls: a fresh instance, waits until it answers
        if [[ $1 == plain ]]; then
            LOG_LEVEL=warning "$sb_bin" --host 127.0.0.1 --port $PP >/tmp/bench-sb-plain.log 2>&1 & pids+=($!); one_pid=$!
            wait_port $PP
        else
            LOG_LEVEL=warning TLS_CERT_FILE="$chain" TLS_KEY_FILE="$key" "$sb_bin" --host 127.0.0.1 --port $TP >/tmp/bench-sb-tls.log 2>&1 & pids+=($!); one_pid=$!
            for _ in $(seq 1 300); do curl -sf --cacert "$pki/root.pem" "https://127.0.0.1:$TP/health" >/dev/null && break; sleep 0.1; done
        fi
    }
    stop_one() { kill $one_pid; wait $one_pid 2>/dev/null || true; }
    cpu() { awk '{print $14 + $15}' "/proc/$one_pid/stat"; }  # the server's utime + stime, clock ticks
    per_cpu() { python3 -c "import sys; print(round(float(sys.argv[1]) * int(sys.argv[4]) / max(1, int(sys.argv[3]) - int(sys.argv[2]))))" "$@" "$(getconf CLK_TCK)"; }
    rounds="${BENCH_ROUNDS:-3}"
    rate="${BENCH_TLS_FIXED_RATE:-200}"
    echo "== fan-out, plain vs TLS: 1000 subscribers, 10 sessions, 200-byte events, ${duration}s at max rate and at $rate events/s; medians of $rounds interleaved rounds =="
    declare -A d_all=() p_all=() l_all=() f_all=() e_all=()
    for round in $(seq 1 "$rounds"); do
        for kind in plain tls; do
            if [[ $kind == plain ]]; then sub="ws://127.0.0.1:$PP/ws" pub="http://127.0.0.1:$PP"; else sub="wss://127.0.0.1:$TP/ws" pub="https://127.0.0.1:$TP"; fi
            start_one $kind
            c0=$(cpu)
            out=$("$tls_wsload" fanout --sub-url "$sub" --pub-url "$pub" --subs 1000 --sessions 10 --size 200 --duration $duration --json 2>/dev/null)
            e_all[$kind]+="$(per_cpu "$(echo "$out" | field delivered)" "$c0" "$(cpu)") "
            fixed=$("$tls_wsload" fanout --sub-url "$sub" --pub-url "$pub" --subs 1000 --sessions 10 --size 200 --rate $rate --duration $duration --json 2>/dev/null)
            d_all[$kind]+="$(echo "$out" | field deliveries_per_s) "; p_all[$kind]+="$(echo "$out" | field lat_p99_ms) "
            f_all[$kind]+="$(echo "$fixed" | field lat_p99_ms) "
            l_all[$kind]=$(( ${l_all[$kind]:-0} + $(echo "$out" | field lost) + $(echo "$fixed" | field lost) ))
            echo "  round $round $kind: $(echo "$out" | field deliveries_per_s) deliveries/s ($(echo "${e_all[$kind]}" | awk '{print $NF}') per server CPU-second), p99 $(echo "$out" | field lat_p99_ms) ms; at $rate events/s p99 $(echo "$fixed" | field lat_p99_ms) ms" >&2
            stop_one
        done
    done
    printf "%-28s %14s %14s %10s\n" metric plain tls tls/plain
    dp=$(median "${d_all[plain]}") dt=$(median "${d_all[tls]}")
    printf "%-28s %14s %14s %10s\n" "deliveries/s (max rate)" "$dp" "$dt" "$(ratio "$dt" "$dp")"
    ep=$(median "${e_all[plain]}") et=$(median "${e_all[tls]}")
    printf "%-28s %14s %14s %10s\n" "deliveries/server CPU-s" "$ep" "$et" "$(ratio "$et" "$ep")"
    pp=$(median "${p_all[plain]}") pt=$(median "${p_all[tls]}")
    printf "%-28s %14s %14s %10s\n" "p99 ms (max rate)" "$pp" "$pt" "$(ratio "$pt" "$pp")"
    fp=$(median "${f_all[plain]}") ft=$(median "${f_all[tls]}")
    printf "%-28s %14s %14s %10s\n" "p99 ms @$rate events/s" "$fp" "$ft" "$(ratio "$ft" "$fp")"
    printf "%-28s %14s %14s\n" "lost (all runs)" "${l_all[plain]}" "${l_all[tls]}"

    conns="${BENCH_IDLE_CONNS:-5000}"
    echo "== idle: $conns subscribed connections, server RSS growth per connection =="
    declare -A per=()
    for kind in plain tls; do
        if [[ $kind == plain ]]; then url="ws://127.0.0.1:$PP/ws"; else url="wss://127.0.0.1:$TP/ws"; fi
        start_one $kind
        per[$kind]=$("$tls_wsload" idle --url "$url" --conns "$conns" --sessions 100 --hold 3 --pid "$one_pid" --json 2>/dev/null | field rss_per_conn_bytes)
        stop_one
    done
    printf "%-28s %14s %14s %10s\n" "RSS bytes per idle conn" "${per[plain]}" "${per[tls]}" "$(ratio "${per[tls]}" "${per[plain]}")"

    clients="${BENCH_HANDSHAKE_CLIENTS:-8}" seconds="${BENCH_HANDSHAKE_SECONDS:-5}"
    echo "== TLS handshake rate: $clients parallel 'openssl s_time -new' (full TLS 1.3 handshakes, no resumption), ${seconds}s, ECDSA P-256 certificate =="
    echo "   (clients and server share the machine: the wall rate is bounded by the clients; the server's CPU time per handshake is not)"
    start_one tls
    c0=$(cpu)
    t0=$(date +%s.%N)
    clients_pids=()
    for i in $(seq 1 "$clients"); do
        openssl s_time -connect "127.0.0.1:$TP" -new -time "$seconds" > "$pki/s_time.$i" 2>&1 & clients_pids+=($!)
    done
    wait "${clients_pids[@]}" || true
    t1=$(date +%s.%N)
    total=$(cat "$pki"/s_time.* | awk '/connections in .* real seconds/ {n += $1} END {print n+0}')
    ok=$(curl -sf --cacert "$pki/root.pem" "https://127.0.0.1:$TP/metrics" | awk '/^switchboard_tls_handshakes\{result="ok"\}/ {print $2}')
    c1=$(cpu)
    python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); cpu=(int(sys.argv[6])-int(sys.argv[5]))/int(sys.argv[7]); \
print(f'handshakes: {n} in {t:.1f}s = {n/t:.0f}/s wall (server counted ok: {sys.argv[4]}); server CPU {cpu:.2f}s = {cpu/n*1e6:.0f} us per handshake = {n/cpu:.0f} handshakes per server CPU-second')" \
        "$t0" "$t1" "$total" "${ok:-?}" "$c0" "$c1" "$(getconf CLK_TCK)"
    stop_one
fi

if [[ $mode == deflate ]]; then
    dwsload="$root/Scripts/bench/wsload/run"
    DP=16140
    port_free $DP || { echo "port $DP is in use: stop that server first" >&2; exit 1; }
    start_one() {
        LOG_LEVEL=warning "$sb_bin" --host 127.0.0.1 --port $DP >/tmp/bench-sb-deflate.log 2>&1 & pids+=($!); one_pid=$!
        wait_port $DP
    }
    stop_one() { kill $one_pid; wait $one_pid 2>/dev/null || true; }
    cpu() { awk '{print $14 + $15}' "/proc/$one_pid/stat"; }
    per_cpu() { python3 -c "import sys; print(round(float(sys.argv[1]) * int(sys.argv[4]) / max(1, int(sys.argv[3]) - int(sys.argv[2]))))" "$@" "$(getconf CLK_TCK)"; }
    rounds="${BENCH_ROUNDS:-3}" subs="${BENCH_DEFLATE_SUBS:-1000}" size="${BENCH_DEFLATE_SIZE:-1024}"
    fixed_rate="${BENCH_DEFLATE_FIXED_RATE:-1500}"
    tmp_out=$(mktemp) tmp_time=$(mktemp)
    # µs of CPU per delivery from two CPU-time readings in clock ticks (server) or seconds (wsload).
    us_per() { python3 -c "import sys; print(round(float(sys.argv[1]) * 1e6 / max(1, int(sys.argv[2])), 3))" "$@"; }
    # One wsload run against a fresh server: fills $out, $server_ticks and $wsload_seconds.
    run_one() {
        local kind=$1; shift
        local flags=(--pad-words); [[ $kind == deflate ]] && flags+=(--deflate)
        start_one
        local c0; c0=$(cpu)
        TIMEFORMAT="%U %S"
        { time "$dwsload" fanout --sub-url "ws://127.0.0.1:$DP/ws" --pub-url "http://127.0.0.1:$DP" --subs "$subs" --sessions 10 \
            --size "$size" "$@" "${flags[@]}" --json > "$tmp_out" 2>/dev/null; } 2> "$tmp_time"
        out=$(cat "$tmp_out")
        server_ticks=$(( $(cpu) - c0 ))
        wsload_seconds=$(awk '{print $1 + $2}' "$tmp_time")
        stop_one
    }
    hz=$(getconf CLK_TCK)
    echo "== fan-out, plain vs permessage-deflate: $subs subscribers, 10 sessions, ~$size-byte events (word padding), ${duration}s; medians of $rounds interleaved rounds =="
    echo "   max rate: as fast as the hub answers; fixed: $fixed_rate events/s for both (the same deliveries/s, so CPU per delivery compares like with like)"
    declare -A d_all=() e_all=() p_all=() w_all=() l_all=() c_all=() g_all=() fs_all=() fg_all=() fp_all=()
    for round in $(seq 1 "$rounds"); do
        for kind in plain deflate; do
            run_one "$kind" --duration "$duration"
            delivered=$(echo "$out" | field delivered)
            e_all[$kind]+="$(per_cpu "$delivered" 0 "$server_ticks") "
            g_all[$kind]+="$(us_per "$wsload_seconds" "$delivered") "
            d_all[$kind]+="$(echo "$out" | field deliveries_per_s) "; p_all[$kind]+="$(echo "$out" | field lat_p99_ms) "
            w_all[$kind]+="$(echo "$out" | field wire_bytes_per_delivery) "
            l_all[$kind]=$(( ${l_all[$kind]:-0} + $(echo "$out" | field lost) ))
            c_all[$kind]=$(( ${c_all[$kind]:-0} + $(echo "$out" | field compressed_deliveries) ))
            echo "  round $round $kind, max rate: $(echo "$out" | field deliveries_per_s) deliveries/s ($(echo "${e_all[$kind]}" | awk '{print $NF}') per server CPU-second, wsload $(echo "${g_all[$kind]}" | awk '{print $NF}') µs CPU per delivery), p99 $(echo "$out" | field lat_p99_ms) ms, $(echo "$out" | field wire_bytes_per_delivery) wire bytes per delivery" >&2
            run_one "$kind" --duration "$duration" --rate "$fixed_rate"
            delivered=$(echo "$out" | field delivered)
            fs_all[$kind]+="$(us_per "$(python3 -c "print($server_ticks / $hz)")" "$delivered") "
            fg_all[$kind]+="$(us_per "$wsload_seconds" "$delivered") "
            fp_all[$kind]+="$(echo "$out" | field lat_p99_ms) "
            l_all[$kind]=$(( ${l_all[$kind]:-0} + $(echo "$out" | field lost) ))
            echo "  round $round $kind, $fixed_rate events/s: $(echo "$out" | field deliveries_per_s) deliveries/s, server $(echo "${fs_all[$kind]}" | awk '{print $NF}') µs and wsload $(echo "${fg_all[$kind]}" | awk '{print $NF}') µs CPU per delivery, p99 $(echo "$out" | field lat_p99_ms) ms" >&2
        done
    done
    rm -f "$tmp_out" "$tmp_time"
    printf "%-40s %14s %14s %14s\n" metric plain deflate deflate/plain
    for metric in "deliveries/s (max rate):d_all" "deliveries/server CPU-s (max rate):e_all" "wsload µs CPU/delivery (max rate):g_all" \
                  "p99 ms (max rate):p_all" "server µs CPU/delivery (fixed rate):fs_all" "wsload µs CPU/delivery (fixed rate):fg_all" \
                  "p99 ms (fixed rate):fp_all" "wire bytes per delivery:w_all"; do
        label=${metric%%:*}; declare -n values=${metric##*:}
        mp=$(median "${values[plain]}") md=$(median "${values[deflate]}")
        printf "%-40s %14s %14s %14s\n" "$label" "$mp" "$md" "$(ratio "$md" "$mp")"
        unset -n values
    done
    printf "%-40s %14s %14s\n" "lost (all runs)" "${l_all[plain]}" "${l_all[deflate]}"
    printf "%-40s %14s %14s\n" "compressed deliveries (max rate)" "${c_all[plain]}" "${c_all[deflate]}"

    conns="${BENCH_IDLE_CONNS:-5000}"
    echo "== idle: $conns subscribed connections, server RSS growth per connection, without and with permessage-deflate agreed =="
    declare -A per=()
    for kind in plain deflate; do
        flags=(); [[ $kind == deflate ]] && flags+=(--deflate)
        start_one
        per[$kind]=$("$dwsload" idle --url "ws://127.0.0.1:$DP/ws" --conns "$conns" --sessions 100 --hold 3 --pid "$one_pid" "${flags[@]}" --json 2>/dev/null | field rss_per_conn_bytes)
        stop_one
    done
    printf "%-40s %14s %14s %14s\n" "RSS bytes per idle conn" "${per[plain]}" "${per[deflate]}" "$(ratio "${per[deflate]}" "${per[plain]}")"
fi

if [[ $mode == http || $mode == all ]]; then
    echo "== wrk, 1 thread, 64 connections, ${duration}s =="
    header scenario
    for scenario in health post; do
        declare -A rps=()
        for s in "${servers[@]}"; do
            if [[ $scenario == health ]]; then
                out=$(wrk -t1 -c64 -d${duration}s "http://127.0.0.1:${PORT[$s]}/health")
            else
                out=$(wrk -t1 -c64 -d${duration}s -s "$root/Scripts/bench/post-event.lua" "http://127.0.0.1:${PORT[$s]}")
            fi
            rps[$s]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
            non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
            [ -n "$non2xx" ] && echo "  note: ${NAME[$s]} answered $non2xx non-2xx responses in $scenario" >&2
        done
        row "$scenario req/s" rps ratios
        [[ $scenario == health ]] && health_hb=${rps[hb]:-}
        [[ $scenario == post ]] && post_hb=${rps[hb]:-}
    done
    # What this load generator can drive at all on this machine: nginx answering a constant
    # 200 from one worker (no parsing of a body, no JSON), same wrk command as above.
    if command -v nginx >/dev/null && has hb; then
        ngx=$(mktemp -d /tmp/switchboard-bench-nginx.XXXXXX)
        ngx_port=16410
        printf 'worker_processes 1;\ndaemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log;\nevents { worker_connections 1024; }\nhttp { access_log off; server { listen 127.0.0.1:%s; location / { default_type application/json; return 200 %s; } } }\n' \
            "$ngx" "$ngx" "$ngx_port" "'{\"status\":\"ok\"}'" > "$ngx/nginx.conf"
        nginx -c "$ngx/nginx.conf" -p "$ngx" 2>/dev/null & ngx_pid=$!; pids+=("$ngx_pid")
        for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$ngx_port/" >/dev/null && break; sleep 0.1; done
        ceiling=$(wrk -t1 -c64 -d${duration}s "http://127.0.0.1:$ngx_port/health" | awk '/Requests\/sec/ {print $2}')
        # The same POSTs (the wrk script builds each body in Lua): nginx discards the body.
        post_ceiling=$(wrk -t1 -c64 -d${duration}s -s "$root/Scripts/bench/post-event.lua" "http://127.0.0.1:$ngx_port" | awk '/Requests\/sec/ {print $2}')
        kill "$ngx_pid"; wait "$ngx_pid" 2>/dev/null || true; rm -rf "$ngx"
        echo "ceiling: nginx 'return 200' (1 worker), same wrk: GET $ceiling req/s = $(ratio "$ceiling" "${health_hb:-}") the Hummingbird peer's health req/s; POST $post_ceiling req/s = $(ratio "$post_ceiling" "${post_hb:-}") its POST req/s"
    fi
    for s in "${servers[@]}"; do restart "$s"; done
fi

if [[ $mode == fanout || $mode == all ]]; then
    rounds="${BENCH_ROUNDS:-3}"
    echo "== wsload fanout: 1000 subscribers, 10 sessions, 200-byte events, max rate, ${duration}s; median of $rounds interleaved rounds =="
    declare -A dps_all=() p99_all=() lost_all=()
    for round in $(seq 1 "$rounds"); do
        for s in "${servers[@]}"; do
            p=${PORT[$s]}
            out=$("$wsload" fanout --sub-url ws://127.0.0.1:$p/ws --pub-url http://127.0.0.1:$p --subs 1000 --sessions 10 --size 200 --duration $duration --json 2>/dev/null)
            dps_all[$s]+="$(echo "$out" | field deliveries_per_s) "; p99_all[$s]+="$(echo "$out" | field lat_p99_ms) "
            lost_all[$s]=$(( ${lost_all[$s]:-0} + $(echo "$out" | field lost) ))
            echo "  round $round ${NAME[$s]}: $(echo "$out" | field deliveries_per_s) deliveries/s, p99 $(echo "$out" | field lat_p99_ms) ms" >&2
            restart "$s"
        done
    done
    declare -A dps=() p99=()
    for s in "${servers[@]}"; do dps[$s]=$(median "${dps_all[$s]}"); p99[$s]=$(median "${p99_all[$s]}"); done
    header metric
    row "deliveries/s" dps ratios
    row "p99 ms (max rate)" p99
    row "lost (all rounds)" lost_all
    # The latency curve: p50/p99 at fixed event rates of 1/4, 1/2, 1, 2 and 4 times the
    # Hummingbird peer's max rate (its deliveries/s above / 100 subscribers per session), medians
    # of interleaved rounds. A server "keeps up" when it published at least 95% of the rate.
    hb_events=$(python3 -c "print(float('${dps[hb]:-${BENCH_FIXED_RATE_DPS:-100000}}') / 100)")
    curve_duration="${BENCH_CURVE_DURATION:-5}"
    echo "== latency curve: fixed event rates relative to the Hummingbird peer's max (${hb_events} events/s), ${curve_duration}s, median of $rounds rounds =="
    printf "%-18s" "rate"; for s in "${servers[@]}"; do printf " %22s" "${NAME[$s]} p50/p99"; done; printf "\n"
    declare -A sb_p99_at=() sb_cpu_at=()
    tmp_out=$(mktemp); tmp_time=$(mktemp)
    # CPU time of the server and of wsload over each of sb's runs, per second of the run (1.0 =
    # one core; the machine has $(nproc)): where the curve bends, the two together near the
    # machine's cores. Process accounting (/proc/PID/stat, the shell's `time`): this VM's
    # /proc/stat idle counts are not reliable.
    proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
    for mult in 0.25 0.5 1 2 4; do
        rate=$(python3 -c "print(max(1, int($hb_events * $mult)))")
        declare -A c50=() c99=() crate=() clost=()
        for round in $(seq 1 "$rounds"); do
            for s in "${servers[@]}"; do
                p=${PORT[$s]}
                server_before=$(proc_cpu "${PID[$s]}"); t0=$(date +%s.%N)
                TIMEFORMAT="%U %S"
                { time "$wsload" fanout --sub-url ws://127.0.0.1:$p/ws --pub-url http://127.0.0.1:$p --subs 1000 --sessions 10 --size 200 --rate $rate --duration $curve_duration --json > "$tmp_out" 2>/dev/null; } 2> "$tmp_time"
                out=$(cat "$tmp_out")
                if [[ $s == sb ]]; then
                    sb_cpu_at[$mult]+="$(python3 -c "import sys; t=float(sys.argv[5])-float(sys.argv[4]); hz=int(sys.argv[3]); s=(int(sys.argv[2])-int(sys.argv[1]))/hz; u,k=map(float,open(sys.argv[6]).read().split()); print(f'{s/t:.2f}+{(u+k)/t:.2f}')" \
                        "$server_before" "$(proc_cpu "${PID[$s]}")" "$(getconf CLK_TCK)" "$t0" "$(date +%s.%N)" "$tmp_time") "
                fi
                c50[$s]+="$(echo "$out" | field lat_p50_ms) "; c99[$s]+="$(echo "$out" | field lat_p99_ms) "
                crate[$s]+="$(echo "$out" | field publish_rate) "
                clost[$s]=$(( ${clost[$s]:-0} + $(echo "$out" | field lost) ))
                restart "$s"
            done
        done
        printf "%-18s" "${mult}x = ${rate}/s"
        for s in "${servers[@]}"; do
            m50=$(median "${c50[$s]}"); m99=$(median "${c99[$s]}"); mrate=$(median "${crate[$s]}")
            if python3 -c "import sys; sys.exit(0 if $mrate >= 0.95 * $rate else 1)"; then
                [[ $s == sb ]] && sb_p99_at[$mult]=$m99
                printf " %22s" "$(printf '%.2f/%.2f ms' "$m50" "$m99")"
            else
                printf " %22s" "behind ($(printf '%.0f' "$mrate")/s)"
            fi
            [[ ${clost[$s]} -ne 0 ]] && echo "  note: ${NAME[$s]} lost ${clost[$s]} events at ${rate}/s" >&2
        done
        printf "\n"
    done
    rm -f "$tmp_out" "$tmp_time"
    if has sb; then
        # Round by round (no median of a sum): server + wsload cores busy.
        printf "CPU during sb's runs, server+wsload cores busy (%s cores in all):" "$(nproc)"
        for mult in 0.25 0.5 1 2 4; do printf " %sx %s" "$mult" "${sb_cpu_at[$mult]% }"; done
        printf "\n"
    fi
    if [[ -n ${sb_p99_at[2]:-} && -n ${sb_p99_at[0.5]:-} ]]; then
        echo "flatness (sb p99 at 2x / at 0.5x; bar <= 2): $(ratio "${sb_p99_at[2]}" "${sb_p99_at[0.5]}")"
    elif has sb; then
        echo "flatness: n/a (sb did not keep up at 0.5x or 2x)"
    fi
fi

if [[ $mode == idle || $mode == all ]]; then
    conns="${BENCH_IDLE_CONNS:-10000}"
    rounds="${BENCH_ROUNDS:-3}"
    # Interleaved rounds, median per server: the first measurement of a run reads 60-100 B per
    # connection higher than later ones, whichever server takes it (seen with the servers in
    # either order), so a single pass would favour the servers measured last.
    echo "== wsload idle: ${conns} subscribed connections, RSS growth per connection; median of $rounds interleaved rounds =="
    declare -A per=() per_all=()
    for round in $(seq 1 "$rounds"); do
        for s in "${servers[@]}"; do
            out=$("$wsload" idle --url ws://127.0.0.1:${PORT[$s]}/ws --conns $conns --sessions 100 --hold 5 --pid "${PID[$s]}" --json 2>/dev/null)
            per_all[$s]+="$(echo "$out" | field rss_per_conn_bytes) "
            restart "$s"
        done
    done
    for s in "${servers[@]}"; do
        per[$s]=$(median "${per_all[$s]}")
        echo "  ${NAME[$s]}: ${per_all[$s]}" >&2
    done
    header "bytes/conn"
    row "bytes/conn" per ratios
fi

if [[ $mode == redis ]]; then
    ensure_packages redis-server redis-tools
    RP=16399
    redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no --daemonize no > /tmp/bench-redis.log 2>&1 & pids+=($!)
    for _ in $(seq 1 50); do redis-cli -p $RP ping >/dev/null 2>&1 && break; sleep 0.1; done
    # Publisher connections, one request in flight each, for both the memory and the Redis runs.
    # With wsload's default of 4, the Redis run measures the POST round trip through Redis
    # (4 / RTT events/s, Redis itself ~12% busy) rather than what the bus can deliver.
    redis_pub_conns="${BENCH_REDIS_PUB_CONNS:-16}"
    echo "== fan-out, memory vs two instances on one Redis: 1000 subscribers, 10 sessions, $redis_pub_conns publisher connections =="
    printf "%-40s %14s %10s %10s\n" scenario deliveries/s p99-ms lost
    for threads in default 1; do
        env_threads=(); [[ $threads == 1 ]] && env_threads=(THREADS=1)
        mem=16120 r1=16121 r2=16122
        env "${env_threads[@]}" LOG_LEVEL=warning "$sb_bin" --host 127.0.0.1 --port $mem >/tmp/bench-sb-mem.log 2>&1 & pids+=($!); mem_pid=$!
        for p in $r1 $r2; do
            env "${env_threads[@]}" REDIS_URL=redis://127.0.0.1:$RP LOG_LEVEL=warning "$sb_bin" --host 127.0.0.1 --port $p >/tmp/bench-sb-$p.log 2>&1 & pids+=($!)
        done
        r_pids=("${pids[@]: -2}")
        wait_port $mem; wait_port $r1; wait_port $r2
        rounds="${BENCH_ROUNDS:-3}"
        m_all="" r_all="" m_p99="" r_p99="" lost1=0 lost2=0
        for round in $(seq 1 "$rounds"); do  # interleaved rounds, medians: one sample is noise
            out1=$("$wsload" fanout --sub-url ws://127.0.0.1:$mem/ws --pub-url http://127.0.0.1:$mem --subs 1000 --sessions 10 --size 200 --duration $duration --pub-conns "$redis_pub_conns" --json 2>/dev/null)
            out2=$("$wsload" fanout --sub-url ws://127.0.0.1:$r1/ws --sub-url ws://127.0.0.1:$r2/ws --pub-url http://127.0.0.1:$r1 --subs 1000 --sessions 10 --size 200 --duration $duration --pub-conns "$redis_pub_conns" --json 2>/dev/null)
            m_all+="$(echo "$out1" | field deliveries_per_s) "; r_all+="$(echo "$out2" | field deliveries_per_s) "
            m_p99+="$(echo "$out1" | field lat_p99_ms) "; r_p99+="$(echo "$out2" | field lat_p99_ms) "
            lost1=$(( lost1 + $(echo "$out1" | field lost) )); lost2=$(( lost2 + $(echo "$out2" | field lost) ))
            echo "  round $round THREADS=$threads: memory $(echo "$out1" | field deliveries_per_s), redis $(echo "$out2" | field deliveries_per_s) deliveries/s" >&2
        done
        d1=$(median "$m_all"); d2=$(median "$r_all")
        printf "%-40s %14s %10s %10s\n" "THREADS=$threads: 1 instance, memory" "$d1" "$(median "$m_p99")" "$lost1"
        printf "%-40s %14s %10s %10s\n" "THREADS=$threads: 2 instances, redis" "$d2" "$(median "$r_p99")" "$lost2"
        echo "THREADS=$threads: redis/memory ratio $(ratio $d2 $d1) (medians of $rounds rounds)"
        if [[ $threads == default ]]; then
            echo "== POST /api/events on one Redis-backed instance (wrk -t1 -c64) vs the append script run directly (redis-benchmark -c 64) =="
            redis-cli -p $RP CONFIG RESETSTAT >/dev/null
            cpu_before=$(redis-cli -p $RP INFO cpu | tr -d '\r' | awk -F: '/used_cpu_(sys|user):/ {s+=$2} END {print s}')
            wrk_out=$(wrk -t1 -c64 -d${duration}s -s "$root/Scripts/bench/post-event.lua" "http://127.0.0.1:$r1")
            post=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')
            posted=$(echo "$wrk_out" | awk '/requests in/ {print $1}')
            cpu_after=$(redis-cli -p $RP INFO cpu | tr -d '\r' | awk -F: '/used_cpu_(sys|user):/ {s+=$2} END {print s}')
            calls=$(redis-cli -p $RP INFO commandstats | tr -d '\r' | grep -o 'cmdstat_evalsha:calls=[0-9]*' | cut -d= -f2)
            # Group commit: the appends of one loop turn share one script call.
            echo "switchboard POST: $(python3 -c "print(f'{$calls / $posted:.3f} EVALSHA per event, {($cpu_after - $cpu_before) * 1e6 / $posted:.2f} us of Redis CPU per event (INFO cpu)')")"
            sha=$(redis-cli -p $RP SCRIPT LOAD "$("$sb_bin" redis-script appendEvents)")
            body='{"eventId":"bench","sessionId":"rb","type":"bench","timestamp":"2026-11-24T12:00:00.000Z","data":{"n":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}'
            # The append script's layout (RedisScripts.appendEventsSource): 10 fixed arguments (no session channel: the last three empty), then 5 keys and 5 arguments per event.
            redis-cli -p $RP CONFIG RESETSTAT >/dev/null
            direct=$(redis-benchmark -p $RP -c 64 -n 300000 -q EVALSHA "$sha" 5 afw:seq:rb afw:events:rb afw:times:rb afw:epoch:rb afw:idem:rb: \
                10000 86400 afw:events 2026-11-24T12:00:00.000Z 000000000000000 300 1 "" "" "" rb "$body" bench 0 1764000000000 \
                | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | awk '{print $1}')
            printf "%-40s %14s\n" "switchboard POST req/s" "$post"
            printf "%-40s %14s\n" "redis-benchmark EVALSHA req/s" "$direct"
            echo "switchboard/redis-benchmark ratio: $(ratio $post $direct)"
            # Redis CPU per appended event: the script against the commands it runs (commands
            # called from a script are counted in commandstats too).
            redis-cli -p $RP INFO commandstats | tr -d '\r' | python3 -c '
import re, sys
script, commands = None, 0
for line in sys.stdin:
    m = re.match(r"cmdstat_([a-z|]+):calls=(\d+),usec=(\d+),", line)
    if not m: continue
    name, calls, usec = m.group(1), int(m.group(2)), int(m.group(3))
    if name == "evalsha": script = (calls, usec)
    elif "|" not in name: commands += usec
calls, usec = script
print(f"append script: {usec / calls:.2f} us per EVALSHA; its commands {commands / calls:.2f} us; ratio {usec / max(commands, 1):.2f}")'
        fi
        kill $mem_pid "${r_pids[@]}"; wait $mem_pid "${r_pids[@]}" 2>/dev/null || true
        redis-cli -p $RP FLUSHALL >/dev/null
    done
fi

if [[ $mode == redis-tls ]]; then
    ensure_packages redis-server redis-tools openssl
    pki=$(mktemp -d /tmp/switchboard-bench-redis-tls.XXXXXX)
    read -r chain key _ < <(python3 - "$root/Tests/python" "$pki" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from tls_certs import ThrowawayPKI
print(*ThrowawayPKI(sys.argv[2]).leaf("redis"))
PY
)
    RP=16399 RTP=16398
    redis-server --port $RP --tls-port $RTP --tls-cert-file "$chain" --tls-key-file "$key" --tls-ca-cert-file "$pki/root.pem" \
        --tls-auth-clients no --bind 127.0.0.1 --save "" --appendonly no --daemonize no > /tmp/bench-redis.log 2>&1 & pids+=($!)
    for _ in $(seq 1 50); do redis-cli -p $RP ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis_cpu() { redis-cli -p $RP INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {t += $2} END {printf "%.6f", t}'; }
    accepted() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^switchboard_events_accepted_total / {print $2}'; }
    kinds=(plain tls); [[ -n $base_bin ]] && kinds+=(base)
    declare -A BIN=([plain]="$sb_bin" [tls]="$sb_bin" [base]="$base_bin")
    declare -A URL=([plain]="redis://127.0.0.1:$RP" [tls]="rediss://127.0.0.1:$RTP" [base]="redis://127.0.0.1:$RP")
    declare -A P1=([plain]=16131 [tls]=16133 [base]=16135) P2=([plain]=16132 [tls]=16134 [base]=16136)
    for kind in "${kinds[@]}"; do
        for p in ${P1[$kind]} ${P2[$kind]}; do
            port_free "$p" || { echo "port $p is in use" >&2; exit 1; }
            tls_env=(); [[ $kind == tls ]] && tls_env=(REDIS_TLS_CA_FILE="$pki/root.pem")
            env "${tls_env[@]}" REDIS_URL="${URL[$kind]}" METRICS_PUBLIC=true LOG_LEVEL=warning \
                "${BIN[$kind]}" --host 127.0.0.1 --port $p >/tmp/bench-sb-$p.log 2>&1 & pids+=($!)
        done
    done
    for kind in "${kinds[@]}"; do wait_port ${P1[$kind]}; wait_port ${P2[$kind]}; done
    sleep 1
    rounds="${BENCH_ROUNDS:-3}"
    declare -A POST=() CPU=() FAN=() P99=() LOST=()
    echo "== Redis over plain TCP vs TLS: POST /api/events (wrk -t1 -c64, ${duration}s) and fan-out across two instances (1000 subscribers, 10 sessions, 16 publisher connections); medians of $rounds interleaved rounds =="
    for round in $(seq 1 "$rounds"); do
        for kind in "${kinds[@]}"; do
            a0=$(accepted ${P1[$kind]}); c0=$(redis_cpu)
            post=$(wrk -t1 -c64 -d${duration}s -s "$root/Scripts/bench/post-event.lua" "http://127.0.0.1:${P1[$kind]}" | awk '/Requests\/sec/ {print $2}')
            c1=$(redis_cpu); a1=$(accepted ${P1[$kind]})
            cpu=$(python3 -c "print(f'{($c1 - $c0) * 1e6 / max($a1 - $a0, 1):.2f}')")
            out=$("$wsload" fanout --sub-url ws://127.0.0.1:${P1[$kind]}/ws --sub-url ws://127.0.0.1:${P2[$kind]}/ws --pub-url http://127.0.0.1:${P1[$kind]} \
                  --subs 1000 --sessions 10 --size 200 --duration $duration --pub-conns 16 --json 2>/dev/null)
            POST[$kind]+="$post "; CPU[$kind]+="$cpu "; FAN[$kind]+="$(echo "$out" | field deliveries_per_s) "
            P99[$kind]+="$(echo "$out" | field lat_p99_ms) "; LOST[$kind]=$(( ${LOST[$kind]:-0} + $(echo "$out" | field lost) ))
            echo "  round $round $kind: POST $post req/s, Redis CPU $cpu us/event; fan-out $(echo "$out" | field deliveries_per_s) deliveries/s" >&2
            redis-cli -p $RP FLUSHALL >/dev/null
        done
    done
    printf "%-28s %12s %16s %16s %10s %8s\n" redis "POST req/s" "Redis us/event" "deliveries/s" "p99-ms" lost
    for kind in "${kinds[@]}"; do
        printf "%-28s %12s %16s %16s %10s %8s\n" "$kind${BENCH_BASELINE:+$( [[ $kind == base ]] && echo "@$BENCH_BASELINE")}" \
            "$(median "${POST[$kind]}")" "$(median "${CPU[$kind]}")" "$(median "${FAN[$kind]}")" "$(median "${P99[$kind]}")" "${LOST[$kind]}"
    done
    echo "TLS/plain: POST $(ratio "$(median "${POST[tls]}")" "$(median "${POST[plain]}")"), deliveries $(ratio "$(median "${FAN[tls]}")" "$(median "${FAN[plain]}")")"
    if [[ -n $base_bin ]]; then
        echo "plain/base: POST $(ratio "$(median "${POST[plain]}")" "$(median "${POST[base]}")"), deliveries $(ratio "$(median "${FAN[plain]}")" "$(median "${FAN[base]}")")"
    fi
    rm -rf "$pki"
fi
