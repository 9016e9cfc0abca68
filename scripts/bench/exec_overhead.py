"""Benchmark 2: what `runtime execute` costs on top of tini for a bot that does nothing.

Both run `/bin/true` as their only child, with local-directory storage for ours and fresh
CODE/STATE/LOGS directories (and an empty object directory) for every run. Runs are paired and
rotated through every order, so that load changes on a shared machine hit the arms alike; the
figure is the per-set difference ours - tini. A third arm, `execute --skip-sync` (no inotify
watch, no final sync), and the time ours takes to exit after its last log line (the end of its
final sync) tell where the difference comes from.
"""
import calendar
import itertools
import json
import os
import shutil
import time

import lib


def run(runtime, tini, work, pairs, warmup=5):
    base = os.path.join(work, "exec")
    os.makedirs(base, exist_ok=True)
    path = os.environ.get("PATH", "/usr/bin:/bin")

    def env_for(d):
        return {
            "PATH": path,
            "BOT_ID": "bench-noop",
            "RUNTIME": "custom",
            "ENTRYPOINT": "/bin/true",
            "THE0_STORAGE_DIR": os.path.join(d, "objects"),
            "CODE_PATH": os.path.join(d, "code"),
            "STATE_PATH": os.path.join(d, "state"),
            "LOGS_PATH": os.path.join(d, "the0", "logs"),
            "THE0_DONE_FILE": os.path.join(d, "the0", "done"),
            "THE0_QUERY_DIR": os.path.join(d, "query"),
            # Every arm's stdout goes to a file; ours logs at DEBUG so the end of its final sync is
            # timestamped (a few lines more, microseconds).
            "LOG_LEVEL": "DEBUG",
        }

    arms = {
        "ours": [runtime, "execute"],
        "tini": [tini, "-s", "--", "/bin/true"],  # -s: subreaper, as ours is when not PID 1
        # Diagnostic third arm: no sync at all (no inotify watch, no final sync).
        "nosync": [runtime, "execute", "--skip-sync"],
    }
    orders = list(itertools.permutations(arms))

    def one(name, n):
        d = os.path.join(base, "%s-%d" % (name, n))
        os.makedirs(os.path.join(d, "code"))
        out = os.path.join(d, "stdout")
        wall, code, _ = lib.timed_run(arms[name], env_for(d), timeout=30, stdout=out)
        reaped = time.time()
        if code != 0:
            raise RuntimeError("%s exited %d in run %d (dir %s)" % (name, code, n, d))
        tail = exit_tail(out, reaped) if name == "ours" else None
        shutil.rmtree(d)
        return wall * 1000.0, tail

    out = {"ours": [], "peer": [], "diff": [], "nosync_diff": [], "tail": []}
    for n in range(-warmup, pairs):
        # Every order of the three arms in turn, so none always runs first or last.
        got = {name: one(name, n + warmup) for name in orders[n % len(orders)]}
        if n >= 0:
            ours, tini, nosync = got["ours"][0], got["tini"][0], got["nosync"][0]
            out["ours"].append(ours)
            out["peer"].append(tini)
            out["diff"].append(ours - tini)
            out["nosync_diff"].append(nosync - tini)
            out["tail"].append(got["ours"][1])
    shutil.rmtree(base)
    return out


def exit_tail(stdout, reaped):
    """Milliseconds from the executor's last log line (the end of its final sync) to its reap:
    what exiting costs once all its work is done (the watcher's teardown)."""
    with open(stdout) as f:
        last = [line for line in f if line.startswith("{")][-1]
    stamp = json.loads(last)["time"]  # 2025-01-31T12:00:00.123456789Z
    secs, frac = stamp.rstrip("Z").split(".")
    t = calendar.timegm(time.strptime(secs, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)
    return (reaped - t) * 1000.0
