#!/usr/bin/env bash
# Extension CPU for a fixed load, interleaved between builds (issue 5): how the escaper and the
# flush rounds were compared in BENCHMARKS.md, when the host's noise moves `make bench`'s
# throughput figures by up to 2x between runs. Each run: one 8-s invocation of loadgen at
# <rate> spans/s (0 = saturated), <spans per request> per request, flush `periodic,200`, the
# X-Ray stand-in counting documents; prints the extension's CPU (utime+stime before SHUTDOWN),
# the spans acknowledged and delivered, and its drops. Config: benches/scripts/load.yaml.
# Usage: bash benches/scripts/cpu_ab.sh <rounds> <spans per request> <rate> <protocol> <otlp-xray>...
#   e.g. bash benches/scripts/cpu_ab.sh 3 512 80000 http /tmp/old/otlp-xray target/release/otlp-xray
# (mock-lambda and examples/loadgen come from target/release: `cargo build --release --bins --examples`;
# each extension path must end in `otlp-xray`, the name the stand-in registers it under)
set -u
rounds=$1 spr=$2 rate=$3 proto=$4
shift 4
B=target/release
T=$(mktemp -d)
for r in $(seq "$rounds"); do
  for ext in "$@"; do
    "$B/mock-lambda" --extension "$ext" --function "$B/examples/loadgen" --protocol "$proto" \
      --function-arg --spans-per-request --function-arg "$spr" --function-arg --rate --function-arg "$rate" \
      --function-arg --duration-ms --function-arg 8000 --function-arg --out --function-arg "$T/lg.jsonl" \
      --invocations 1 --freeze-ms 0 --timeout-ms 20000 --xray-count-only --config "$(dirname "$0")/load.yaml" \
      > "$T/report.txt" 2> "$T/err.txt"
    cpu=$(grep -a -o 'CPU time before SHUTDOWN: [0-9]* ms' "$T/report.txt" | grep -o '[0-9]* ms')
    got=$(grep -a -o 'count only): [0-9]* documents' "$T/report.txt" | grep -o '[0-9]*')
    sent=$(tail -1 "$T/lg.jsonl" | grep -o '"spans_sent":[0-9]*' | grep -o '[0-9]*$')
    drops=$(grep -a -o 'shutdown reason=.*' "$T/err.txt" | grep -o 'dropped=[0-9]*')
    echo "round $r $ext: CPU $cpu, spans acknowledged $sent, delivered $got, $drops"
  done
done
rm -rf "$T"
