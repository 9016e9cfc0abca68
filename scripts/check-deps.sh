#!/usr/bin/env bash
# One TLS provider in the whole graph (rustls with ring): no aws-lc, no OpenSSL.
set -euo pipefail
cd "$(dirname "$0")/.."
for bad in aws-lc-sys aws-lc-rs openssl-sys native-tls; do
  if cargo tree --workspace --target all -e normal,build,dev -i "$bad" >/dev/null 2>&1; then
    echo "error: $bad is in the dependency graph:" >&2
    cargo tree --workspace --target all -e normal,build,dev -i "$bad" >&2
    exit 1
  fi
done
cargo tree --workspace -i ring >/dev/null
echo "TLS: rustls with ring only"
