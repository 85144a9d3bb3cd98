#!/usr/bin/env bash
# Checks a built layer (target/layer/otlp-xray-<arch>.zip, from layer/build.sh):
#  1. the zip is within the size budget (LAYER_BUDGET_BYTES, default 4,000,000 bytes: issue 5's
#     "layer zip <= 4 MB"); a larger zip fails the check, so CI fails when the layer grows;
#  2. it holds extensions/otlp-xray, executable, a static binary (no ELF interpreter: a glibc
#     binary fails on Amazon Linux 2 runtimes);
#  3. the binary from the zip runs the main job under the stand-in (mock-lambda, built for the
#     host): 3 invocations of the demo function, every span at the X-Ray endpoint before /next.
#     For arm64 the binary runs under qemu-user-static (installed if missing), through a wrapper
#     script named otlp-xray (Lambda names an extension after its file name).
# Usage: ARCH=x86_64|arm64 bash layer/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${ARCH:-x86_64}
BUDGET=${LAYER_BUDGET_BYTES:-4000000}
zip_path="target/layer/otlp-xray-$ARCH.zip"
[ -f "$zip_path" ] || { echo "layer/check.sh: $zip_path is missing: run 'make layer ARCH=$ARCH'" >&2; exit 1; }

size=$(stat -c %s "$zip_path")
if [ "$size" -gt "$BUDGET" ]; then
  echo "layer/check.sh: $zip_path is $size bytes, over the budget of $BUDGET bytes" >&2
  exit 1
fi
echo "size:   $zip_path $size bytes (budget $BUDGET)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$zip_path" "$work" <<'PY'
import stat, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
info = z.getinfo("extensions/otlp-xray")  # KeyError: missing, fails the check
mode = info.external_attr >> 16
if not mode & stat.S_IXUSR:
    sys.exit(f"extensions/otlp-xray is not executable (mode {oct(mode)})")
z.extract(info, sys.argv[2])
import os
os.chmod(os.path.join(sys.argv[2], "extensions/otlp-xray"), 0o755)
print(f"zip:    {len(names)} entries, extensions/otlp-xray mode {oct(mode & 0o777)}")
PY
bin="$work/extensions/otlp-xray"
# A static binary has no PT_INTERP program header.
python3 - "$bin" "$ARCH" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read(1 << 20)
if data[:4] != b"\x7fELF":
    sys.exit("not an ELF binary")
machine = struct.unpack_from("<H", data, 18)[0]
want = {"x86_64": 62, "arm64": 183}[sys.argv[2]]
if machine != want:
    sys.exit(f"ELF machine {machine}, expected {want} for {sys.argv[2]}")
phoff = struct.unpack_from("<Q", data, 32)[0]
phentsize, phnum = struct.unpack_from("<HH", data, 54)
for i in range(phnum):
    if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3:  # PT_INTERP
        sys.exit("dynamically linked (has an ELF interpreter): Lambda needs a static binary")
print("elf:    static, machine", machine)
PY

extension="$bin"
if [ "$ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
  if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq qemu-user-static) >/dev/null
  fi
  mkdir -p "$work/qemu"
  extension="$work/qemu/otlp-xray"
  printf '#!/bin/sh\nexec qemu-aarch64-static %q "$@"\n' "$bin" > "$extension"
  chmod 755 "$extension"
fi

cargo build -q --bin mock-lambda --example demo-function
./target/debug/mock-lambda --extension "$extension" \
  --function ./target/debug/examples/demo-function \
  --invocations 3 --quiet --expect-all --report "$work/report.json" >/dev/null
python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
sc = r["span_counts"]
print(f"smoke:  init {r['init_ms']:.1f} ms, spans sent {sc['sent']} received {sc['received']} "
      f"lost {sc['lost']}, exit code {r['extension_exit_code']}")
if sc["lost"] or sc["sent"] == 0 or r["extension_exit_code"] != 0:
    sys.exit("smoke run failed")
PY
echo "layer/check.sh: $ARCH layer OK"
