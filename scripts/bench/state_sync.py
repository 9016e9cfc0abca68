"""Benchmark 3: the state syncer on a large tree, against the real S3 server (moto).

One `runtime daemon sync` process watches the generated tree for the whole benchmark (the
`state-restored` marker exists before it starts, so its change detection is seeded with the tree
and nothing is uploaded until something changes):

  a. idle: CPU (utime+stime from /proc/<pid>/stat) over a window with no change, with the periodic
     tick shortened to `interval` so several full rescans fall inside the window;
  b./d. reps, alternating which goes first: *ours* = with no archive in storage, write one small
     file (atomically, as the SDKs do), then poll HEAD until the new archive is complete (a full
     snapshot+upload, d); then write the file again and poll until the object's ETag changes (the
     incremental upload: changed segments recompressed, the rest copied server-side, b); then the
     same server-side work done by boto3 directly (one part of new bytes, one UploadPartCopy of the
     rest, a small last part), which is moto's own floor for b; *peer* =
     `tar -cz -C tree . | rclone rcat` of the same tree to the same server (gzip -6 both);
     every uploaded object is deleted after it was checked (moto keeps objects in memory);
  c. VmHWM (peak RSS) of the daemon after all uploads; the peer's is the largest max-RSS of its
     pipeline (rusage of the reaped shell covers tar, gzip and rclone); then its VmRSS once it has
     been idle for the idle window (60 s; 10 s quick) after the last upload, against its peak
     before any upload (the memory an upload takes is given back).
"""
import json
import os
import signal
import time
import urllib.request

import lib

BUCKET = "bench-state"
OURS_ID, PEER_ID = "bench-daemon", "bench-peer"
POLL = 0.02
POLL_SHARE = 0.01
UPLOAD_BOUND = 240.0  # the executor's own upload deadline is 180 s


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(port, pid, bound=30.0):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            raise RuntimeError("daemon sync exited before it was ready")
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("daemon sync not ready within %.0f s" % bound)


TICK_DIR, TICK = ".the0-state", "bench-tick.json"


def write_one_file(state, n):
    """One small state change, written as the SDKs write a key: temp file + rename. In the
    archive's lexical walk this is the first file (`.the0-state` sorts before `d00`), so the
    archiver opening it marks the start of the snapshot."""
    d = os.path.join(state, TICK_DIR)
    tmp = os.path.join(d, ".bench-tick.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"tick": n, "at": time.time()}, f)
    os.rename(tmp, os.path.join(d, TICK))


def wait_object(s3, key, bound, since):
    """Polls HEAD until the object exists. The pause grows with the time waited (POLL, at most
    POLL_SHARE of it): fine-grained for short latencies, while a 1-minute upload is not slowed by
    thousands of HEADs competing with it for the CPU (and moto) on a loaded 2-core machine."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        h = s3.head(BUCKET, key)
        now = time.perf_counter()
        if h is not None:
            return now, h
        time.sleep(max(POLL, POLL_SHARE * (now - since)))
    raise RuntimeError("no object %s/%s within %.0f s" % (BUCKET, key, bound))


def wait_change(s3, key, etag, bound, since):
    """Polls HEAD until the object's ETag is no longer `etag` (a new version is complete)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        h = s3.head(BUCKET, key)
        now = time.perf_counter()
        if h is not None and h[1] != etag:
            return now, h
        time.sleep(max(POLL, POLL_SHARE * (now - since)))
    raise RuntimeError("object %s/%s unchanged after %.0f s" % (BUCKET, key, bound))


FLOOR_KEY = "bench-floor/state.tar.gz"


def compose_floor(s3, key, size):
    """Seconds the server itself needs for a compose like ours of an object of `size` bytes: 6 MiB
    of new bytes, an UploadPartCopy of the rest but 1 KiB, a 1 KiB last part, complete."""
    c, head = s3.client, 6 * 1024 * 1024
    t0 = time.perf_counter()
    up = c.create_multipart_upload(Bucket=BUCKET, Key=FLOOR_KEY)["UploadId"]
    try:
        p1 = c.upload_part(Bucket=BUCKET, Key=FLOOR_KEY, UploadId=up, PartNumber=1, Body=os.urandom(head))
        p2 = c.upload_part_copy(Bucket=BUCKET, Key=FLOOR_KEY, UploadId=up, PartNumber=2,
                                CopySource={"Bucket": BUCKET, "Key": key},
                                CopySourceRange="bytes=%d-%d" % (head, size - 1025))
        p3 = c.upload_part(Bucket=BUCKET, Key=FLOOR_KEY, UploadId=up, PartNumber=3, Body=os.urandom(1024))
        parts = [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
                 {"PartNumber": 3, "ETag": p3["ETag"]}]
        c.complete_multipart_upload(Bucket=BUCKET, Key=FLOOR_KEY, UploadId=up, MultipartUpload={"Parts": parts})
    except Exception:
        c.abort_multipart_upload(Bucket=BUCKET, Key=FLOOR_KEY, UploadId=up)
        raise
    took = time.perf_counter() - t0
    s3.delete(BUCKET, FLOOR_KEY)
    return took


def start_daemon(runtime, run_dir, state, s3, interval, log):
    """Starts `runtime daemon sync` on `state` against `s3`'s server, with its own `run_dir`
    (the `state-restored` marker made first, so it restores nothing and uploads only on change);
    returns its pid once it is ready."""
    os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
    open(os.path.join(run_dir, "state-restored"), "w").close()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_LEVEL": "INFO", "MINIO_ENDPOINT": s3.endpoint,
        "MINIO_ACCESS_KEY": s3.access_key, "MINIO_SECRET_KEY": s3.secret_key,
        "MINIO_STATE_BUCKET": BUCKET, "MINIO_LOGS_BUCKET": "bench-logs",
    }
    port = free_port()
    argv = [runtime, "daemon", "sync", "--bot-id", OURS_ID, "--state-path", state,
            "--logs-path", os.path.join(run_dir, "logs"), "--interval", "%ds" % interval,
            "--readiness-port", str(port)]
    pid = lib.spawn(argv, env, stdout=log, stderr=log)
    try:
        wait_ready(port, pid)
    except BaseException:
        lib.kill_group(pid, signal.SIGKILL)
        raise
    return pid


