"""The gap of an update of a realtime bot (issue #15): how long no bot process of the bot runs,
from the old bot's last line (written on its TERM) to the new bot's first line, both as Docker
timestamps them, for the update handover (`--update-handover on`) against the old stop-then-start
path (`off`) on the same bot and the same state (a 1 MiB code zip, a 10 MiB state), alternating.

Also, from the same logs: the old container's final sync (its bot's end to its `die` event) and
the new one's state restore (its `released` line to its `state restored` line, handover only), so
the goal `gap <= final sync + restore + 100 ms` is checked against what this run measured.

Usage: update_gap.py ORCHESTRATOR IMAGE WORKDIR ROUNDS INSTANCE  (prints a Markdown table).
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402

BOT = """#!/bin/sh
mkdir -p "$STATE_DIR"
[ -f "$STATE_DIR/blob.bin" ] || head -c 10485760 /dev/urandom > "$STATE_DIR/blob.bin"
trap 'echo "gap-end"; exit 0' TERM
echo "gap-start"
i=0
while true; do i=$((i+1)); echo "$i" > "$STATE_DIR/tick.txt"; sleep 0.1; done
"""


def free_addr():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def rfc3339_s(ts):
    """Seconds since the epoch of Docker's `2026-01-02T03:04:05.123456789Z`."""
    main, frac = ts.rstrip("Z").split(".")
    t = time.mktime(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return t + float("0." + frac)


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout


def running(inst, bot):
    return docker("ps", "-q", "--no-trunc", "--filter", "label=runtime.instance=" + inst,
                  "--filter", "label=runtime.id=" + bot, "--filter", "status=running").split()


def wait_for(what, cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit("timeout: " + what)


class Orchestrator:
    def __init__(self, binary, data, inst, image, mode):
        self.admin = free_addr()
        env = {"PATH": os.environ.get("PATH", ""), "DOCKER_NETWORK": "none", "BOT_STOP_TIMEOUT_SEC": "10",
               "QUERY_SERVER_PORT": "0", "HOME": os.environ.get("HOME", "/tmp")}
        argv = [binary, "serve", "--data-dir", data, "--instance", inst, "--admin-addr", self.admin,
                "--health-addr", free_addr(), "--runtime-image", image, "--runtime-image-pull-policy", "Never",
                "--query-bind", "127.0.0.1", "--update-handover", mode]
        self.pid = lib.spawn(argv, env, stdout=os.path.join(data, "orch.log"), stderr=os.path.join(data, "orch.log"))
        wait_for("admin API", self.up, 30)

    def up(self):
        try:
            urllib.request.urlopen("http://%s/bots" % self.admin, timeout=1).read()
            return True
        except OSError:
            return False

    def put(self, payload):
        req = urllib.request.Request("http://%s/bots/%s" % (self.admin, payload["id"]),
                                     data=json.dumps(payload).encode(), method="PUT")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self):
        lib.kill_group(self.pid, signal.SIGTERM)
        lib.wait(self.pid, 60)


def timestamped(lines, needle):
    for line in lines:
        if needle in line:
            return rfc3339_s(line.split(" ", 1)[0])
    return None


def one_update(orch, inst, bot, version):
    old = running(inst, bot)[0]
    since = str(int(time.time()) - 1)
    follow = subprocess.Popen(["docker", "logs", "-f", "-t", old], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    events = subprocess.Popen(["docker", "events", "--since", since, "--filter", "container=" + old,
                               "--filter", "event=die", "--format", "{{.TimeNano}}"], stdout=subprocess.PIPE, text=True)
    orch.put(payload(bot, version))
    new = wait_for("the new container", lambda: [c for c in running(inst, bot) if c != old and
                                                 "gap-start" in docker("logs", c)], 120)[0]
    wait_for("the old container gone", lambda: old not in running(inst, bot), 60)
    old_lines = follow.communicate(timeout=30)[0].splitlines()
    died = int(events.stdout.readline().strip()) / 1e9
    events.terminate()
    new_lines = subprocess.run(["docker", "logs", "-t", new], capture_output=True, text=True).stdout.splitlines()
    new_lines += subprocess.run(["docker", "logs", "-t", new], capture_output=True, text=True).stderr.splitlines()
    end = timestamped(old_lines, "gap-end")
    start = timestamped(new_lines, "gap-start")
    released = timestamped(new_lines, '"released"')
    restored = timestamped(new_lines, '"state restored"')
    restore = (restored - released) if released and restored else None
    return {"gap": start - end, "final_sync": died - end, "restore": restore}


def payload(bot, version):
    return {"id": bot, "config": {"v": version},
            "custom": {"filePath": "u/gap/1", "version": "1.0.0",
                       "config": {"name": "sh", "runtime": "gcc13", "entrypoints": {"bot": "bot.sh"}}}}


def main():
    binary, image, work, rounds, inst = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    data = os.path.join(work, "data")
    code = os.path.join(data, "objects", "custom-bots", "u", "gap", "1")
    os.makedirs(os.path.dirname(code), exist_ok=True)
    with zipfile.ZipFile(code, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("bot.sh")
        info.external_attr = 0o755 << 16
        z.writestr(info, BOT)
        z.writestr("payload.bin", random.randbytes(1 << 20))
    bot = "gap"
    results = {"on": [], "off": []}
    orch = Orchestrator(binary, data, inst, image, "on")
    try:
        orch.put(payload(bot, 0))
        archive = os.path.join(data, "objects", "bot-state", bot, "state.tar.gz")
        wait_for("the first 10 MiB state upload",
                 lambda: os.path.exists(archive) and os.path.getsize(archive) > 10 << 20, 180)
        version = 0
        for r in range(rounds):
            for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
                orch.stop()
                orch = Orchestrator(binary, data, inst, image, mode)
                version += 1
                results[mode].append(one_update(orch, inst, bot, version))
                time.sleep(2)
        with tarfile.open(archive) as t:
            assert any(n.endswith("blob.bin") for n in t.getnames()), "the 10 MiB state is kept"
    finally:
        orch.stop()
    print_table(results)


def ms(x):
    return "—" if x is None else "%.0f" % (x * 1000)


def print_table(results):
    med = {m: {k: lib.median([r[k] for r in rs if r[k] is not None]) if any(r[k] is not None for r in rs) else None
               for k in ("gap", "final_sync", "restore")} for m, rs in results.items()}
    print("| update path | gap p50 (ms) | gaps (ms) | old container's final sync p50 (ms) | restore p50 (ms) |")
    print("|---|---|---|---|---|")
    for m, label in (("on", "handover (`--update-handover on`)"), ("off", "stop then start (`off`)")):
        gaps = ", ".join(ms(r["gap"]) for r in results[m])
        print("| %s | %s | %s | %s | %s |" % (label, ms(med[m]["gap"]), gaps, ms(med[m]["final_sync"]),
                                            ms(med[m]["restore"])))
    on, off = med["on"], med["off"]
    budget = on["final_sync"] + (on["restore"] or 0) + 0.1
    print()
    print("goal 1: gap %s ms <= final sync + restore + 100 ms = %s ms: %s"
          % (ms(on["gap"]), ms(budget), "met" if on["gap"] <= budget else "NOT met"))
    print("goal 2: gap %s ms <= half the old path's %s ms: %s"
          % (ms(on["gap"]), ms(off["gap"]), "met" if on["gap"] <= off["gap"] / 2 else "NOT met"))
    print("load: %s" % open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    try:
        main()
    finally:
        lib.kill_all()
