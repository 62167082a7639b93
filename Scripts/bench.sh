#!/usr/bin/env bash
# Side-by-side benchmarks in one go, same load generators, same machine:
# Switchboard (release) vs the Hummingbird and aiohttp peers in ../shared/peers.
#   Scripts/bench.sh [http|fanout|idle|redis|all]   (default all; redis is not part of all)
# Prints one table per scenario with ratios against the peers. Loopback only; every server
# started here is stopped by PID at exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$(cd "$root/../shared" && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" wrk
mode="${1:-all}"
wsload="$shared/bench/wsload/run"
duration="${BENCH_DURATION:-10}"
SB_PORT=16110 HB_PORT=16210 AIO_PORT=16310

(cd "$root" && swift build -c release --product switchboard >&2)
"$shared/peers/hummingbird-hub/run" --build-only >&2

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
start_servers() {
    LOG_LEVEL=warning "$root/.build/release/switchboard" --host 127.0.0.1 --port $SB_PORT >/tmp/bench-sb.log 2>&1 & pids+=($!); SB_PID=$!
    "$shared/peers/hummingbird-hub/run" --host 127.0.0.1 --port $HB_PORT >/tmp/bench-hb.log 2>&1 & pids+=($!); HB_PID=$!
    "$shared/peers/aiohttp-hub/run" --host 127.0.0.1 --port $AIO_PORT >/tmp/bench-aio.log 2>&1 & pids+=($!); AIO_PID=$!
    wait_port $SB_PORT; wait_port $HB_PORT; wait_port $AIO_PORT
}
restart() {  # restart one server so each scenario starts fresh
    local name=$1
    case $name in
        sb) kill $SB_PID; wait $SB_PID 2>/dev/null || true
            LOG_LEVEL=warning "$root/.build/release/switchboard" --host 127.0.0.1 --port $SB_PORT >/tmp/bench-sb.log 2>&1 & pids+=($!); SB_PID=$!; wait_port $SB_PORT ;;
        hb) kill $HB_PID; wait $HB_PID 2>/dev/null || true
            "$shared/peers/hummingbird-hub/run" --host 127.0.0.1 --port $HB_PORT >/tmp/bench-hb.log 2>&1 & pids+=($!); HB_PID=$!; wait_port $HB_PORT ;;
        aio) kill $AIO_PID; wait $AIO_PID 2>/dev/null || true
            "$shared/peers/aiohttp-hub/run" --host 127.0.0.1 --port $AIO_PORT >/tmp/bench-aio.log 2>&1 & pids+=($!); AIO_PID=$!; wait_port $AIO_PORT ;;
    esac
}
port_of() { case $1 in sb) echo $SB_PORT;; hb) echo $HB_PORT;; aio) echo $AIO_PORT;; esac; }
pid_of() { case $1 in sb) echo $SB_PID;; hb) echo $HB_PID;; aio) echo $AIO_PID;; esac; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d['$1'])"; }
ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{a/b:.2f}x' if b else 'n/a')"; }

start_servers

if [[ $mode == http || $mode == all ]]; then
    echo "== wrk, 1 thread, 64 connections, ${duration}s =="
    printf "%-22s %14s %14s %14s %10s %10s\n" scenario switchboard hummingbird aiohttp vs-hb vs-aio
    for scenario in health post; do
        declare -A rps=()
        for s in sb hb aio; do
            if [[ $scenario == health ]]; then
                out=$(wrk -t1 -c64 -d${duration}s "http://127.0.0.1:$(port_of $s)/health")
            else
                out=$(wrk -t1 -c64 -d${duration}s -s "$root/Scripts/bench/post-event.lua" "http://127.0.0.1:$(port_of $s)")
            fi
            rps[$s]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
            non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
            [ -n "$non2xx" ] && echo "  note: $s answered $non2xx non-2xx responses in $scenario" >&2
        done
        printf "%-22s %14s %14s %14s %10s %10s\n" "$scenario req/s" "${rps[sb]}" "${rps[hb]}" "${rps[aio]}" "$(ratio ${rps[sb]} ${rps[hb]})" "$(ratio ${rps[sb]} ${rps[aio]})"
    done
    restart sb; restart hb; restart aio
fi

