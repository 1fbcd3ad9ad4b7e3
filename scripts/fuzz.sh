#!/usr/bin/env bash
# Builds herald-fuzz with libFuzzer and AddressSanitizer, then fuzzes each target for a bounded time,
# starting from the seed corpus in Fuzz/corpus (real Prosody and ejabberd stanzas, vendor answers).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     targets: xml router vendor publish (default: all, 60 s each)
#
# Inputs that crash land in .build-fuzz/crashes/; copy one into Fuzz/corpus/TARGET/ once fixed, where
# the test run replays it (herald-fuzz TARGET Fuzz/corpus/TARGET). Prints executions per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xml router vendor publish)

# gold fails on the sanitized objects (an internal error in its DWARF reader); lld links them.
swift build -c release --scratch-path .build-fuzz --product herald-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
binary=.build-fuzz/release/herald-fuzz
mkdir -p .build-fuzz/crashes
total=0
for target in "${targets[@]}"; do
    # The fuzzer's own corpus grows in .build-fuzz; the committed seeds are read, never written.
    work=".build-fuzz/corpus/$target"
    mkdir -p "$work"
    log=".build-fuzz/$target.log"
    dictionary=()
    [ "$target" = vendor ] || dictionary=(-dict=Fuzz/xmpp.dict)
    status=0
    "$binary" "$target" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
        -timeout=10 "${dictionary[@]}" -artifact_prefix=".build-fuzz/crashes/$target-" "$work" "Fuzz/corpus/$target" \
        >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    corpus=$(find "$work" -type f | wc -l)
    echo "$target: $runs executions in ${seconds}s, corpus $corpus inputs, exit $status"
    total=$((total + runs))
    if [ "$status" -ne 0 ]; then
        tail -40 "$log"
        exit "$status"
    fi
done
echo "total: $total executions"
