#!/usr/bin/env bash
# Builds target/layer/otlp-xray-<arch>.zip holding extensions/otlp-xray, a static musl
# release binary (a glibc build needs GLIBC_2.34 and fails on Amazon Linux 2 runtimes).
# Installs what it needs: the rustup target, musl-tools (x86_64) or ziglang + cargo-zigbuild
# (arm64), and zip.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${ARCH:-x86_64}
case "$ARCH" in
  x86_64) TARGET=${TARGET:-x86_64-unknown-linux-musl} ;;
  arm64)  TARGET=${TARGET:-aarch64-unknown-linux-musl} ;;
  *) echo "ARCH must be x86_64 or arm64" >&2; exit 2 ;;
esac
apt_install() {
  if ! command -v "$1" >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq "$2") >/dev/null
  fi
}
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
apt_install zip zip
if [ "$ARCH" = x86_64 ]; then
  apt_install musl-gcc musl-tools
  cargo build --release --bin otlp-xray --target "$TARGET"
else
  command -v cargo-zigbuild >/dev/null 2>&1 || pip install -q ziglang cargo-zigbuild
  cargo zigbuild --release --bin otlp-xray --target "$TARGET"
fi
out=target/layer
stage="$out/stage-$ARCH"
rm -rf "$stage"; mkdir -p "$stage/extensions"
cp "target/$TARGET/release/otlp-xray" "$stage/extensions/otlp-xray"
chmod 755 "$stage/extensions/otlp-xray"
zip_path="$(pwd)/$out/otlp-xray-$ARCH.zip"
rm -f "$zip_path"
(cd "$stage" && zip -q -9 -r "$zip_path" extensions)
echo "binary: $(stat -c %s "$stage/extensions/otlp-xray") bytes"
echo "layer:  $(stat -c %s "$zip_path") bytes  $zip_path"
