#!/usr/bin/env bash
# Checks the built images for real, offline, hardened as the orchestrator runs bots (read-only
# rootfs, tmpfs mounts, uid 1000, no capabilities, no network):
#   * image config (USER, WORKDIR, CMD), /app/runtime and the wrappers 0755, `runtime version`
#   * the family's interpreter and native libraries
#   * a real tiny bot through the executor (code zip -> run -> state and logs stored), with local
#     storage bind-mounted at /objects: Python and Node via the wrappers, a dynamically linked
#     C++ binary, a Java class in a jar (RUNTIME=scala3)
#
#   scripts/test-images.sh [FAMILY...]     # default: python node native jvm dotnet universal
#
# One PASS/FAIL (or SKIP, with the reason) line per check, then `N passed, N failed`; exits 1 on
# any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(python node native jvm dotnet universal)
tag_of() { if [ "$1" = universal ]; then echo the0/runtime:latest; else echo "the0/runtime:$1"; fi; }

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $*"; }

work=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

harden=(--read-only --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges:true --network none
  --tmpfs /tmp:rw,nosuid,nodev,uid=1000,gid=1000,mode=1777)
# Runs a command in the image, hardened; stdout+stderr on stdout.
in_image() {
  local img=$1
  shift
  docker run --rm "${harden[@]}" --entrypoint "$1" "$img" "${@:2}" 2>&1
}

# ---- the bots (built once, on the host) ----
mkdir -p "$work/src"/{python,node,cpp,java}
cat >"$work/src/python/main.py" <<'PY'
import json, os

def main(bot_id, config):
    os.makedirs(os.environ["STATE_DIR"], exist_ok=True)
    with open(os.path.join(os.environ["STATE_DIR"], "bot.json"), "w") as f:
        json.dump({"lang": "python"}, f)
    print("bot-ok python", bot_id, config["symbol"])
PY
cat >"$work/src/node/index.js" <<'JS'
const fs = require("fs");
const path = require("path");
module.exports = async (botId, config) => {
  fs.mkdirSync(process.env.STATE_DIR, { recursive: true });
  fs.writeFileSync(path.join(process.env.STATE_DIR, "bot.json"), JSON.stringify({ lang: "node" }));
  console.log("bot-ok node", botId, config.symbol);
};
JS
cat >"$work/src/bot.cpp" <<'CPP'
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
int main() {
  std::string dir = std::getenv("STATE_DIR");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/bot.json") << "{\"lang\":\"cpp\"}";
  std::string cfg = std::getenv("BOT_CONFIG");
  std::cout << "bot-ok cpp " << std::getenv("BOT_ID") << " "
            << (cfg.find("BTC") != std::string::npos ? "BTC" : "?") << std::endl;
  return 0;
}
CPP
cat >"$work/src/Main.java" <<'JAVA'
import java.nio.file.*;
public class Main {
  public static void main(String[] args) throws Exception {
    Path dir = Paths.get(System.getenv("STATE_DIR"));
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("bot.json"), "{\"lang\":\"java\"}");
    String cfg = System.getenv("BOT_CONFIG");
    System.out.println("bot-ok java " + System.getenv("BOT_ID") + " " + (cfg.contains("BTC") ? "BTC" : "?"));
  }
}
JAVA
have_cpp=0 have_java=0
# Dynamically linked on purpose: the run proves the image's libstdc++/libgcc_s are there.
if command -v g++ >/dev/null && g++ -O2 -o "$work/src/cpp/bot" "$work/src/bot.cpp" 2>"$work/gpp.err"; then have_cpp=1; fi
if command -v javac >/dev/null && command -v jar >/dev/null \
  && javac --release 17 -d "$work/src/java" "$work/src/Main.java" 2>"$work/javac.err" \
  && (cd "$work/src/java" && jar cfe bot.jar Main Main.class && rm Main.class); then have_java=1; fi

zip_dir() { # zip_dir SRC_DIR OUT: the0's code zip, file modes kept
  python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src)):
        p = os.path.join(src, name)
        info = zipfile.ZipInfo(name)
        info.external_attr = (os.stat(p).st_mode & 0xFFFF) << 16
        z.writestr(info, open(p, "rb").read())
PY
}

# run_bot FAMILY IMAGE LANG RUNTIME ENTRYPOINT: runs the bot to completion, checks its output,
# its exit code, its stored state and its shipped logs.
run_bot() {
  local fam=$1 img=$2 lang=$3 runtime=$4 entry=$5
  local id="imgtest-$fam-$lang-$$"
  local objects="$work/objects-$fam-$lang"
  local key="test/$id/1.zip"
  mkdir -p "$objects/custom-bots/test/$id" "$objects/bot-state" "$objects/bot-logs"
  zip_dir "$work/src/$lang" "$objects/custom-bots/$key"
  chown -R 1000:1000 "$objects"
  local name="the0-imgtest-$fam-$lang-$$"
  containers+=("$name")
  local out rc
  out=$(timeout 180 docker run --name "$name" "${harden[@]}" \
    --tmpfs /bot:rw,exec,nosuid,nodev,uid=1000,gid=1000 \
    --tmpfs /state:rw,nosuid,nodev,uid=1000,gid=1000 \
    --tmpfs /query:rw,nosuid,nodev,uid=1000,gid=1000 \
    --tmpfs /var/the0:rw,nosuid,nodev,uid=1000,gid=1000 \
    -v "$objects:/objects" \
    -e BOT_ID="$id" -e RUNTIME="$runtime" -e ENTRYPOINT="$entry" -e CODE_FILE="$key" \
    -e THE0_STORAGE_DIR=/objects -e BOT_TYPE=scheduled -e IS_SCHEDULED=true \
    -e BOT_CONFIG='{"symbol":"BTC"}' "$img" 2>&1)
  rc=$?
  docker rm -f "$name" >/dev/null 2>&1
  local what="$img: $lang bot (RUNTIME=$runtime) through the executor"
  if [ $rc -ne 0 ] || ! grep -q "bot-ok $lang $id BTC" <<<"$out"; then
    fail "$what: exit $rc"
    sed 's/^/      | /' <<<"$out" | tail -n 15
    return
  fi
  local st="$work/state-$fam-$lang"
  mkdir -p "$st"
  if ! tar -xzf "$objects/bot-state/$id/state.tar.gz" -C "$st" 2>/dev/null \
    || ! grep -q "\"$lang\"" "$st/.the0-state/bot.json" 2>/dev/null; then
    fail "$what: state not stored"
    return
  fi
  if ! cat "$objects/bot-logs/logs/$id/"*.log 2>/dev/null | grep -q "bot-ok $lang"; then
    fail "$what: logs not shipped"
    return
  fi
  pass "$what: exit 0, output, state stored, logs shipped"
}

