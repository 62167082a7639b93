#!/usr/bin/env bash
# Measures the inputs of the capacity model in REDIS_INTEGRATION.md ("A million connections"):
#   1. one instance on one Redis: deliveries/s, instance CPU per delivery, Redis CPU and
#      Redis command time (INFO commandstats) per event; and (bus) the CPU an instance spends
#      on a channel message for a session it has no subscriber for;
#   2. RSS per idle subscribed connection at 5k, 10k and 19k connections, and the slope
#      between the first and last point (19k: a process here may open 20,000 files), with the
#      kernel's socket-buffer memory per connection from /proc/net/sockstat;
#   3. 1, 2 and 4 instances on one and on two shards (REDIS_URL list): deliveries/s, the ratio
#      to one instance, Redis CPU per event, and the share of channel messages an instance
#      receives for sessions it has no subscriber for (switchboard_bus_messages_*).
#
#   Scripts/scale-model.sh [all|fanout|bus|idle|instances]      (default all)
#   SCALE_DURATION=5  SCALE_SUBS=1000  SCALE_SESSIONS=20  SCALE_SIZE=200
#   SCALE_IDLE="5000 10000 19000"  SCALE_INSTANCES="1 2 4"  SCALE_SHARDS="1 2"
#   SCALE_CHANNEL_MODE=shared|session (REDIS_CHANNEL_MODE of the instances, default shared)
#   SWITCHBOARD_BIN=<binary> (default: a release build made here)
#
# Load generator: wsload (../shared/bench/wsload, as Scripts/bench.sh). Everything runs on
# 127.0.0.1; every process started here is stopped by PID at exit. Results go to stdout as a
# table and one JSON object per measurement (lines starting with `{`). The load generator
# shares the machine: compare figures only within one run, and say what machine it was.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" redis-server redis-tools curl
mode="${1:-all}"
duration="${SCALE_DURATION:-5}"
subs="${SCALE_SUBS:-1000}"
sessions="${SCALE_SESSIONS:-20}"
size="${SCALE_SIZE:-200}"
idle_points="${SCALE_IDLE:-5000 10000 19000}"
instance_counts="${SCALE_INSTANCES:-1 2 4}"
shard_counts="${SCALE_SHARDS:-1 2}"
wsload="$(cd "$root/.." && pwd)/shared/bench/wsload/run"
[ -x "$wsload" ] || { echo "wsload not found at $wsload" >&2; exit 2; }
if [ -z "${SWITCHBOARD_BIN:-}" ]; then
    (cd "$root" && swift build -c release --product switchboard >&2)
    SWITCHBOARD_BIN="$(cd "$root" && swift build -c release --show-bin-path)/switchboard"
fi
tick=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/scale-model.XXXXXX)

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime of one process
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_redis → "port pid"
start_redis() {
    local port; port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no >/dev/null 2>&1 &
    local pid=$!; pids+=("$pid")
    for _ in $(seq 1 100); do redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break; sleep 0.05; done
    echo "$port $pid"
}

# start_sb REDIS_URL → "port pid"
start_sb() {
    local port; port=$(free_port)
    LOG_LEVEL=warning THREADS="${SCALE_THREADS:-1}" REDIS_URL="$1" REDIS_CHANNEL_MODE="${SCALE_CHANNEL_MODE:-shared}" \
        "$SWITCHBOARD_BIN" --host 127.0.0.1 --port "$port" \
        >"$work/sb-$port.log" 2>&1 &
    local pid=$!; pids+=("$pid")
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.05; done
    echo "$port $pid"
}

metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}' | head -1; }
# Total microseconds Redis spent in commands (INFO commandstats), excluding INFO itself.
redis_usec() { redis-cli -p "$1" INFO commandstats | tr -d '\r' | awk -F'[,=:]' '/^cmdstat_/ && $1 != "cmdstat_info" {for (i = 1; i <= NF; i++) if ($i == "usec") s += $(i + 1)} END {print s + 0}'; }
redis_cpu() { redis-cli -p "$1" INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' "$1" "$2"; }
last_json() { grep '^{' | tail -1; }

echo "== scale-model inputs: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), loadavg $(cut -d' ' -f1-3 /proc/loadavg), THREADS=${SCALE_THREADS:-1}, REDIS_CHANNEL_MODE=${SCALE_CHANNEL_MODE:-shared}, $duration s runs =="

# 1. One instance, one Redis: delivery throughput and the CPU each delivery and each event costs.
measure_fanout() {
    read -r rport rpid < <(start_redis)
    read -r sport spid < <(start_sb "redis://127.0.0.1:$rport")
    local t0 u0 c0 out t1 u1 c1
    t0=$(cpu_ticks "$spid"); u0=$(redis_usec "$rport"); c0=$(redis_cpu "$rport")
    out=$("$wsload" fanout --sub-url "ws://127.0.0.1:$sport/ws" --pub-url "http://127.0.0.1:$sport" --subs "$subs" \
        --sessions "$sessions" --size "$size" --duration "$duration" --json 2>/dev/null | last_json)
    t1=$(cpu_ticks "$spid"); u1=$(redis_usec "$rport"); c1=$(redis_cpu "$rport")
    local delivered posted rate
    delivered=$(json_field "$out" delivered); posted=$(json_field "$out" posted); rate=$(json_field "$out" deliveries_per_s)
    python3 - "$delivered" "$posted" "$rate" "$t0" "$t1" "$tick" "$u0" "$u1" "$c0" "$c1" "$(json_field "$out" lat_p99_ms)" "$(json_field "$out" lost)" <<'EOF'
import json, sys
delivered, posted, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
t0, t1, tick, u0, u1 = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
c0, c1, p99, lost = float(sys.argv[9]), float(sys.argv[10]), float(sys.argv[11]), int(sys.argv[12])
cpu_s = (t1 - t0) / tick
row = {"measure": "fanout_1_instance", "deliveries_per_s": round(rate), "delivered": delivered, "events_posted": posted,
       "lost": lost, "p99_ms": p99, "instance_cpu_s": round(cpu_s, 2),
       "instance_cpu_us_per_delivery": round(cpu_s * 1e6 / max(delivered, 1), 3),
       "redis_command_us_per_event": round((u1 - u0) / max(posted, 1), 2),
       "redis_cpu_us_per_event": round((c1 - c0) * 1e6 / max(posted, 1), 2)}
print(f"{'deliveries/s (1 instance, 1 Redis)':48} {row['deliveries_per_s']:>12,}   p99 {p99} ms, lost {lost}")
print(f"{'instance CPU per delivery':48} {row['instance_cpu_us_per_delivery']:>12} µs")
print(f"{'Redis command time per event (commandstats)':48} {row['redis_command_us_per_event']:>12} µs")
print(f"{'Redis process CPU per event (INFO cpu)':48} {row['redis_cpu_us_per_event']:>12} µs")
print(json.dumps(row))
EOF
    stop_pid "$spid"; stop_pid "$rpid"
}

# 1b. What a channel message costs an instance that has no subscriber for it: two instances,
#     every subscriber and the publisher on A; B receives every event and delivers none.
measure_bus_cost() {
    read -r rport rpid < <(start_redis)
    read -r aport apid < <(start_sb "redis://127.0.0.1:$rport")
    read -r bport bpid < <(start_sb "redis://127.0.0.1:$rport")
    local t0 t1 m0 m1 out
    t0=$(cpu_ticks "$bpid"); m0=$(metric "$bport" switchboard_bus_messages_without_subscriber_total)
    out=$("$wsload" fanout --sub-url "ws://127.0.0.1:$aport/ws" --pub-url "http://127.0.0.1:$aport" --subs "$subs" \
        --sessions "$sessions" --size "$size" --duration "$duration" --json 2>/dev/null | last_json)
    t1=$(cpu_ticks "$bpid"); m1=$(metric "$bport" switchboard_bus_messages_without_subscriber_total)
    python3 - "$t0" "$t1" "$tick" "${m0:-0}" "${m1:-0}" "$(json_field "$out" posted)" <<'EOF2'
import json, sys
t0, t1, tick, m0, m1, posted = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(float(sys.argv[4])), int(float(sys.argv[5])), int(sys.argv[6])
messages = m1 - m0
cpu_s = (t1 - t0) / tick
row = {"measure": "bus_cost", "events_posted": posted, "messages_without_subscriber": messages,
       "idle_instance_cpu_s": round(cpu_s, 2), "cpu_us_per_unwanted_message": round(cpu_s * 1e6 / max(messages, 1), 2)}
print(f"{'CPU per channel message without a subscriber':48} {row['cpu_us_per_unwanted_message']:>12} µs  ({messages:,} messages, {cpu_s:.2f} CPU-s)")
print(json.dumps(row))
EOF2
    stop_pid "$apid"; stop_pid "$bpid"; stop_pid "$rpid"
}

# 2. RSS per idle subscribed connection, at several counts; the slope between the first and
#    last point is what the model extrapolates (fixed costs cancel out).
measure_idle() {
    read -r rport rpid < <(start_redis)
    local points=() n
    for n in $idle_points; do
        read -r sport spid < <(start_sb "redis://127.0.0.1:$rport")
        local out k0 k1
        k0=$(awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat)
        out=$("$wsload" idle --url "ws://127.0.0.1:$sport/ws" --conns "$n" --sessions 100 --hold 3 --pid "$spid" --json 2>/dev/null | last_json)
        k1=$(awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat)
        points+=("$n $(json_field "$out" established) $(json_field "$out" rss_before_kb) $(json_field "$out" rss_after_kb) $(json_field "$out" rss_per_conn_bytes) $k0 $k1")
        if grep -q "connection refused" "$work/sb-$sport.log"; then
            echo "   (the instance refused connections at $n: $(grep -m1 'connection refused' "$work/sb-$sport.log" | cut -c1-160))"
        fi
        stop_pid "$spid"
    done
    stop_pid "$rpid"
    python3 - "${points[@]}" <<'EOF'
import json, sys
rows = [tuple(float(x) for x in p.split()) for p in sys.argv[1:]]
for n, est, before, after, per, k0, k1 in rows:
    # /proc/net/sockstat "TCP mem" counts pages of socket buffers of every TCP socket on the
    # machine; both ends are local here, so half of the growth is the server's (other load on
    # the machine adds noise).
    kernel = max(k1 - k0, 0) * 4096 / 2 / max(est, 1)
    print(f"{'RSS per idle connection at ' + format(int(n), ','):48} {per:>12,.0f} bytes  ({int(est):,} established, RSS {before/1024:.1f} → {after/1024:.1f} MiB; kernel socket buffers ≈ {kernel:,.0f} bytes)")
    print(json.dumps({"measure": "idle_rss", "connections": int(n), "established": int(est), "rss_before_kb": before,
                      "rss_after_kb": after, "rss_per_conn_bytes": per, "kernel_buffer_bytes_per_conn": round(kernel)}))
if len(rows) >= 2:
    (n0, e0, _, a0, _, _, _), (n1, e1, _, a1, _, _, _) = rows[0], rows[-1]
    slope = (a1 - a0) * 1024 / max(e1 - e0, 1)
    print(f"{'RSS slope between the first and last point':48} {slope:>12,.0f} bytes/connection")
    print(json.dumps({"measure": "idle_rss_slope", "bytes_per_connection": round(slope)}))
EOF
}

# 3. K instances on S shards: cross-instance delivery, Redis cost per event, unwanted messages.
measure_instances() {
    local base_rate=""
    for shards in $shard_counts; do
        local rports=() rpids=() urls=()
        for _ in $(seq 1 "$shards"); do
            read -r rport rpid < <(start_redis)
            rports+=("$rport"); rpids+=("$rpid"); urls+=("redis://127.0.0.1:$rport")
        done
        local url_list; url_list=$(IFS=,; echo "${urls[*]}")
        for k in $instance_counts; do
            local sports=() spids=() sub_args=()
            for _ in $(seq 1 "$k"); do
                read -r sport spid < <(start_sb "$url_list")
                sports+=("$sport"); spids+=("$spid"); sub_args+=(--sub-url "ws://127.0.0.1:$sport/ws")
            done
            local c0=0 u0=0 c1=0 u1=0 rp
            for rp in "${rports[@]}"; do c0=$(python3 -c "print($c0 + $(redis_cpu "$rp"))"); u0=$((u0 + $(redis_usec "$rp"))); done
            local out
            out=$("$wsload" fanout "${sub_args[@]}" --pub-url "http://127.0.0.1:${sports[0]}" --subs "$subs" --sessions "$sessions" \
                --size "$size" --duration "$duration" --json 2>/dev/null | last_json)
            for rp in "${rports[@]}"; do c1=$(python3 -c "print($c1 + $(redis_cpu "$rp"))"); u1=$((u1 + $(redis_usec "$rp"))); done
            local bus=0 unwanted=0 sp
            for sp in "${sports[@]}"; do
                local b w
                b=$(metric "$sp" switchboard_bus_messages_total); w=$(metric "$sp" switchboard_bus_messages_without_subscriber_total)
                bus=$((bus + ${b:-0})); unwanted=$((unwanted + ${w:-0}))
            done
            python3 - "$shards" "$k" "$out" "$c0" "$c1" "$u0" "$u1" "$bus" "$unwanted" "${base_rate:-0}" <<'EOF'
import json, sys
shards, k, out = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
c0, c1, u0, u1, bus, unwanted, base = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), float(sys.argv[10])
posted = max(out["posted"], 1)
rate = out["deliveries_per_s"]
row = {"measure": "instances", "shards": shards, "instances": k, "deliveries_per_s": round(rate),
       "ratio_to_1_instance_1_shard": round(rate / base, 2) if base else 1.0, "lost": out["lost"], "p99_ms": out["lat_p99_ms"],
       "redis_cpu_us_per_event": round((c1 - c0) * 1e6 / posted, 2), "redis_command_us_per_event": round((u1 - u0) / posted, 2),
       "bus_messages": bus, "share_without_subscriber": round(unwanted / bus, 3) if bus else 0.0}
print(f"{f'{k} instance(s), {shards} shard(s)':24} {row['deliveries_per_s']:>10,} deliveries/s  ratio {row['ratio_to_1_instance_1_shard']:<5} "
      f"Redis CPU/event {row['redis_cpu_us_per_event']:>7} µs  unwanted share {row['share_without_subscriber']:.2f}  lost {out['lost']}")
print(json.dumps(row))
EOF
            if [ -z "$base_rate" ]; then base_rate=$(json_field "$out" deliveries_per_s); fi
            for sp in "${spids[@]}"; do stop_pid "$sp"; done
        done
        for rp in "${rpids[@]}"; do stop_pid "$rp"; done
    done
}

case "$mode" in
    fanout) measure_fanout ;;
    bus) measure_bus_cost ;;
    idle) measure_idle ;;
    instances) measure_instances ;;
    all) measure_fanout; measure_bus_cost; measure_idle; measure_instances ;;
    *) echo "usage: $0 [all|fanout|bus|idle|instances]" >&2; exit 2 ;;
esac
