#!/usr/bin/env bash
# Starts (or stops) Ceph's S3 gateway as a second test S3 server beside moto. Unlike moto it checks
# signatures, policies and STS session policies, so the storage and scoped-credential tests can run
# against a production-grade server. One monitor, one OSD on memstore (data in RAM, capped), one
# radosgw, all on loopback only, no cephx (auth none), every file under $THE0_CEPH_DIR
# (default: target/ceph).
#
# `start` prints `export` lines:
#   THE0_TEST_CEPH_ENDPOINT    127.0.0.1:PORT of the gateway (path-style, plain HTTP)
#   THE0_TEST_CEPH_ACCESS_KEY  / THE0_TEST_CEPH_SECRET_KEY: an S3 user allowed to assume the role
#   THE0_TEST_CEPH_ROLE_ARN    a role that user may assume with STS AssumeRole (role policy: s3:*)
#   THE0_TEST_CEPH_REGION      the region to sign with ("default": the gateway's zonegroup)
# THE0_CEPH_BIND (default 127.0.0.1) is the gateway's listening address: 0.0.0.0 (or the Docker
# bridge's gateway address) lets bot containers reach it at host.docker.internal; the printed
# endpoint stays 127.0.0.1 for the host. The monitor and OSD stay on loopback.
# `stop` ends every daemon it started (by pid) and removes the data dir.
# Needs the Debian packages ceph-mon, ceph-osd, radosgw (scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${THE0_CEPH_DIR:-$here/target/ceph}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
conf="$dir/ceph.conf"
access_key=THE0TESTCEPHACCESS
secret_key=the0testcephsecretkey0123456789abcdef
role_name=the0-test-role
user=the0-test
wait_secs=${THE0_CEPH_WAIT_SECS:-90}
bind=${THE0_CEPH_BIND:-127.0.0.1}
probe=$bind
[ "$probe" = 0.0.0.0 ] && probe=127.0.0.1

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fail() { # message
  echo "ceph-s3: $1" >&2
  for log in "$dir"/log/*.log; do
    [ -f "$log" ] || continue
    echo "----- $log (last 40 lines)" >&2
    tail -n 40 "$log" >&2
  done
  stop
  exit 1
}

# Polls a command until it succeeds, at most $wait_secs seconds; fails at once if the daemon it
# waits for has exited.
wait_for() { # daemon what command...
  local name=$1 what=$2
  shift 2
  local deadline=$((SECONDS + wait_secs))
  while ! "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || fail "$name exited (see its log below)"
    [ "$SECONDS" -lt "$deadline" ] || fail "$what not ready after ${wait_secs}s"
    sleep 0.3
  done
}

ceph_() { timeout 20 ceph -c "$conf" "$@"; }

spawn() { # name command...
  local name=$1
  shift
  setsid "$@" >"$dir/log/$name.out" 2>&1 &
  echo $! >"$dir/$name.pid"
}

start() {
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool; do
    command -v "$b" >/dev/null || { echo "ceph-s3: $b is not installed (run scripts/install-deps.sh)" >&2; exit 1; }
  done
  [ ! -e "$dir/mon.pid" ] || { echo "ceph-s3: already started in $dir (run stop first)" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$dir/log" "$dir/run" "$dir/mon" "$dir/osd0" "$dir/rgw"
  local t0=$SECONDS monport rgwport fsid osd_uuid sts_key
  monport=$(free_port)
  rgwport=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  sts_key=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$monport
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
crash dir = $dir/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
[mon.a]
mon data = $dir/mon
[osd.0]
osd data = $dir/osd0
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.a]
rgw data = $dir/rgw
rgw frontends = beast endpoint=$bind:$rgwport
rgw s3 auth use sts = true
rgw sts key = $sts_key
rgw enable usage log = false
EOF
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >"$dir/log/mon-mkfs.out" 2>&1 ||
    fail "ceph-mon --mkfs failed: $(cat "$dir/log/mon-mkfs.out")"
  spawn mon ceph-mon -c "$conf" -f -i a
  wait_for mon "monitor" ceph_ mon stat

  local id
  id=$(ceph_ osd create "$osd_uuid") || fail "ceph osd create failed"
  [ "$id" = 0 ] || fail "unexpected OSD id $id"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1 ||
    fail "ceph-osd --mkfs failed: $(tail -5 "$dir/log/osd-mkfs.out")"
  spawn osd ceph-osd -c "$conf" -f -i 0
  wait_for osd "OSD up" sh -c "timeout 20 ceph -c '$conf' osd stat | grep -q '1 up'"

  spawn rgw radosgw -c "$conf" -f -n client.rgw.a
  wait_for rgw "radosgw on $bind:$rgwport" bash -c "exec 3<>/dev/tcp/$probe/$rgwport"

  local admin=(timeout 30 radosgw-admin -c "$conf")
  "${admin[@]}" user create --uid "$user" --display-name "$user" \
    --access-key "$access_key" --secret-key "$secret_key" >"$dir/log/user.out" 2>&1 ||
    fail "radosgw-admin user create failed: $(cat "$dir/log/user.out")"
  "${admin[@]}" caps add --uid "$user" --caps "roles=*" >>"$dir/log/user.out" 2>&1 ||
    fail "radosgw-admin caps add failed"
  local trust policy
  trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/'"$user"'"]},"Action":["sts:AssumeRole"]}]}'
  policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}'
  "${admin[@]}" role create --role-name "$role_name" --assume-role-policy-doc "$trust" >"$dir/log/role.out" 2>&1 ||
    fail "radosgw-admin role create failed: $(cat "$dir/log/role.out")"
  "${admin[@]}" role-policy put --role-name "$role_name" --policy-name s3all --policy-doc "$policy" >>"$dir/log/role.out" 2>&1 ||
    fail "radosgw-admin role-policy put failed: $(cat "$dir/log/role.out")"
  echo "ceph-s3: gateway up on 127.0.0.1:$rgwport in $((SECONDS - t0))s (data in $dir)" >&2
  echo "export THE0_TEST_CEPH_ENDPOINT=127.0.0.1:$rgwport"
  echo "export THE0_TEST_CEPH_ACCESS_KEY=$access_key"
  echo "export THE0_TEST_CEPH_SECRET_KEY=$secret_key"
  echo "export THE0_TEST_CEPH_ROLE_ARN=arn:aws:iam:::role/$role_name"
  echo "export THE0_TEST_CEPH_REGION=default"
}

stop() {
  local name pid
  for name in rgw osd mon; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/$name.pid"
  done
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
