#!/usr/bin/env bash
# libFuzzer runs of the two byte parsers that face the network: the HTTP request parser and the
# WebSocket frame reader. Each target is built from its module's sources plus a harness in
# Tests/Fuzz with -sanitize=fuzzer,address.
#   Scripts/fuzz.sh [RUNS]        default 10000000 inputs per target
# Crash reproducers land in fuzz-out/<target>/ (git-ignored); copy any into
# Tests/SBHTTPTests or Tests/SBWebSocketTests as a regression test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
runs="${1:-10000000}"
out="$root/fuzz-out"
mkdir -p "$out/http/corpus" "$out/ws/corpus"
cd "$root"
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' > "$out/http/corpus/get"
printf 'POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}' > "$out/http/corpus/post"
printf 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\n' > "$out/http/corpus/chunked"
printf '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58' > "$out/ws/corpus/text"
printf '\x01\x83\x00\x00\x00\x00abc\x89\x80\x00\x00\x00\x00\x80\x82\x00\x00\x00\x00de' > "$out/ws/corpus/fragments"

# (ld.gold warns about every ASan assembly symbol; only errors are shown.)
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzHTTP \
    Sources/SBHTTP/*.swift Tests/Fuzz/HTTPParserFuzz.swift -o "$out/fuzz-http" 2>&1 | grep -v "Cannot export local symbol" || true
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzWS \
    Sources/SBWebSocket/WebSocketReader.swift Sources/SBWebSocket/UTF8Validator.swift \
    Sources/SBWebSocket/WebSocketOpcode.swift Sources/SBWebSocket/WebSocketReadEvent.swift \
    Tests/Fuzz/WebSocketReaderFuzz.swift -o "$out/fuzz-ws" 2>&1 | grep -v "Cannot export local symbol" || true

status=0
for target in http ws; do
    start=$(date +%s)
    (cd "$out/$target" && "$out/fuzz-$target" -runs="$runs" -max_len=4096 -timeout=5 -print_final_stats=1 corpus) \
        > "$out/$target.log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$target.log" | awk '{print $2}')
    echo "fuzz $target: ${execs:-?} inputs in $(( $(date +%s) - start ))s, exit $status (log: $out/$target.log)"
done
exit $status
