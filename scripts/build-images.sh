#!/usr/bin/env bash
# `make images`: builds the universal image (the0/runtime:latest, also :universal) and the slim
# images the0/runtime:<family> (python, node, native, jvm, dotnet), then prints their sizes.
#
#   scripts/build-images.sh [FAMILY...]        # default: python node native jvm dotnet universal
#   scripts/build-images.sh build              # the examples' build container the0/build:latest
#
# Each image's base is the official image named by `ARG BASE_IMAGE=` in its Dockerfile (override:
# BASE_IMAGE_<FAMILY>=image, e.g. BASE_IMAGE_PYTHON=python:3.11-slim-bookworm). When that base is
# neither present nor pullable, the family's offline base the0-base/<family>:<suite> is built from
# Debian packages (scripts/build-offline-base.sh) and used instead; THE0_BASES=offline forces
# that, THE0_BASES=official forbids it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

families=("$@")
[ ${#families[@]} -gt 0 ] || families=(python node native jvm dotnet universal)
mode=${THE0_BASES:-auto}
case "$mode" in auto | official | offline) ;; *) echo "THE0_BASES must be auto, official or offline" >&2; exit 2 ;; esac

[ -x dist/runtime ] || { echo "dist/runtime missing: run make executor" >&2; exit 1; }
executor_build=$(cat dist/runtime.build 2>/dev/null || echo "unknown (dist/runtime not built by scripts/build-executor.sh)")
echo "executor in every image: dist/runtime, $executor_build"

dockerfile_of() { if [ "$1" = universal ]; then echo Dockerfile.universal; else echo "runtime-images/$1/Dockerfile"; fi; }
tag_of() {
  case "$1" in
    universal) echo the0/runtime:latest ;;
    build) echo the0/build:latest ;;
    *) echo "the0/runtime:$1" ;;
  esac
}
# The default of `ARG NAME=` in a Dockerfile: the Dockerfile is the one place a default is written.
arg_default() { sed -n "s/^ARG $2=//p" "$1" | head -n1 | tr -d '"'; }

# Present locally, or pulled now. A machine that cannot pull fails here in well under a second.
available() {
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  [ "$mode" = offline ] && return 1
  echo "  pulling $1 ..."
  if docker pull -q "$1" >/dev/null 2>"$ctx/pull.err"; then return 0; fi
  echo "  cannot pull $1: $(tail -n1 "$ctx/pull.err")"
  return 1
}

# A small build context with the repo's paths: dist/runtime and the wrappers (0755).
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/dist" "$ctx/runtime-images/wrappers" "$ctx/runtime-images/"{python,node,native,jvm,dotnet,build}
install -m 0755 dist/runtime "$ctx/dist/runtime"
install -m 0755 runtime-images/wrappers/python_bot.py runtime-images/wrappers/node_bot.js "$ctx/runtime-images/wrappers/"

declare -A base_used
notes=()
t_all=$(date +%s)
for fam in "${families[@]}"; do
  df=$(dockerfile_of "$fam")
  [ -f "$df" ] || { echo "unknown family: $fam" >&2; exit 2; }
  cp "$df" "$ctx/$df"
  tag=$(tag_of "$fam")
  var="BASE_IMAGE_$(echo "$fam" | tr a-z A-Z)"
  base=${!var:-$(arg_default "$df" BASE_IMAGE)}
  args=()
  echo "== $tag"
  official=1
  needed=("$base")
  if [ "$fam" = universal ]; then
    node_img=${NODE_IMAGE:-$(arg_default "$df" NODE_IMAGE)}
    dotnet_img=${DOTNET_IMAGE:-$(arg_default "$df" DOTNET_IMAGE)}
    needed+=("$node_img" "$dotnet_img")
    args+=(--build-arg "NODE_IMAGE=$node_img" --build-arg "DOTNET_IMAGE=$dotnet_img")
  fi
  for img in "${needed[@]}"; do available "$img" || { official=0; break; }; done
  if [ $official = 0 ]; then
    if [ "$mode" = official ]; then echo "error: $base is not available and THE0_BASES=official" >&2; exit 1; fi
    command -v debootstrap >/dev/null || {
      echo "  installing debootstrap (apt) for the offline base"
      apt-get install -y -q debootstrap >/dev/null
    }
    scripts/build-offline-base.sh "$fam" | sed 's/^/  /'
    suite=${THE0_DEBIAN_SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
    base="the0-base/$fam:$suite"
    # The offline base already holds every package: no apt step, no other stages to pull.
    args=(--build-arg APT_PACKAGES= --build-arg "NODE_IMAGE=$base" --build-arg "DOTNET_IMAGE=$base")
    case "$fam" in
      node | universal) notes+=("$tag: Node.js is Debian's $(docker run --rm --entrypoint node "$base" --version 2>/dev/null || echo '?') (offline base), not 20") ;;
    esac
    case "$fam" in
      dotnet | universal)
        notes+=("$tag: NO .NET runtime: Debian carries none; dotnet8 bots need the official base (online): only .NET's native libraries are in this image")
        echo "  WARNING: offline $fam image has no .NET runtime (Debian carries none); build online for .NET bots"
        ;;
    esac
  fi
  base_used[$fam]=$base
  t0=$(date +%s)
  DOCKER_BUILDKIT=0 docker build -q -f "$ctx/$df" --build-arg "BASE_IMAGE=$base" "${args[@]}" \
    --label "org.the0.runtime.family=$fam" --label "org.the0.runtime.base=$base" \
    --label "org.the0.runtime.executor-build=$executor_build" \
    -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.err" || {
    grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e 'environment-variable' "$ctx/build.err" >&2
    echo "error: building $tag failed" >&2
    exit 1
  }
  [ "$fam" = universal ] && docker tag "$tag" the0/runtime:universal
  echo "  built $tag on $base in $(($(date +%s) - t0))s"
done

mib() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f", $1 / 1048576}'; }
echo
printf '%-22s %10s   %-52s %10s %10s\n' IMAGE "SIZE MiB" BASE "BASE MiB" "+MiB"
for fam in "${families[@]}"; do
  tag=$(tag_of "$fam")
  base=${base_used[$fam]}
  s=$(mib "$tag")
  b=$(mib "$base")
  printf '%-22s %10s   %-52s %10s %10s\n' "$tag" "$s" "$base" "$b" "$(awk -v s="$s" -v b="$b" 'BEGIN{printf "%.1f", s - b}')"
done
for n in "${notes[@]}"; do echo "note: $n"; done
echo "images built in $(($(date +%s) - t_all))s"
