#!/usr/bin/env bash
# A local multi-instance deployment on loopback: redis-server (AOF on), N switchboard instances
# and nginx in front of them proxying HTTP and WebSocket upgrades.
#   Scripts/cluster.sh start [N]     default N=3; nginx on :${LB_PORT:-8080}, instances on 3101…
#   Scripts/cluster.sh stop          stops exactly the processes it started (by PID)
#   Scripts/cluster.sh status
# State (PIDs, configs, logs, AOF) lives in ${CLUSTER_DIR:-/tmp/switchboard-cluster}.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
dir="${CLUSTER_DIR:-/tmp/switchboard-cluster}"
lb_port="${LB_PORT:-8080}"
redis_port="${CLUSTER_REDIS_PORT:-6390}"
base_port="${CLUSTER_BASE_PORT:-3101}"

start() {
    local n="${1:-3}"
    ensure_swift
    ensure_packages "${BUILD_PACKAGES[@]}" redis-server nginx curl
    [ -f "$dir/pids" ] && { echo "cluster already running (Scripts/cluster.sh stop first)" >&2; exit 1; }
    mkdir -p "$dir/redis" "$dir/nginx/logs" "$dir/nginx/tmp"
    (cd "$root" && swift build -c release --product switchboard >&2)
    : > "$dir/pids"
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --appendfsync everysec \
        --save "" --daemonize no > "$dir/redis.log" 2>&1 &
    echo "redis $!" >> "$dir/pids"
    for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    local upstream=""
    for i in $(seq 1 "$n"); do
        local port=$((base_port + i - 1))
        REDIS_URL="redis://127.0.0.1:$redis_port" INSTANCE_ID="sb-$i" "$root/.build/release/switchboard" \
            --host 127.0.0.1 --port "$port" > "$dir/switchboard-$i.log" 2>&1 &
        echo "switchboard-$i $!" >> "$dir/pids"
        upstream+="        server 127.0.0.1:$port max_fails=1 fail_timeout=2s;"$'\n'
    done
    cat > "$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/nginx/tmp/body;
    proxy_temp_path $dir/nginx/tmp/proxy;
    fastcgi_temp_path $dir/nginx/tmp/fastcgi;
    uwsgi_temp_path $dir/nginx/tmp/uwsgi;
    scgi_temp_path $dir/nginx/tmp/scgi;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
    upstream switchboard {
$upstream        keepalive 64;
    }
    server {
        listen 127.0.0.1:$lb_port;
        location / {
            proxy_pass http://switchboard;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_read_timeout 3600s;
            proxy_next_upstream error timeout http_503;
        }
    }
}
CONF
    nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" -g 'daemon off;' > "$dir/nginx.log" 2>&1 &
    echo "nginx $!" >> "$dir/pids"
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$lb_port/ready" >/dev/null && break; sleep 0.1; done
    echo "cluster up: nginx http://127.0.0.1:$lb_port -> $n instances, redis 127.0.0.1:$redis_port (state in $dir)"
}

stop() {
    [ -f "$dir/pids" ] || { echo "no cluster running"; return 0; }
    # Reverse start order: nginx, instances (SIGTERM: graceful drain), then redis.
    tac "$dir/pids" | while read -r name pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
            echo "stopped $name ($pid)"
        fi
    done
    rm -f "$dir/pids"
}

status() {
    [ -f "$dir/pids" ] || { echo "no cluster running"; return 0; }
    while read -r name pid; do
        if kill -0 "$pid" 2>/dev/null; then echo "$name $pid running"; else echo "$name $pid gone"; fi
    done < "$dir/pids"
}

case "${1:-}" in
    start) start "${2:-3}" ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: Scripts/cluster.sh start [N] | stop | status" >&2; exit 2 ;;
esac
