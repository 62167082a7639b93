#!/usr/bin/env bash
# libFuzzer runs of the byte parsers that face the network: the HTTP request parser, the
# WebSocket frame reader and the JSON scanner (request bodies, WebSocket messages; checked
# against Foundation's JSONSerialization on every input). Each target is built from its
# module's sources plus a harness in Tests/Fuzz with -sanitize=fuzzer,address.
#   Scripts/fuzz.sh [RUNS] [TARGETS]   default 10000000 inputs per target; TARGETS from http, ws,
#                                      json (default "http ws json")
# Crash reproducers are copied into Tests/Fuzz/corpus/<target>/, which the unit tests replay.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
runs="${1:-10000000}"
targets="${2:-http ws json}"
for t in $targets; do
    case "$t" in http|ws|json) ;; *) echo "unknown fuzz target: $t (http, ws or json)" >&2; exit 2 ;; esac
done
out="$root/fuzz-out"
corpus="$root/Tests/Fuzz/corpus"
mkdir -p "$out/http/corpus" "$out/ws/corpus" "$out/json/corpus"
cd "$root"
# Seeds (and earlier crash reproducers) are committed in Tests/Fuzz/corpus and replayed by the
# unit tests (FuzzCorpusTests); the working corpus grows in fuzz-out/.
cp "$corpus"/http/* "$out/http/corpus/"
cp "$corpus"/ws/* "$out/ws/corpus/"
cp "$corpus"/json/* "$out/json/corpus/"

# (ld.gold warns about every ASan assembly symbol; only errors are shown.)
[[ " $targets " == *" http "* ]] && { swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzHTTP \
    Sources/SBHTTP/*.swift Tests/Fuzz/HTTPParserFuzz.swift -o "$out/fuzz-http" 2>&1 | grep -v "Cannot export local symbol" || true; }
[[ " $targets " == *" ws "* ]] && { swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzWS \
    Sources/SBWebSocket/WebSocketReader.swift Sources/SBWebSocket/UTF8Validator.swift \
    Sources/SBWebSocket/WebSocketOpcode.swift Sources/SBWebSocket/WebSocketReadEvent.swift \
    Tests/Fuzz/WebSocketReaderFuzz.swift -o "$out/fuzz-ws" 2>&1 | grep -v "Cannot export local symbol" || true; }
[[ " $targets " == *" json "* ]] && { swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzJSON \
    Sources/SBCore/JSON/JSONScanner.swift Sources/SBCore/JSON/JSONWalker.swift Sources/SBCore/JSON/JSONWalker+Tokens.swift \
    Sources/SBCore/JSON/JSONDocument.swift \
    Sources/SBCore/JSON/JSONStringDecoding.swift Tests/SBTestSupport/JSONDifferences.swift \
    Tests/Fuzz/JSONScannerFuzz.swift -o "$out/fuzz-json" 2>&1 | grep -v "Cannot export local symbol" || true; }

status=0
for target in $targets; do
    start=$(date +%s)
    (cd "$out/$target" && "$out/fuzz-$target" -runs="$runs" -max_len=4096 -timeout=5 -print_final_stats=1 corpus) \
        > "$out/$target.log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$target.log" | awk '{print $2}')
    echo "fuzz $target: ${execs:-?} inputs in $(( $(date +%s) - start ))s, exit $status (log: $out/$target.log)"
    # Keep every reproducer as a regression input for the unit tests.
    for crash in "$out/$target"/crash-* "$out/$target"/timeout-* "$out/$target"/oom-*; do
        [ -e "$crash" ] || continue
        cp "$crash" "$corpus/$target/" && echo "  kept $(basename "$crash") in Tests/Fuzz/corpus/$target" >&2
    done
done
exit $status
