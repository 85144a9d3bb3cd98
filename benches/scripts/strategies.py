#!/usr/bin/env python3
"""Post-runtime duration per flush strategy: 100 invocations each under mock-lambda.
Usage: python3 benches/scripts/strategies.py [bin dir, default target/release] [invocations, default 100]
(the bin dir holds otlp-xray, mock-lambda and examples/demo-function or demo-function; `make bench` builds them)"""
import json, subprocess, sys, statistics, os, tempfile
d = sys.argv[1] if len(sys.argv) > 1 else "target/release"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
def find(name):
    for p in (f"{d}/{name}", f"{d}/examples/{name}"):
        if os.path.exists(p):
            return p
    sys.exit(f"{name} not found under {d}: run `cargo build --profile bench --bins --examples`")
ext, mock, fn = find("otlp-xray"), find("mock-lambda"), find("demo-function")
def pct(xs, p):
    xs = sorted(xs); k = max(0, min(len(xs)-1, round(p/100*(len(xs)) + 0.5) - 1)); return xs[k]
rows = []
for strat in ["end", "continuous", "periodic,1000", "adaptive"]:
    with tempfile.TemporaryDirectory() as t:
        cfg = os.path.join(t, "c.yaml")
        open(cfg, "w").write(f"""extensions:
  lambda:
    flush: {strat}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:24317
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
""")
        rep = os.path.join(t, "r.json")
        subprocess.run([mock, "--extension", ext, "--function", fn,
                        "--invocations", str(n), "--config", cfg, "--otlp-endpoint", "http://127.0.0.1:24318",
                        "--freeze-ms", "20", "--quiet", "--report", rep], check=False, stdout=subprocess.DEVNULL)
        r = json.load(open(rep))
        pr = [i["post_runtime_ms"] for i in r["invocations"] if i.get("post_runtime_ms") is not None]
        sc = r["span_counts"]
        rows.append((strat, statistics.median(pr), pct(pr, 99), max(pr), sc["sent"], sc["received"], sc["lost"], sc["duplicated"], r.get("shutdown_ms")))
print(f"{'strategy':16} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} {'sent':>6} {'recv':>6} {'lost':>5} {'dup':>4} {'shutdown ms':>11}")
for row in rows:
    print(f"{row[0]:16} {row[1]:10.2f} {row[2]:8.2f} {row[3]:8.2f} {row[4]:6} {row[5]:6} {row[6]:5} {row[7]:4} {row[8]}")
