#!/usr/bin/env bash
# Differential test of the HTTP/1.1 request parser against Python's h11 (see
# Tests/python/http_differential.py): builds the sb-http-parse harness, installs h11 if missing,
# runs N seeded cases (default 200000; SEED=… to change the seed) and prints
#   http differential: N cases, A agree, D documented differences, F failures
# Exit status 1 when any case is a failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
cd "$root"
n="${1:-200000}"
python=python3
if ! "$python" -c 'import h11' >/dev/null 2>&1; then
    echo "installing h11" >&2
    "$python" -m pip install -q 'h11==0.16.*' >&2
fi
swift build --product sb-http-parse >&2
export SB_HTTP_PARSE="$(swift build --show-bin-path)/sb-http-parse"
exec "$python" Tests/python/http_differential.py "$n"
