#!/usr/bin/env bash
# Builds the static, stripped executor to dist/runtime (x86_64-unknown-linux-musl, rustls + ring).
# If the musl target cannot be installed, falls back to a fully static glibc build
# (-C target-feature=+crt-static) and says so; it never produces a dynamic binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mkdir -p dist
target=x86_64-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx "$target" && command -v musl-gcc >/dev/null; then
  CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -p the0-executor --bin runtime --target "$target"
  out="${CARGO_TARGET_DIR:-target}/$target/release/runtime"
else
  echo "warning: musl target or musl-gcc missing; building a static glibc binary instead" >&2
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p the0-executor --bin runtime --target "$target"
  out="${CARGO_TARGET_DIR:-target}/$target/release/runtime"
fi
cp "$out" dist/runtime.tmp && mv dist/runtime.tmp dist/runtime
if file dist/runtime | grep -q 'dynamically linked'; then
  echo "error: dist/runtime is dynamically linked" >&2
  exit 1
fi
ls -l dist/runtime | awk '{printf "dist/runtime: %.2f MiB (%s)\n", $5/1048576, "'"$target"'"}'
