#!/usr/bin/env bash
# Runs the whole suite on a fresh machine: installs what the tests need, builds, runs the
# Swift tests (in-process: units, state machines, the loop, the stores against a real
# redis-server) and the Python tests (every test that starts switchboard processes, nginx,
# Sentinel or a Redis Cluster; the `websockets` library and a headless Chromium as clients).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" redis-server redis-tools redis-sentinel nginx prometheus chromium chromium-driver curl "${TLS_TEST_PACKAGES[@]}" "${PACKAGE_TEST_PACKAGES[@]}"
cd "$root"

python=python3
ensure_python_clients

status=0
# The module graph: every import declared in Package.swift (products too, which SwiftPM's own
# check misses).
python3 Scripts/checks/imports.py || status=$?
# The OpenAPI document the binary embeds matches Scripts/openapi.py's tables.
python3 Scripts/openapi.py --check || status=$?

swift build --build-tests
bin_path="$(swift build --show-bin-path)"
export SWITCHBOARD_BIN="$bin_path/switchboard"

swift test --skip-build 2>&1 | tee /tmp/switchboard-swift-test.log || status=$?

if [ -d Tests/python ]; then
    "$python" -m pytest -q Tests/python 2>&1 | tee /tmp/switchboard-pytest.log || status=$?
fi
exit $status
