#!/usr/bin/env bash
# Builds an offline base image from Debian packages, for machines whose Docker cannot pull:
#   debootstrap --variant=minbase --include=<packages> <suite> <dir> <mirror>, trim, docker import.
#
#   scripts/build-offline-base.sh FAMILY            # python | node | native | jvm | dotnet | universal | build
#
# The image is `the0-base/<family>:<suite>`; it is reused when it already exists (set
# THE0_REBUILD_BASES=1 to rebuild). The mirror and the suite are never written in this repo:
#   * suite : VERSION_CODENAME from /etc/os-release (override: THE0_DEBIAN_SUITE)
#   * mirror: the URI serving that suite of Debian `main` in the machine's own apt configuration
#             (deb822 /etc/apt/sources.list.d/*.sources, then one-line /etc/apt/sources.list and
#             /etc/apt/sources.list.d/*.list; override: THE0_DEBIAN_MIRROR); the updates and
#             security suites come from the same configuration and are applied after debootstrap
# Downloaded .debs are cached in target/debootstrap-cache, shared by every family.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

family=${1:?usage: build-offline-base.sh FAMILY}

# Debian packages per family (bookworm names). Only what the family's bots need at run time.
native_pkgs="ca-certificates libstdc++6 libgcc-s1 libgmp10 libffi8 zlib1g libssl3"
case "$family" in
  python) pkgs="ca-certificates python3" ;;
  node) pkgs="ca-certificates nodejs" ;;
  native) pkgs="$native_pkgs" ;;
  jvm) pkgs="ca-certificates openjdk-17-jre-headless" ;;
  # Debian carries no .NET runtime: this base has only .NET's native dependencies.
  dotnet) pkgs="$native_pkgs libicu72 tzdata" ;;
  universal) pkgs="$native_pkgs libicu72 tzdata python3 nodejs openjdk-17-jre-headless" ;;
  # Not a bot image: the build container of the compiled examples (C, a Java jar).
  build) pkgs="ca-certificates gcc libc6-dev openjdk-17-jdk-headless" ;;
  *) echo "unknown family: $family" >&2; exit 2 ;;
esac

suite=${THE0_DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
[ -n "$suite" ] || { echo "error: no VERSION_CODENAME in /etc/os-release; set THE0_DEBIAN_SUITE" >&2; exit 1; }
image="the0-base/$family:$suite"

if [ "${THE0_REBUILD_BASES:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image: cached"
  exit 0
fi

# The URI serving suite $1 of Debian main, from the machine's apt configuration.
find_mirror() {
  local f suite=$1
  # deb822 stanzas: Types/URIs/Suites/Components, separated by blank lines.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (enabled && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main /) {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        types = ""; uris = ""; suites = ""; comps = ""; enabled = 1
      }
      BEGIN { enabled = 1 }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "types") types = val
        else if (key == "uris") uris = val
        else if (key == "suites") suites = val
        else if (key == "components") comps = val
        else if (key == "enabled" && tolower(val) == "no") enabled = 0
      }
      END { if (!found) flush() }
    ' "$f" | head -n1
  done
  # One-line format: deb [options] URI SUITE COMPONENT...
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        uri = $i; s = $(i + 1); m = 0
        for (j = i + 2; j <= NF; j++) if ($j == "main") m = 1
        if (s == suite && m) { print uri; exit }
      }
    ' "$f"
  done
}
mirror=${THE0_DEBIAN_MIRROR:-$(find_mirror "$suite" | head -n1)}
[ -n "$mirror" ] || {
  echo "error: no apt source for '$suite' (Debian main) in /etc/apt; set THE0_DEBIAN_MIRROR" >&2
  exit 1
}

command -v debootstrap >/dev/null || {
  echo "error: debootstrap is missing: apt-get install -y debootstrap" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || { echo "error: debootstrap needs root" >&2; exit 1; }

cache="$here/target/debootstrap-cache"
mkdir -p "$cache" "$here/target"
root=$(mktemp -d "$here/target/rootfs-$family.XXXXXX")
cleanup() {
  # debootstrap mounts /proc and /sys in the target; never delete through a mount.
  for m in proc sys dev/pts var/cache/apt/archives; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "$image: debootstrap $suite from the apt-configured mirror ($mirror): $pkgs"
t0=$(date +%s)
if ! debootstrap --variant=minbase --cache-dir="$cache" --include="${pkgs// /,}" \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
  tail -n 30 "$root.log" >&2
  [ -f "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
  echo "error: debootstrap failed for $family (log: $root.log)" >&2
  exit 1
fi
rm -f "$root.log"

# debootstrap installs the release as published; add the point-release and security updates the
# machine's apt configuration serves (<suite>-updates, <suite>-security), like the official images.
# THE0_BASE_UPDATES=0 skips this.
if [ "${THE0_BASE_UPDATES:-1}" = 1 ]; then
  {
    echo "deb $mirror $suite main"
    for s in "$suite-updates" "$suite-security"; do
      u=$(find_mirror "$s" | head -n1)
      if [ -n "$u" ]; then echo "deb $u $s main"; else echo "  (no $s in the apt configuration: not applied)" >&2; fi
    done
  } >"$root/etc/apt/sources.list"
  # The machine's own index files seed the update (only changes are fetched); the downloaded
  # .debs are shared by every family through the cache.
  cp -p /var/lib/apt/lists/*_dists_* "$root/var/lib/apt/lists/" 2>/dev/null || true
  mkdir -p "$cache/archives/partial"
  mount -t proc proc "$root/proc"
  mount --bind "$cache/archives" "$root/var/cache/apt/archives"
  upgrade='apt-get -q -o Acquire::Languages=none update && DEBIAN_FRONTEND=noninteractive apt-get -q -y upgrade'
  if ! chroot "$root" sh -c "$upgrade" >"$root.log" 2>&1; then
    umount -l "$root/proc" "$root/var/cache/apt/archives"
    tail -n 30 "$root.log" >&2
    echo "error: applying updates failed for $family (log: $root.log)" >&2
    exit 1
  fi
  umount -l "$root/proc" "$root/var/cache/apt/archives"
  echo "$image: $(grep -Eo '^[0-9]+ upgraded' "$root.log" || echo '0 upgraded') from $suite-updates/$suite-security"
  rm -f "$root.log"
fi

# Trim what no bot needs: apt lists and caches, docs, man pages, locales, logs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/usr/share/lintian "$root"/usr/share/linda "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
# Nothing of the build machine stays in the image: no mirror, no resolver, no host name.
rm -f "$root/etc/apt/sources.list" "$root/etc/resolv.conf" "$root/etc/hostname"

tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL org.the0.base.debian-suite=$suite org.the0.base.packages=\"$pkgs\"" \
  - "$image" >/dev/null
echo "$image: imported in $(($(date +%s) - t0))s"
