"""Benchmark 2: what `runtime execute` costs on top of tini for a bot that does nothing.

Both run `/bin/true` as their only child, with local-directory storage for ours and fresh
CODE/STATE/LOGS directories (and an empty object directory) for every run. Runs are paired and
rotated through every order, so that load changes on a shared machine hit the arms alike; the
figure is the per-pair difference ours - tini. A third arm, `execute --skip-sync` (no inotify
watch, no final sync), and the kernel's cost of closing a watched inotify descriptor, measured in
the same sets, tell where the difference comes from.
"""
import itertools
import os
import shutil

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
        wall, code, _ = lib.timed_run(arms[name], env_for(d), timeout=30)
        if code != 0:
            raise RuntimeError("%s exited %d in run %d (dir %s)" % (name, code, n, d))
        shutil.rmtree(d)
        return wall * 1000.0

    out = {"ours": [], "peer": [], "diff": [], "nosync_diff": [], "inotify_close": []}
    for n in range(-warmup, pairs):
        # Every order of the three arms in turn, so none always runs first or last.
        got = {name: one(name, n + warmup) for name in orders[n % len(orders)]}
        if n >= 0:
            out["ours"].append(got["ours"])
            out["peer"].append(got["tini"])
            out["diff"].append(got["ours"] - got["tini"])
            out["nosync_diff"].append(got["nosync"] - got["tini"])
            # What the kernel alone charges any watcher at exit, taken within the same set.
            out["inotify_close"].append(lib.inotify_close_ms(base))
    shutil.rmtree(base)
    return out
