#!/usr/bin/env bash
# Builds (release) and runs the hub. Installs missing system packages first.
#   Scripts/run.sh [switchboard flags…]     e.g. Scripts/run.sh --port 4000
# In-memory store unless REDIS_URL (or --redis-url) is given.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}"
cd "$root"
swift build -c release --product switchboard >&2
exec "$root/.build/release/switchboard" "$@"
