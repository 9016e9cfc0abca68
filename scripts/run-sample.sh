#!/usr/bin/env bash
# `make run`: runs the sample bot (examples/hello-shell) under the executor with the embedded
# defaults: a local object directory instead of MinIO, no NATS. Stop it with Ctrl-C; run it again
# and the tick counter continues from the state stored at the last stop.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data=${THE0_DATA_DIR:-$here/the0-data/sample}
bot_id=hello-shell
mkdir -p "$data/objects/custom-bots/local/$bot_id" "$data/run"
# Package the bot as the0 stores it: a zip object in the code bucket.
(cd "$here/examples/hello-shell" && python3 - "$data/objects/custom-bots/local/$bot_id/1.0.0" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(".")):
        info = zipfile.ZipInfo(name)
        info.external_attr = (os.stat(name).st_mode & 0xFFFF) << 16
        z.writestr(info, open(name, "rb").read())
PY
)
rm -rf "$data/run/bot" "$data/run/state" "$data/run/the0"
cat <<MSG
Running bot '$bot_id' (Ctrl-C stops it in order: TERM, final sync, exit).
  objects (code, state, logs): $data/objects
  shipped logs:  ls $data/objects/bot-logs/logs/$bot_id/
  stored state:  tar -tzf $data/objects/bot-state/$bot_id/state.tar.gz
MSG
exec env BOT_ID=$bot_id RUNTIME=gcc13 ENTRYPOINT=bot.sh BOT_TYPE=realtime \
  CODE_FILE=local/$bot_id/1.0.0 THE0_STORAGE_DIR="$data/objects" \
  CODE_PATH="$data/run/bot" STATE_PATH="$data/run/state" LOGS_PATH="$data/run/the0/logs" \
  THE0_DONE_FILE="$data/run/the0/done" THE0_QUERY_DIR="$data/run/query" \
  "$here/dist/runtime" execute
