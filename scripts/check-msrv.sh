#!/usr/bin/env bash
# The minimum supported Rust version (MSRV) is `rust-version` in the workspace's Cargo.toml; no
# toolchain channel is pinned (only one toolchain can be installed on the project's machines, and
# a pin that differs from it breaks every cargo command). Clippy's `incompatible_msrv` lint checks
# the code against rust-version in `make lint`; this checks the rest: that this machine's rustc is
# not older than the MSRV, and that every crate of the workspace inherits it.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n '/^\[workspace.package\]/,/^\[/s/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "error: no rust-version in [workspace.package] of Cargo.toml" >&2; exit 1; }

have=$(rustc --version | awk '{print $2}')
have=${have%%-*}
# Version order: the smaller of the two, by sort -V, must be the MSRV.
if [ "$(printf '%s\n%s\n' "$msrv" "$have" | sort -V | head -n1)" != "$msrv" ]; then
  echo "error: rustc $have is older than the workspace's rust-version $msrv" >&2
  exit 1
fi

bad=0
members=$(sed -n '/^\[workspace\]/,/^\[/s/^members *= *\[\(.*\)\].*/\1/p' Cargo.toml | tr -d '" ' | tr ',' ' ')
for m in $members; do
  grep -Eq '^rust-version\.workspace *= *true' "$m/Cargo.toml" || { echo "error: $m/Cargo.toml does not inherit rust-version (rust-version.workspace = true)" >&2; bad=1; }
  grep -Eq '^\[lints\]' "$m/Cargo.toml" && sed -n '/^\[lints\]/,/^\[/p' "$m/Cargo.toml" | grep -Eq '^workspace *= *true' \
    || { echo "error: $m/Cargo.toml does not inherit the workspace lints ([lints] workspace = true)" >&2; bad=1; }
done
for pin in rust-toolchain rust-toolchain.toml; do
  [ ! -e "$pin" ] || { echo "error: $pin pins a toolchain channel; the MSRV is rust-version in Cargo.toml" >&2; bad=1; }
done
[ "$bad" = 0 ] || exit 1
echo "MSRV $msrv: rustc $have, every crate inherits it"
