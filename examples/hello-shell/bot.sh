#!/bin/sh
# A tiny realtime bot in the SDK's conventions: state in $STATE_DIR/<key>.json, metrics as JSON on
# stdout, logs as JSON on stderr. It counts ticks across restarts until stopped (Ctrl-C).
mkdir -p "$STATE_DIR"
n=0
[ -f "$STATE_DIR/ticks.json" ] && n=$(cat "$STATE_DIR/ticks.json")
echo "{\"level\":\"info\",\"message\":\"bot $BOT_ID starting at tick $n\"}" >&2
trap 'echo "{\"level\":\"info\",\"message\":\"stopping at tick $n\"}" >&2; exit 0' TERM INT
while true; do
  n=$((n + 1))
  echo "$n" > "$STATE_DIR/ticks.json"
  echo "{\"_metric\":\"tick\",\"value\":$n}"
  sleep 1
done
