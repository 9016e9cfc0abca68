#!/usr/bin/env python3
"""Runs the executor's benchmarks (issue #2) and prints one table; see scripts/bench.sh.

Every figure is taken against a peer in the same session, paired or interleaved, because the
machine is shared: absolute times move with the load, differences and ratios much less. A
benchmark that fails (or is cut by the time bound) becomes a row saying so; the table is written
in every case.
"""
import argparse
import atexit
import os
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exec_overhead  # noqa: E402
import lib  # noqa: E402
import state_sync  # noqa: E402

MIB = 1024 * 1024
FULL = {"files": 10_000, "bytes": 1 << 30, "sets": 300, "idle": 60, "interval": 10, "reps": 3}
QUICK = {"files": 300, "bytes": 24 * MIB, "sets": 30, "idle": 10, "interval": 2, "reps": 3}
HEAD = ("benchmark", "ours", "peer", "ratio/diff", "goal", "met?")


class Interrupted(Exception):
    pass


def ms(x):
    return "%.1f ms" % x


def met(ok):
    return "yes" if ok else "**no**"


def bench_size(a, cfg, rows, notes):
    size, tini = os.path.getsize(a.runtime), os.path.getsize(a.tini)
    rows.append(("1. size of dist/runtime", "%.2f MiB" % (size / MIB), "%.2f MiB (tini-static)" % (tini / MIB),
                 "×%.1f" % (size / tini), "≤ 4 MiB", met(size <= 4 * MIB)))


def bench_execute(a, cfg, rows, notes):
    r = exec_overhead.run(a.runtime, a.tini, a.work, cfg["sets"])
    d = r["diff"]
    rows.append(("2. execute overhead, no-op bot, local storage (%d paired sets)" % len(d),
                 "median %s" % ms(lib.median(r["ours"])), "median %s (tini-static)" % ms(lib.median(r["peer"])),
                 "%+.1f ms median, %+.1f ms p90" % (lib.median(d), lib.quantile(d, 0.9)), "≤ +5 ms",
                 met(lib.median(d) <= 5.0)))
    notes.append("2 (noise): per-set difference p10–p90 %.1f–%.1f ms; ours p10–p90 %.1f–%.1f ms (CV %.0f %%), "
                 "tini-static %.1f–%.1f ms (CV %.0f %%)" % (*lib.spread(d), *lib.spread(r["ours"]), lib.cv(r["ours"]),
                                                          *lib.spread(r["peer"]), lib.cv(r["peer"])))
    notes.append("2 (where it goes): `execute --skip-sync` (no watcher, no final sync) in the same sets: %+.1f ms "
                 "median, %+.1f ms p90 over tini-static; ours took median %.1f ms, p90 %.1f ms from its last log "
                 "line (final sync done) to its reap, i.e. to tear down its inotify watcher"
                 % (lib.median(r["nosync_diff"]), lib.quantile(r["nosync_diff"], 0.9),
                    lib.median(r["tail"]), lib.quantile(r["tail"], 0.9)))


def row_3b(title, server, incr, floor):
    """The table row of one 3b run: our incremental upload times against `server`'s own floor."""
    return ("%s (%d reps)" % (title, len(incr)),
            "median %.2f s, max %.2f s" % (lib.median(incr), max(incr)),
            "median %.2f s (%s alone: the same compose by boto3)" % (lib.median(floor), server),
            "%+.2f s median over %s's floor" % (lib.median([i - f for i, f in zip(incr, floor)]), server),
            "≤ 1.2 s (0.2 s settle + 1 s)", met(max(incr) <= 1.2))


