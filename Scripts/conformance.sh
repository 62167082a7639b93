#!/usr/bin/env bash
# Autobahn|Testsuite, every case (1-10, and 12/13: permessage-deflate, which /echo negotiates like
# /ws) against /echo of a release build. Prints "autobahn: N passed, M failed". Takes a few
# minutes (12.* and 13.* send 1000 messages per case).
#   Scripts/conformance.sh [autobahn.sh options]   over ws://
#   Scripts/conformance.sh --tls                   over wss://, the server with native TLS
# With --tls a throwaway certificate is made (openssl CLI), and wstest connects with wss://
# itself: the suite's pinned Twisted + pyOpenSSL speak TLS (without verifying the certificate,
# which is not what a conformance run checks). ../shared/conformance/autobahn.sh only accepts
# ws:// URLs, so the spec is written and the result summed up here, with its pass rule
# (behaviour OK, NON-STRICT or INFORMATIONAL; closing behaviour OK or INFORMATIONAL).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" curl openssl
port="${PORT:-16050}"
tls=0
if [[ ${1:-} == --tls ]]; then tls=1; shift; fi
(cd "$root" && swift build -c release --product switchboard >&2)
runner="$root/../shared/conformance/autobahn.sh"

if [[ $tls == 0 ]]; then
    ECHO_ENDPOINT=true LOG_LEVEL=warning "$root/.build/release/switchboard" --host 127.0.0.1 --port "$port" --max-message-bytes 16777216 &
    pid=$!
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    start=$(date +%s)
    "$runner" "ws://127.0.0.1:$port/echo" "$@"
    echo "autobahn took $(( $(date +%s) - start ))s"
    exit
fi

pki=$(mktemp -d /tmp/switchboard-autobahn-tls.XXXXXX)
out="$pki/out"
mkdir -p "$out/reports"
read -r chain key _ < <(python3 - "$root/Tests/python" "$pki" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from tls_certs import ThrowawayPKI
print(*ThrowawayPKI(sys.argv[2]).leaf("autobahn"))
EOF
)
ECHO_ENDPOINT=true LOG_LEVEL=warning TLS_CERT_FILE="$chain" TLS_KEY_FILE="$key" "$root/.build/release/switchboard" \
    --host 127.0.0.1 --port "$port" --max-message-bytes 16777216 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$pki"' EXIT
for _ in $(seq 1 100); do curl -sf --cacert "$pki/root.pem" "https://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

# The runner installs the suite (once) before it looks at the URL; then it refuses wss://.
"$runner" "wss://127.0.0.1:$port/echo" >/dev/null 2>&1 || true
home="${AUTOBAHN_HOME:-$HOME/.cache/autobahn-py27}"
py=$(sed -n 's/^python=//p' "$home/installed.txt")
[ -x "$py" ] && [ -d "$home/site" ] || { echo "autobahn suite not installed (run $runner once)" >&2; exit 2; }
cat > "$out/spec.json" <<EOF
{"options": {"failByDrop": false}, "outdir": "$out/reports",
 "servers": [{"agent": "switchboard-tls", "url": "wss://127.0.0.1:$port/echo", "options": {"version": 18}}],
 "cases": ["*"], "exclude-cases": [], "exclude-agent-cases": {}}
EOF
start=$(date +%s)
(cd "$out" && "$py" -E -s -u -c 'import site, sys; site.addsitedir(sys.argv[1]); sys.argv = ["wstest"] + sys.argv[2:]; from autobahntestsuite.wstest import run; run()' \
    "$home/site" -m fuzzingclient -s "$out/spec.json") > "$out/wstest.log" 2>&1 || true
python3 - "$out/reports/index.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["switchboard-tls"]
failed = [(c, r) for c, r in results.items()
          if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")]
for case, r in sorted(failed):
    print(f"FAIL {case} behavior={r['behavior']} close={r['behaviorClose']}")
print(f"autobahn (wss): {len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed or not results else 0)
EOF
echo "autobahn over wss took $(( $(date +%s) - start ))s"
