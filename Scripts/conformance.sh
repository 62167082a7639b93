#!/usr/bin/env bash
# Autobahn|Testsuite (cases 1-10; 12/13 need permessage-deflate, not offered) against /echo of a
# release build. Prints "autobahn: N passed, M failed". Takes a few minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" curl
port="${PORT:-16050}"
(cd "$root" && swift build -c release --product switchboard >&2)
LOG_LEVEL=warning "$root/.build/release/switchboard" --host 127.0.0.1 --port "$port" --max-message-bytes 16777216 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
start=$(date +%s)
"$root/../shared/conformance/autobahn.sh" "ws://127.0.0.1:$port/echo" --exclude '12.*,13.*' "$@"
echo "autobahn took $(( $(date +%s) - start ))s"