def incremental_rep(s3, pid, state, key, n):
    """One timed incremental upload: with the archive `key` in place, write one file and wait for
    the new ETag. Returns (seconds from the write, daemon CPU seconds, the server's compose floor)."""
    etag = s3.head(BUCKET, key)[1]
    time.sleep(0.5)
    c0 = lib.cpu_seconds(pid)
    write_one_file(state, n)
    tw = time.perf_counter()
    td, (size, _) = wait_change(s3, key, etag, UPLOAD_BOUND, tw)
    return td - tw, lib.cpu_seconds(pid) - c0, compose_floor(s3, key, size)


def run(runtime, work, state, endpoint, idle_window, interval, reps, log):
    s3 = lib.S3(endpoint)
    s3.ensure_bucket(BUCKET)
    s3.clear(BUCKET)
    ours_key, peer_key = OURS_ID + "/state.tar.gz", PEER_ID + "/state.tar.gz"
    os.makedirs(os.path.join(state, TICK_DIR), exist_ok=True)
    path = os.environ.get("PATH", "/usr/bin:/bin")
    rclone_env = {
        "PATH": path, "RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": "http://" + endpoint,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": s3.access_key,
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": s3.secret_key,
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
    }
    peer_cmd = ("set -o pipefail; tar -cz -C \"$0\" . | rclone --config /dev/null --s3-no-check-bucket -q rcat bench:%s/%s"
                % (BUCKET, peer_key))
    pid = start_daemon(runtime, os.path.join(work, "run"), state, s3, interval, log)
    out = {"interval": interval, "window": idle_window}
    try:
        time.sleep(1.0)
        # a. idle CPU
        c0, t0 = lib.cpu_seconds(pid), time.monotonic()
        time.sleep(idle_window)
        c1, t1 = lib.cpu_seconds(pid), time.monotonic()
        out["idle_cpu_pct"] = 100.0 * (c1 - c0) / (t1 - t0)
        out["idle_cpu_s"] = c1 - c0
        out["idle_uploaded"] = s3.head(BUCKET, ours_key) is not None
        out["hwm_idle_kib"] = lib.status_kib(pid, "VmHWM")
        # b./d. change latency and snapshot+upload, interleaved with the peer
        ours, peer, peer_rss, sizes, ours_cpu, peer_cpu, trigger = [], [], [], {}, [], [], []
        hwm_kib = 0
        incr, incr_cpu, floor = [], [], []
        for n in range(reps):
            for arm in (("ours", "peer") if n % 2 == 0 else ("peer", "ours")):
                if arm == "ours":
                    if n > 0:
                        # Each rep's full upload starts from no archive. A running daemon refuses
                        # to write over an archive deleted since it last wrote (another writer:
                        # docs/security/storage.md), so each rep after the first gets a new
                        # daemon with its own run directory, as a restarted container would.
                        os.kill(pid, signal.SIGTERM)
                        lib.wait(pid, timeout=60)
                        pid = start_daemon(runtime, os.path.join(work, "run-%d" % n), state, s3, interval, log)
                    c0 = lib.cpu_seconds(pid)
                    opened = lib.OpenWatch(os.path.join(state, TICK_DIR), TICK)
                    write_one_file(state, n)
                    tw = time.perf_counter()
                    try:
                        td, (size, _) = wait_object(s3, ours_key, UPLOAD_BOUND, tw)
                    finally:
                        opened.close()
                    ours.append(td - tw)
                    trigger.append(opened.opened - tw if opened.opened else float("nan"))
                    ours_cpu.append(lib.cpu_seconds(pid) - c0)
                    sizes["ours"] = size
                    took, cpu, floor_s = incremental_rep(s3, pid, state, ours_key, 1000 + n)
                    incr.append(took)
                    incr_cpu.append(cpu)
                    floor.append(floor_s)
                    hwm_kib = max(hwm_kib, lib.status_kib(pid, "VmHWM"))
                    s3.delete(BUCKET, ours_key)
                else:
                    wall, code, ru = lib.timed_run(["/bin/bash", "-c", peer_cmd, state], rclone_env,
                                                   timeout=UPLOAD_BOUND, stdout=log, stderr=log)
                    if code != 0:
                        raise RuntimeError("peer pipeline exited %d (see %s)" % (code, log))
                    h = s3.head(BUCKET, peer_key)
                    if h is None:
                        raise RuntimeError("peer pipeline left no object")
                    peer.append(wall)
                    peer_cpu.append(ru.ru_utime + ru.ru_stime)
                    peer_rss.append(ru.ru_maxrss)
                    sizes["peer"] = h[0]
                    s3.delete(BUCKET, peer_key)
                    if s3.head(BUCKET, ours_key) is not None:
                        raise RuntimeError("ours uploaded again while only the peer read the tree")
                log_progress(log, "rep %d %s done" % (n, arm))
        out["hwm_kib"] = max(hwm_kib, lib.status_kib(pid, "VmHWM"))
        # c'. the peak must not stay: RSS once the daemon has been idle for the idle window again
        time.sleep(idle_window)
        out["rss_after_kib"] = lib.status_kib(pid, "VmRSS")
        out["rss_after_s"] = idle_window
        out.update(ours=ours, peer=peer, peer_rss_kib=peer_rss, sizes=sizes, ours_cpu=ours_cpu, peer_cpu=peer_cpu,
                   trigger=trigger, incr=incr, incr_cpu=incr_cpu, floor=floor)
        # stop: SIGTERM = final sync (nothing changed since the last upload) and exit 0
        os.kill(pid, signal.SIGTERM)
        code, _ = lib.wait(pid, timeout=60)
        out["exit"] = code
    finally:
        lib.kill_group(pid, signal.SIGKILL)
        try:
            s3.clear(BUCKET)
        except Exception:  # the server may be gone already (Ctrl-C reaches it too)
            pass
    return out