# check DESCRIPTION EXPECTED_REGEX OUTPUT
check() {
  if grep -Eq "$2" <<<"$3"; then pass "$1: $(head -n1 <<<"$3")"; else
    fail "$1"
    sed 's/^/      | /' <<<"$3" | tail -n 8
  fi
}

libs_check() { # libs_check IMAGE LIB...: present under the multiarch lib dirs (no ldd needed)
  local img=$1
  shift
  local script='m=""; for l in "$@"; do [ -e /usr/lib/x86_64-linux-gnu/$l ] || [ -e /lib/x86_64-linux-gnu/$l ] || m="$m $l"; done; [ -z "$m" ] && echo "all present: $*" || echo "missing:$m"'
  check "$img: native libraries" '^all present' "$(in_image "$img" sh -c "$script" sh "$@")"
}

native_libs=(libstdc++.so.6 libgcc_s.so.1 libgmp.so.10 libffi.so.8 libz.so.1 libssl.so.3)

for fam in "${families[@]}"; do
  img=$(tag_of "$fam")
  echo "== $img"
  if ! docker image inspect "$img" >/dev/null 2>&1; then
    fail "$img: image missing (run make images)"
    continue
  fi
  base=$(docker image inspect -f '{{index .Config.Labels "org.the0.runtime.base"}}' "$img")
  offline=0
  case "$base" in the0-base/*) offline=1 ;; esac
  check "$img: config" '^1000:1000 /tmp \["/app/runtime","execute"\]$' \
    "$(docker image inspect -f '{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Cmd}}' "$img")"
  check "$img: runtime version (read-only rootfs, uid 1000)" '.' "$(docker run --rm "${harden[@]}" "$img" /app/runtime version 2>&1)"
  files=(/app/runtime)
  case "$fam" in
    python) files+=(/app/wrappers/python_bot.py) ;;
    node) files+=(/app/wrappers/node_bot.js) ;;
    universal) files+=(/app/wrappers/python_bot.py /app/wrappers/node_bot.js) ;;
  esac
  want=$(for f in "${files[@]}"; do echo "755 root $f"; done)
  got=$(in_image "$img" stat -c '%a %U %n' "${files[@]}")
  if [ "$got" = "$want" ]; then pass "$img: ${files[*]} 0755 root"; else
    fail "$img: file modes (want 0755 root: ${files[*]})"
    sed 's/^/      | /' <<<"$got"
  fi
  check "$img: id" '^uid=1000' "$(in_image "$img" id)"

  case "$fam" in python | universal)
    check "$img: python3" '^Python 3\.11\.' "$(in_image "$img" python3 --version)"
    run_bot "$fam" "$img" python python3.11 main.py ;;
  esac
  case "$fam" in node | universal)
    if [ $offline = 1 ]; then re='^v(18|20)\.'; else re='^v20\.'; fi
    check "$img: node" "$re" "$(in_image "$img" node --version)"
    run_bot "$fam" "$img" node nodejs20 index.js ;;
  esac
  case "$fam" in jvm | universal)
    check "$img: java" 'version "17' "$(in_image "$img" java -version)"
    if [ $have_java = 1 ]; then run_bot "$fam" "$img" java scala3 bot.jar; else skip "$img: java bot (no javac/jar on the host)"; fi ;;
  esac
  case "$fam" in native | dotnet | universal)
    case "$fam" in
      native) libs=("${native_libs[@]}") ;;
      universal) libs=("${native_libs[@]}" libicuuc.so.72) ;;
      dotnet) libs=(libstdc++.so.6 libgcc_s.so.1 libz.so.1 libssl.so.3 libicuuc.so.72) ;; # .NET's own
    esac
    libs_check "$img" "${libs[@]}"
    check "$img: CA certificates" 'ca-certificates.crt' "$(in_image "$img" ls /etc/ssl/certs/ca-certificates.crt)"
    if [ $have_cpp = 1 ]; then run_bot "$fam" "$img" cpp cpp-gcc13 bot; else skip "$img: C++ bot (no g++ on the host)"; fi ;;
  esac
  case "$fam" in dotnet | universal)
    if [ $offline = 1 ]; then
      if in_image "$img" sh -c 'command -v dotnet' >/dev/null; then
        fail "$img: offline base unexpectedly has dotnet"
      else
        skip "$img: .NET runtime absent by design (offline base $base: Debian carries no .NET)"
      fi
    else
      check "$img: .NET 8 runtime" 'Microsoft\.NETCore\.App 8\.' "$(in_image "$img" dotnet --list-runtimes)"
    fi ;;
  esac
done

echo
[ $skipped -gt 0 ] && echo "($skipped skipped, see SKIP lines)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
