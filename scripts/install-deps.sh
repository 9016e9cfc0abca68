#!/usr/bin/env bash
# Installs everything building and testing needs on a fresh Debian machine with rustup and Docker:
# the musl target and musl-tools (static executor), the test servers (nats-server, moto in a
# virtualenv, Ceph's S3 gateway for scripts/ceph-s3.sh), kubernetes-validate in the same
# virtualenv (scripts/check-kubernetes.sh), busybox-static for scratch test images, the benchmark
# peers, docker-compose and systemd-analyze (deploy checks), Prometheus (the dashboard's test),
# headless Chromium (scripts/test-ui.sh),
# and gVisor's runsc in CI or with THE0_GVISOR=1. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${THE0_VENV:-$here/target/venv}

rustup target add x86_64-unknown-linux-musl
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# docker-compose (1.29) and systemd (systemd-analyze): scripts/test-compose.sh, scripts/check-systemd.sh.
# chromium (headless): the status page in a real browser, scripts/test-ui.sh and `make screenshots`.
pkgs="musl-tools nats-server busybox-static tini hyperfine rclone file openssl ceph-mon ceph-osd radosgw docker-compose systemd chromium"
# gVisor's runsc (Debian's build) for the gVisor lane and `make bench-gvisor`: only in CI or when
# asked (THE0_GVISOR=1); scripts/gvisor.sh registers it with the running engine.
if [ "${CI:-}" = true ] || [ "${THE0_GVISOR:-0}" = 1 ]; then
  pkgs="$pkgs runsc"
fi
# The Debian packages of "$@" that are not installed, each after a space.
not_installed() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf ' %s' "$p"
  done
}
missing=$(not_installed $pkgs)
# Prometheus for scripts/test-dashboard.sh (the Grafana dashboard's queries), without the node
# exporter it recommends (a service that would start on the machine).
missing_lean=$(not_installed prometheus)
if [ -n "$missing$missing_lean" ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
  [ -z "$missing_lean" ] || DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing_lean >/dev/null
fi

if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'moto[server]'
fi
# kubernetes-validate for scripts/check-kubernetes.sh (`make lint`): the Kubernetes schemas of
# every version it knows ship inside the package, so validation runs offline.
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate
fi
# schemathesis for scripts/test-openapi.sh (`make test`): property-based requests against the
# admin API and :9477 from their OpenAPI documents.
if [ ! -x "$venv/bin/schemathesis" ]; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis
fi

# cargo-deny for `make lint` (deny.toml): from crates.io, only when missing.
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install cargo-deny --locked --quiet
fi

# cargo-fuzz for scripts/fuzz.sh (docs/fuzzing.md; `make fuzz` sets THE0_INSTALL_FUZZ=1): from
# crates.io, only when missing (`make fuzz-ci`, which .ci/run calls, sets it too).
if [ "${THE0_INSTALL_FUZZ:-0}" = 1 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi

"$here/scripts/ensure-docker.sh"
