#!/usr/bin/env bash
# `make images` (with the bot images): the orchestrator image the0/orchestrator:latest from
# Dockerfile.orchestrator: the orchestrator built static (x86_64-unknown-linux-musl, as `make deps`
# installs it; a fully static glibc build, said so, when the musl target is missing) at
# /app/runtime on an empty base (FROM scratch: nothing is pulled), uid 1000, HEALTHCHECK through
# the binary itself. Prints which build it carries (version, commit, target, sha256) and its size.
#
#   scripts/build-orchestrator-image.sh [TAG]     # default the0/orchestrator:latest
#
# The static binary is also left at dist/orchestrator-static.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
tag=${1:-the0/orchestrator:latest}
mkdir -p dist

target=x86_64-unknown-linux-musl
t0=$(date +%s)
if rustup target list --installed 2>/dev/null | grep -qx "$target" && command -v musl-gcc >/dev/null; then
  CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -p the0-orchestrator --bin orchestrator --target "$target"
else
  echo "warning: musl target or musl-gcc missing (make deps installs them); building a static glibc binary instead" >&2
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p the0-orchestrator --bin orchestrator --target "$target"
fi
out="${CARGO_TARGET_DIR:-target}/$target/release/orchestrator"
linkage=$(file -L "$out")
if echo "$linkage" | grep -q 'dynamically linked'; then
  echo "error: $out is dynamically linked: $linkage" >&2
  exit 1
fi
cp "$out" dist/orchestrator-static.tmp && mv dist/orchestrator-static.tmp dist/orchestrator-static

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
r="$ctx/rootfs"
mkdir -p "$r/app" "$r/etc" "$r/tmp" "$r/var/lib/the0"
install -m 0755 dist/orchestrator-static "$r/app/runtime"
printf 'root:x:0:0:root:/:/sbin/nologin\nthe0:x:1000:1000:the0:/var/lib/the0:/sbin/nologin\n' >"$r/etc/passwd"
printf 'root:x:0:\nthe0:x:1000:\n' >"$r/etc/group"
chmod 0644 "$r/etc/passwd" "$r/etc/group"
chmod 1777 "$r/tmp"
cp Dockerfile.orchestrator "$ctx/Dockerfile"

version=$(dist/orchestrator-static version)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- orchestrator contract objstore Cargo.lock Cargo.toml 2>/dev/null || commit="$commit+changes"
sha=$(sha256sum dist/orchestrator-static | cut -c1-16)
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Dockerfile" \
  --label "org.the0.orchestrator.version=$version" \
  --label "org.the0.orchestrator.target=$target" \
  --label "org.opencontainers.image.revision=$commit" \
  -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.err" || {
  grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e 'environment-variable' "$ctx/build.err" >&2
  echo "error: building $tag failed" >&2
  exit 1
}
# The image runs: the binary answers inside it, as the user the image declares.
ran=$(docker run --rm --network none "$tag" version)
[ "$ran" = "$version" ] || { echo "error: $tag runs but says '$ran', not '$version'" >&2; exit 1; }
size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f", $1 / 1048576}')
echo "built $tag in $(($(date +%s) - t0))s: $version, commit $commit, $target ($(echo "$linkage" | grep -o -e 'static-pie linked' -e 'statically linked' | head -n1)), /app/runtime sha256 $sha..., $size MiB"
