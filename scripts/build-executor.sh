#!/usr/bin/env bash
# Builds the static, stripped executor to dist/runtime (x86_64-unknown-linux-musl, rustls + ring).
# If the musl target cannot be installed, falls back to a fully static glibc build
# (-C target-feature=+crt-static) and says so; it never produces a dynamic binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mkdir -p dist
target=x86_64-unknown-linux-musl
# The musl target is what every image ships (a static glibc build holds more memory: docs/architecture.md
# § Executor memory). Install it here too, so `make run` and `make images` on a fresh machine get it
# without `make deps`. musl-gcc (Debian musl-tools) is not required: ring's C builds for the musl
# target with the host gcc, as it has no libc dependency.
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >&2 || true
fi
if rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  musl_cc=$(command -v musl-gcc || command -v gcc || command -v cc || true)
fi
if [ -n "${musl_cc:-}" ]; then
  CC_x86_64_unknown_linux_musl=$musl_cc cargo build --release --locked -p the0-executor --bin runtime --target "$target"
  out="${CARGO_TARGET_DIR:-target}/$target/release/runtime"
  build="musl static"
else
  echo "warning: the musl target cannot be installed or no C compiler found; building a static glibc binary instead" >&2
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p the0-executor --bin runtime --target "$target"
  out="${CARGO_TARGET_DIR:-target}/$target/release/runtime"
  build="static glibc fallback"
fi
cp "$out" dist/runtime.tmp && mv dist/runtime.tmp dist/runtime
if file dist/runtime | grep -q 'dynamically linked'; then
  echo "error: dist/runtime is dynamically linked" >&2
  exit 1
fi
echo "$build ($target)" > dist/runtime.build
ls -l dist/runtime | awk '{printf "dist/runtime: %.2f MiB (%s)\n", $5/1048576, "'"$build, $target"'"}'
