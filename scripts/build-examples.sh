#!/usr/bin/env bash
# `make examples`: builds the compiled examples in a build container made from a local image (no
# pulls, nothing on the host but Docker): examples/c-ticker/ticker (gcc, linked against the same
# Debian glibc as the native and universal bot images) and examples/jvm-ticker/bot.jar (javac,
# `jar` with Main-Class). The build container the0/build:latest comes from
# `scripts/build-images.sh build` (official base, else the offline Debian base) when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
builder=the0/build:latest
if ! docker image inspect "$builder" >/dev/null 2>&1; then
  [ -x dist/runtime ] || scripts/build-executor.sh
  scripts/build-images.sh build
fi
# Run as the caller, without network, with only the example's directory writable.
build_in() { # build_in DIR COMMAND
  docker run --rm --network none --user "$(id -u):$(id -g)" -v "$here/examples/$1:/src" -w /src \
    "$builder" sh -ec "$2"
}
t0=$(date +%s)
build_in c-ticker 'gcc -O2 -Wall -Wextra -Werror -o ticker.tmp ticker.c && mv ticker.tmp ticker'
build_in jvm-ticker 'rm -rf classes && mkdir classes && javac --release 17 -d classes Main.java \
  && jar --create --file bot.jar.tmp --main-class Main -C classes . && mv bot.jar.tmp bot.jar && rm -rf classes'
echo "examples built in $(($(date +%s) - t0))s: examples/c-ticker/ticker, examples/jvm-ticker/bot.jar"