def bench_state(a, cfg, rows, notes, step):
    state = os.path.join(a.work, "state")
    label = "%d files, %s" % (cfg["files"], "1 GiB" if cfg["bytes"] == 1 << 30 else "%d MiB" % (cfg["bytes"] // MIB))
    step("3. generating the state tree: %s" % label)
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_state.py"), state,
                    "--files", str(cfg["files"]), "--bytes", str(cfg["bytes"])], check=True, stdout=subprocess.DEVNULL)
    warm(state)
    step("3a–d. daemon sync: idle %d s, then %d interleaved reps each of ours and tar|rclone"
         % (cfg["idle"], cfg["reps"]))
    log = os.path.join(os.path.dirname(os.path.abspath(a.out)), "state_sync.log")
    open(log, "w").close()
    s = state_sync.run(a.runtime, a.work, state, a.s3, cfg["idle"], cfg["interval"], cfg["reps"], log)

    rows.append(("3a. syncer CPU, %s unchanged, %d s" % (label, s["window"]),
                 "%.2f %% of a core" % s["idle_cpu_pct"], "—", "%.2f s CPU in %d s" % (s["idle_cpu_s"], s["window"]),
                 "< 1 %", met(s["idle_cpu_pct"] < 1.0 and not s["idle_uploaded"])))
    notes.append("3a: periodic tick shortened to %d s (production: 60 s), so %d full rescans fell in the window; "
                 "uploads during the idle window: %s" % (s["interval"], s["window"] // s["interval"],
                                                         "YES (a bug)" if s["idle_uploaded"] else "none"))
    ours, peer = s["ours"], s["peer"]
    incr, floor = s["incr"], s["floor"]
    rows.append(row_3b("3b. one-file change → new archive complete in S3, incremental", "moto", incr, floor))
    notes.append("3b: ours %s; moto's floor %s; CPU used by the daemon per incremental upload %s. The first "
                 "change after the object was deleted is a full upload (3d); from the write to the archiver "
                 "opening its first file then (debounce + fingerprint scan): %s"
                 % (", ".join("%.2f s" % x for x in incr), ", ".join("%.2f s" % x for x in floor),
                    ", ".join("%.2f s" % x for x in s["incr_cpu"]), ", ".join("%.2f s" % x for x in s["trigger"])))
    hwm, peer_rss = s["hwm_kib"] / 1024, max(s["peer_rss_kib"]) / 1024
    rows.append(("3c. peak RSS during the upload", "%.1f MiB (VmHWM)" % hwm,
                 "%.1f MiB (largest of tar, gzip, rclone)" % peer_rss, "×%.2f" % (hwm / peer_rss), "≤ 64 MiB",
                 met(hwm <= 64)))
    after, before = s["rss_after_kib"] / 1024, s["hwm_idle_kib"] / 1024
    rows.append(("3c'. RSS %d s after the last upload" % s["rss_after_s"], "%.1f MiB (VmRSS)" % after,
                 "%.1f MiB (its peak before any upload)" % before, "+%.1f MiB" % (after - before),
                 "≤ peak before + 4 MiB", met(after <= before + 4)))
    ratios = [o / p for o, p in zip(ours, peer)]
    rows.append(("3d. snapshot+upload wall time, gzip -6 (%d interleaved reps each)" % len(ours),
                 "median %.1f s" % lib.median(ours), "median %.1f s (tar -cz | rclone rcat)" % lib.median(peer),
                 "×%.2f median (reps ×%.2f–×%.2f)" % (lib.median(ratios), min(ratios), max(ratios)),
                 "≤ ×1.2", met(lib.median(ratios) <= 1.2)))
    notes.append("3b/3d: ours is timed from the end of the write to the first HEAD that finds the object (so it "
                 "includes the 0.2 s debounce and up to max(%d ms, %d %%) of polling); ours %s; peer %s; archive sizes: ours %.1f MiB, "
                 "peer %.1f MiB; CPU used per upload (all threads/processes): ours %s, peer %s; daemon exit "
                 "code after SIGTERM: %s"
                 % (state_sync.POLL * 1000, state_sync.POLL_SHARE * 100, ", ".join("%.2f s" % x for x in ours),
                    ", ".join("%.2f s" % x for x in peer), s["sizes"]["ours"] / MIB, s["sizes"]["peer"] / MIB,
                    ", ".join("%.1f s" % x for x in s["ours_cpu"]), ", ".join("%.1f s" % x for x in s["peer_cpu"]),
                    s["exit"]))
    notes.append("3c: VmHWM while idle, before any upload: %.1f MiB" % (s["hwm_idle_kib"] / 1024))
    if not a.s3_fast:
        notes.append("3b against s3s-fs: not run (no --s3-fast server)")
        return
    step("3b again, against s3s-fs: %d reps" % cfg["reps"])
    f = state_sync.run_incremental(a.runtime, a.work, state, a.s3_fast, cfg["reps"], log)
    incr, floor = f["incr"], f["floor"]
    rows.append(row_3b("3b. the same against s3s-fs (a second S3 server, in Rust)", "s3s-fs", incr, floor))
    notes.append("3b (s3s-fs): ours %s; its floor %s; daemon CPU per upload %s"
                 % (", ".join("%.2f s" % x for x in incr), ", ".join("%.2f s" % x for x in floor),
                    ", ".join("%.2f s" % x for x in f["cpu"])))


