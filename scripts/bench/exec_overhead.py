"""Benchmark 2: what `runtime execute` costs on top of tini for a bot that does nothing.

Both run `/bin/true` as their only child, with local-directory storage for ours and fresh
CODE/STATE/LOGS directories (and an empty object directory) for every run. Runs are paired and
alternated (ours first in even pairs, tini first in odd ones) so that load changes on a shared
machine hit both arms alike; the figure is the per-pair difference ours - tini.
"""
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
    }

    def one(name, n):
        d = os.path.join(base, "%s-%d" % (name, n))
        os.makedirs(os.path.join(d, "code"))
        wall, code, _ = lib.timed_run(arms[name], env_for(d), timeout=30)
        if code != 0:
            raise RuntimeError("%s exited %d in run %d (dir %s)" % (name, code, n, d))
        shutil.rmtree(d)
        return wall * 1000.0

    ours, peer, diffs = [], [], []
    for n in range(-warmup, pairs):
        order = ("ours", "tini") if n % 2 == 0 else ("tini", "ours")
        got = {name: one(name, n + warmup) for name in order}
        if n >= 0:
            ours.append(got["ours"])
            peer.append(got["tini"])
            diffs.append(got["ours"] - got["tini"])
    shutil.rmtree(base)
    return {"ours": ours, "peer": peer, "diff": diffs}
