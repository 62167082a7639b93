#!/usr/bin/env bash
# The JSON scanner against Python's json and Foundation's JSONSerialization on generated
# documents (Tests/python/json_differential.py); the suite runs 30,000 of them, this runs more.
#   Scripts/json-differential.sh [COUNT] [SEED]    default 1000000 documents, seed 8259
# Builds the sb-json-scan harness in release mode. Exit status 1 on any undocumented difference.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
cd "$root"
swift build -c release --product sb-json-scan >&2
harness="$(swift build -c release --show-bin-path)/sb-json-scan"
start=$(date +%s)
python3 Tests/python/json_differential.py "${1:-1000000}" "${2:-8259}" "$harness"
echo "($(( $(date +%s) - start ))s)"