if [[ $mode == fanout || $mode == all ]]; then
    rounds="${BENCH_ROUNDS:-3}"
    echo "== wsload fanout: 1000 subscribers, 10 sessions, 200-byte events, max rate, ${duration}s; median of $rounds interleaved rounds =="
    declare -A dps_all=() p99_all=() lost_all=()
    for round in $(seq 1 "$rounds"); do
        for s in sb hb aio; do
            p=$(port_of $s)
            out=$("$wsload" fanout --sub-url ws://127.0.0.1:$p/ws --pub-url http://127.0.0.1:$p --subs 1000 --sessions 10 --size 200 --duration $duration --json)
            dps_all[$s]+="$(echo "$out" | field deliveries_per_s) "; p99_all[$s]+="$(echo "$out" | field lat_p99_ms) "
            lost_all[$s]=$(( ${lost_all[$s]:-0} + $(echo "$out" | field lost) ))
            echo "  round $round $s: $(echo "$out" | field deliveries_per_s) deliveries/s, p99 $(echo "$out" | field lat_p99_ms) ms" >&2
            restart $s
        done
    done
    median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" $1; }
    declare -A dps=() p99=()
    for s in sb hb aio; do dps[$s]=$(median "${dps_all[$s]}"); p99[$s]=$(median "${p99_all[$s]}"); done
    printf "%-22s %14s %14s %14s %10s %10s\n" metric switchboard hummingbird aiohttp vs-hb vs-aio
    printf "%-22s %14s %14s %14s %10s %10s\n" "deliveries/s" "${dps[sb]}" "${dps[hb]}" "${dps[aio]}" "$(ratio ${dps[sb]} ${dps[hb]})" "$(ratio ${dps[sb]} ${dps[aio]})"
    printf "%-22s %14s %14s %14s\n" "p99 ms (max rate)" "${p99[sb]}" "${p99[hb]}" "${p99[aio]}"
    printf "%-22s %14s %14s %14s\n" "lost (all rounds)" "${lost_all[sb]}" "${lost_all[hb]}" "${lost_all[aio]}"
    # Latency at a fixed rate: half of the Hummingbird peer's max deliveries, in events/s.
    rate=$(python3 -c "print(max(1, int(float('${dps[hb]}') / 100 / 2)))")
    echo "== fixed rate ${rate} events/s (half the Hummingbird peer's max), p99 latency =="
    declare -A fp99=()
    for s in sb hb aio; do
        p=$(port_of $s)
        out=$("$wsload" fanout --sub-url ws://127.0.0.1:$p/ws --pub-url http://127.0.0.1:$p --subs 1000 --sessions 10 --size 200 --rate $rate --duration $duration --json)
        fp99[$s]=$(echo "$out" | field lat_p99_ms)
        restart $s
    done
    printf "%-22s %14s %14s %14s\n" "p99 ms @${rate}/s" "${fp99[sb]}" "${fp99[hb]}" "${fp99[aio]}"
fi

if [[ $mode == idle || $mode == all ]]; then
    conns="${BENCH_IDLE_CONNS:-10000}"
    echo "== wsload idle: ${conns} subscribed connections, RSS growth per connection =="
    declare -A per=()
    for s in sb hb aio; do
        p=$(port_of $s)
        out=$("$wsload" idle --url ws://127.0.0.1:$p/ws --conns $conns --sessions 100 --hold 5 --pid $(pid_of $s) --json)
        per[$s]=$(echo "$out" | field rss_per_conn_bytes)
        restart $s
    done
    printf "%-22s %14s %14s %14s %10s %10s\n" "bytes/conn" "${per[sb]}" "${per[hb]}" "${per[aio]}" "$(ratio ${per[sb]} ${per[hb]})" "$(ratio ${per[sb]} ${per[aio]})"
fi

if [[ $mode == redis ]]; then
    ensure_packages redis-server redis-tools
    RP=16399 R1=16121 R2=16122
    redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no --daemonize no > /tmp/bench-redis.log 2>&1 & pids+=($!)
    for _ in $(seq 1 50); do redis-cli -p $RP ping >/dev/null 2>&1 && break; sleep 0.1; done
    for p in $R1 $R2; do
        REDIS_URL=redis://127.0.0.1:$RP LOG_LEVEL=warning "$root/.build/release/switchboard" --host 127.0.0.1 --port $p >/tmp/bench-sb-$p.log 2>&1 & pids+=($!)
        wait_port $p
    done
    echo "== fanout: 2 Redis-backed instances (subscribers split, publisher on one) vs 1 memory instance, ${duration}s =="
    out1=$("$wsload" fanout --sub-url ws://127.0.0.1:$SB_PORT/ws --pub-url http://127.0.0.1:$SB_PORT --subs 1000 --sessions 10 --size 200 --duration $duration --json)
    out2=$("$wsload" fanout --sub-url ws://127.0.0.1:$R1/ws --sub-url ws://127.0.0.1:$R2/ws --pub-url http://127.0.0.1:$R1 --subs 1000 --sessions 10 --size 200 --duration $duration --json)
    d1=$(echo "$out1" | field deliveries_per_s); d2=$(echo "$out2" | field deliveries_per_s)
    printf "%-34s %14s %10s %10s\n" scenario deliveries/s p99-ms lost
    printf "%-34s %14s %10s %10s\n" "1 instance, memory" "$d1" "$(echo "$out1" | field lat_p99_ms)" "$(echo "$out1" | field lost)"
    printf "%-34s %14s %10s %10s\n" "2 instances, redis" "$d2" "$(echo "$out2" | field lat_p99_ms)" "$(echo "$out2" | field lost)"
    echo "redis/memory ratio: $(ratio $d2 $d1)"
    echo "== POST /api/events on one Redis-backed instance (wrk) vs the append script run directly (redis-benchmark) =="
    post=$(wrk -t1 -c64 -d${duration}s -s "$root/Scripts/bench/post-event.lua" "http://127.0.0.1:$R1" | awk '/Requests\/sec/ {print $2}')
    sha=$(redis-cli -p $RP SCRIPT LOAD "$("$root/.build/release/switchboard" redis-script appendEvents)")
    body='{"eventId":"bench","sessionId":"rb","type":"bench","timestamp":"2026-11-24T12:00:00.000Z","data":{"n":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}'
    direct=$(redis-benchmark -p $RP -c 64 -n 300000 -q EVALSHA "$sha" 2 afw:seq:rb afw:events:rb 10000 86400 afw:events 2026-11-24T12:00:00.000Z rb "$body" | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | awk '{print $1}')
    printf "%-34s %14s\n" "switchboard POST req/s" "$post"
    printf "%-34s %14s\n" "redis-benchmark EVALSHA req/s" "$direct"
    echo "switchboard/redis-benchmark ratio: $(ratio $post $direct)"
fi
