#!/usr/bin/env bash
# Fault and freeze runs under mock-lambda (issue 4): spans lost / duplicated, post-runtime and
# shutdown time per run, flush strategy `end`, flush_timeout 1 s.
# Usage: bash benches/scripts/faults.sh [bin dir, default target/release]
# (needs otlp-xray, mock-lambda and examples/demo-function: `cargo build --profile bench --bins --examples`)
B=${1:-target/release}
ext=$B/otlp-xray; mock=$B/mock-lambda; fn=$B/examples/demo-function
[ -x "$fn" ] || fn=$B/demo-function
T=$(mktemp -d)
cat > $T/c.yaml <<Y
extensions:
  lambda:
    flush: end
    flush_timeout: 1s
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:24318
exporters:
  awsxray:
    region: us-east-1
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [awsxray]
Y
run() { name=$1; shift
  "$mock" --extension "$ext" --function "$fn" --config $T/c.yaml \
    --otlp-endpoint http://127.0.0.1:24318 --quiet --report $T/r.json "$@" >/dev/null 2>&1
  python3 - "$name" $T/r.json <<'P'
import json,sys,statistics
r=json.load(open(sys.argv[2])); sc=r["span_counts"]; pr=[i["post_runtime_ms"] for i in r["invocations"] if i.get("post_runtime_ms") is not None]
print(f"{sys.argv[1]:34} sent {sc['sent']:4} recv {sc['received']:4} lost {sc['lost']:3} dup {sc['duplicated']:2}  post-runtime median {statistics.median(pr):7.2f} max {max(pr):7.2f} ms  shutdown {r.get('shutdown_ms')} ms exit {r.get('extension_exit_code')}")
P
}
run "freeze 30 inv, slow:300 x5"      --invocations 30 --freeze-ms 50 --xray-fault slow:300:5
run "503 x3"                          --invocations 4 --xray-fault 503:3
run "429 x3"                          --invocations 4 --xray-fault 429:3
run "500 x3"                          --invocations 4 --xray-fault 500:3
run "unprocessed x2"                  --invocations 4 --xray-fault unprocessed:2
run "slow 1500 x1"                    --invocations 4 --xray-fault slow:1500:1
run "down 500ms"                      --invocations 4 --xray-fault down:500
run "hang x1"                         --invocations 4 --xray-fault hang:1
run "shutdown burst"                  --invocations 3 --shutdown-burst
run "shutdown burst, endpoint down"   --invocations 2 --shutdown-burst --xray-fault down:60000
rm -rf $T
