#!/usr/bin/env bash
# Builds the test image `the0-test/executor:dev` without any registry: FROM scratch with Debian's
# busybox-static (for shell bots) and dist/runtime at /app/runtime, user 1000, the contract's CMD.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-the0-test/executor:dev}
[ -x "$here/dist/runtime" ] || { echo "dist/runtime missing: run make executor" >&2; exit 1; }
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" | grep -q 'statically linked' || { echo "busybox-static is not installed" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$busybox" "$ctx/busybox"
cp "$here/dist/runtime" "$ctx/runtime"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY runtime /app/runtime
USER 1000:1000
WORKDIR /tmp
CMD ["/app/runtime", "execute"]
DOCKERFILE
executor_build=$(cat "$here/dist/runtime.build" 2>/dev/null || echo unknown)
echo "$image: executor dist/runtime, $executor_build"
DOCKER_BUILDKIT=0 docker build -q --label "org.the0.runtime.executor-build=$executor_build" -t "$image" "$ctx" >/dev/null
echo "built $image"
