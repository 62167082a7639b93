#!/usr/bin/env bash
# The whole Swift suite under a sanitizer (address or thread), in its own build folder, then
# Python tests against the sanitized server: TLS (OpenSSL sessions on the event loops) and the
# end-to-end tests of REST, WebSocket, policies, connection lifecycle, shutdown, shared Redis
# and nginx.
#   Scripts/sanitize.sh thread|address
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" redis-server nginx prometheus "${TLS_TEST_PACKAGES[@]}"
ensure_python_clients
kind="${1:-thread}"
scratch="$root/.build-$kind"
cd "$root"
start=$(date +%s)
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
export SWITCHBOARD_BIN="$(swift build --sanitize="$kind" --scratch-path "$scratch" --show-bin-path)/switchboard"
# Sanitizer reports make the process exit non-zero, so a report fails the tests that started it.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
status=0
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" || status=$?
# Each test stops its server and asserts exit status 0, so a sanitizer report fails it.
python3 -m pytest -q Tests/python/test_tls.py Tests/python/test_bad_requests.py Tests/python/test_rest_routes.py \
    Tests/python/test_websocket_hub.py Tests/python/test_policy.py Tests/python/test_connection_lifecycle.py \
    Tests/python/test_concurrency_ttl.py Tests/python/test_operations.py Tests/python/test_shared_redis.py \
    Tests/python/test_load_balancer.py || status=$?
echo "sanitize $kind: $(( $(date +%s) - start ))s"
exit $status