def warm(state):
    """Reads the whole tree once so both arms start from the page cache."""
    buf = bytearray(1 << 20)
    for root, _, files in os.walk(state):
        for name in files:
            with open(os.path.join(root, name), "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--tini", default="/usr/bin/tini-static")
    ap.add_argument("--work", required=True, help="scratch directory (removed by the caller)")
    ap.add_argument("--out", required=True, help="results file (Markdown)")
    ap.add_argument("--s3", required=True, help="host:port of the S3 server")
    ap.add_argument("--s3-fast", help="host:port of a second S3 server (s3s-fs) for 3b")
    ap.add_argument("--services-dir", help="where test-services.sh keeps its pid files")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    cfg = QUICK if a.quick else FULL
    atexit.register(lib.kill_all)

    def on_term(*_):
        raise Interrupted("stopped by the time bound (SIGTERM)")

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()

    def step(msg):
        print("[%5.0f s] %s" % (time.monotonic() - started, msg), file=sys.stderr, flush=True)

    servers = []
    for name in ("moto", "nats"):
        try:
            with open(os.path.join(a.services_dir or "", name + ".pid")) as f:
                servers.append(int(f.read()))
        except (OSError, ValueError):
            pass
    account = lib.CpuAccount(servers)
    noise = [("start", lib.machine_snapshot(servers))]
    rows, notes, failed = [], [], False
    benches = [
        ("1", "1. size", lambda: bench_size(a, cfg, rows, notes)),
        ("2", "2. execute vs tini-static, %d sets" % cfg["sets"], lambda: bench_execute(a, cfg, rows, notes)),
        ("3", "3. state sync", lambda: bench_state(a, cfg, rows, notes, step)),
    ]
    for key, title, fn in benches:
        step(title)
        try:
            fn()
        except (Exception, KeyboardInterrupt) as e:
            failed = True
            stop = isinstance(e, (Interrupted, KeyboardInterrupt))
            if not stop:
                traceback.print_exc()
            why = "interrupted (Ctrl-C)" if isinstance(e, KeyboardInterrupt) else str(e).replace("|", "/")
            rows.append((title, "error: %s" % why, "—", "—", "—", "**no**"))
            lib.kill_all()
            if stop:
                break
        noise.append(("after %s" % key, lib.machine_snapshot(servers)))
    noise.append(("whole run", account.summary()))
    report(a, rows, notes, noise, time.monotonic() - started)
    sys.exit(1 if failed else 0)


def report(a, rows, notes, noise, elapsed):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    mode = "Quick (BENCH_QUICK=1: small data, few repetitions; the goals are for the full size)" if a.quick else "Full"
    text = ["# Executor benchmarks", "",
            "%s mode, commit %s%s, %s, %d cores, %.0f s." % (mode, commit or "?", " (dirty)" if dirty else "",
                                                             time.strftime("%Y-%m-%d %H:%M:%S %Z"), os.cpu_count(),
                                                             elapsed),
            "", "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    text += ["| " + " | ".join(r) + " |" for r in rows]
    text += ["", "Notes:", ""] + ["- " + n for n in notes]
    text += ["", "Machine noise (other work on the shared machine; ours excluded):", ""]
    text += ["- %s: %s" % (k, v) for k, v in noise] + [""]
    with open(a.out, "w") as f:
        f.write("\n".join(text))
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    main()