def log_progress(log, msg):
    with open(log, "a") as f:
        f.write("bench: %s\n" % msg)


def run_incremental(runtime, work, state, endpoint, reps, log):
    """3b again, against a second server (s3s-fs, in Rust, objects in files) so the figure is not
    one server's quirk: a daemon of its own (own run directory) uploads the tree once in
    full, then `reps` times a one-file change is timed to the new ETag, each followed by the same
    compose done by boto3 directly (the server's floor)."""
    s3 = lib.S3(endpoint, versioned=False)
    s3.ensure_bucket(BUCKET)
    s3.clear(BUCKET)
    key = OURS_ID + "/state.tar.gz"
    pid = start_daemon(runtime, os.path.join(work, "run-fast"), state, s3, 60, log)
    incr, floor, cpu = [], [], []
    try:
        write_one_file(state, 5000)
        wait_object(s3, key, UPLOAD_BOUND, time.perf_counter())
        for n in range(reps):
            took, used, floor_s = incremental_rep(s3, pid, state, key, 6000 + n)
            incr.append(took)
            cpu.append(used)
            floor.append(floor_s)
            log_progress(log, "fast server: rep %d done" % n)
        os.kill(pid, signal.SIGTERM)
        lib.wait(pid, timeout=60)
    finally:
        lib.kill_group(pid, signal.SIGKILL)
        try:
            s3.clear(BUCKET)
        except Exception:
            pass
    return {"incr": incr, "floor": floor, "cpu": cpu}
