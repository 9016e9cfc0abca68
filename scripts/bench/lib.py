"""Helpers shared by the benchmarks: statistics, timed child processes, /proc readings, S3.

Every child is started in its own process group and recorded, so `kill_all()` (run on any exit of
the driver, including the SIGTERM of the time bound) ends exactly what the benchmarks started.
"""
import os
import signal
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
_children = set()


# ---------------------------------------------------------------- statistics

def quantile(xs, q):
    """Linear-interpolated quantile (q in 0..1) of a non-empty list."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(xs):
    return quantile(xs, 0.5)


def spread(xs):
    """`p10–p90` of a list, for noise reports."""
    return quantile(xs, 0.1), quantile(xs, 0.9)


def cv(xs):
    """Coefficient of variation (stdev / mean), in percent."""
    if len(xs) < 2:
        return 0.0
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return 100.0 * var ** 0.5 / m if m else 0.0


# ---------------------------------------------------------------- processes

def spawn(argv, env, stdout=None, stderr=None):
    """Starts argv with exactly `env`, stdin from /dev/null, in a new process group; returns the pid.
    stdout/stderr: a path (appended to) or None for /dev/null."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    for fd, target in ((1, stdout), (2, stderr)):
        path = target or os.devnull
        actions.append((os.POSIX_SPAWN_OPEN, fd, path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    pid = os.posix_spawn(argv[0], list(argv), env, file_actions=actions, setpgroup=0)
    _children.add(pid)
    return pid


def wait(pid, timeout=None):
    """Waits for pid (a blocking wait4, so the reap is seen at once; a watchdog kills the group
    after `timeout` s). Returns (exit code or -signal, rusage)."""
    watchdog = None
    if timeout is not None:
        watchdog = threading.Timer(timeout, kill_group, (pid, signal.SIGKILL))
        watchdog.daemon = True
        watchdog.start()
    try:
        _, status, ru = os.wait4(pid, 0)
    finally:
        if watchdog is not None:
            watchdog.cancel()
    _children.discard(pid)
    return os.waitstatus_to_exitcode(status), ru


def timed_run(argv, env, timeout=None, stdout=None, stderr=None):
    """Runs argv to completion: (wall seconds, exit code, rusage). The clock runs from just before
    the spawn to just after the reap, the same for every program measured."""
    t0 = time.perf_counter()
    pid = spawn(argv, env, stdout, stderr)
    code, ru = wait(pid, timeout)
    return time.perf_counter() - t0, code, ru


class OpenWatch:
    """Records when a file in `directory` named `name` is next opened by anyone (inotify IN_OPEN),
    e.g. when the executor's archiver starts reading a state tree. Reading it with `stat` does not
    count, so a fingerprint scan is not taken for the archive starting."""

    IN_OPEN = 0x20

    def __init__(self, directory, name):
        import ctypes
        import select
        self._select = select
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, directory.encode(), self.IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify on %s" % directory)
        self.name = name.encode()
        self.opened = None
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        import struct
        while not self._stop and self.opened is None:
            if not self._select.select([self.fd], [], [], 0.1)[0]:
                continue
            t = time.perf_counter()
            data = os.read(self.fd, 65536)
            off = 0
            while off < len(data):
                _, _, _, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].rstrip(b"\0")
                off += 16 + n
                if name == self.name and self.opened is None:
                    self.opened = t

    def close(self):
        self._stop = True
        self._thread.join()
        os.close(self.fd)


def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def kill_all():
    for pid in list(_children):
        kill_group(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        _children.discard(pid)


def cpu_seconds(pid):
    """utime + stime of a live process (all its threads), from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15 of stat(5)


def status_kib(pid, name):
    """A `kB` field (VmHWM, VmRSS) of /proc/<pid>/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def _proc_cpu():
    """{pid: (comm, cpu seconds)} of every process now."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    raw = f.read()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            out[int(d)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def machine_snapshot(own_pids=(), sample=1.0):
    """Load average and who else used the CPU during a `sample`-second look (our own processes,
    `own_pids` and this driver's children, left out): the noise the figures were taken under."""
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    a = _proc_cpu()
    time.sleep(sample)
    b = _proc_cpu()
    mine = set(own_pids) | set(_children) | {os.getpid()}
    busy = {}
    for pid, (comm, cpu) in b.items():
        if pid in mine or pid not in a:
            continue
        share = (cpu - a[pid][1]) / sample
        if share > 0:
            busy[comm] = busy.get(comm, 0.0) + share
    top = sorted(((v, k) for k, v in busy.items() if v >= 0.05), reverse=True)
    others = sum(busy.values())
    procs = ", ".join("%s %.0f%%" % (k, 100 * v) for v, k in top[:6]) or "nothing"
    return "load %s; others used %.2f of %d cores (%s)" % (load, others, os.cpu_count(), procs)


class CpuAccount:
    """Machine-wide busy CPU over a span, split into ours (this driver, its reaped children and the
    given server pids) and everyone else's."""

    def __init__(self, server_pids):
        self.server_pids = list(server_pids)
        self.start = self._read()

    def _read(self):
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # all but idle and iowait
        import resource
        ours = sum(getattr(resource.getrusage(w), k) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for k in ("ru_utime", "ru_stime"))
        for pid in self.server_pids:
            try:
                ours += cpu_seconds(pid)
            except OSError:
                pass
        return time.monotonic(), busy, ours

    def summary(self):
        t1, busy1, ours1 = self._read()
        t0, busy0, ours0 = self.start
        wall = t1 - t0
        busy, ours = busy1 - busy0, ours1 - ours0
        return ("over the whole run (%.0f s) the machine was busy %.2f of %d cores: ours (driver, executor, "
                "peers, moto) %.2f, everyone else %.2f" % (wall, busy / wall, os.cpu_count(), ours / wall,
                                                          max(0.0, busy - ours) / wall))


# ---------------------------------------------------------------- S3

class S3:
    """The few calls the benchmarks make to a test S3 server (moto; s3s-fs with versioned=False,
    which has no versioning)."""

    def __init__(self, endpoint, access_key="bench", secret_key="bench", versioned=True):
        import boto3
        from botocore.config import Config
        self.endpoint, self.versioned = endpoint, versioned
        self.access_key, self.secret_key = access_key, secret_key
        self.client = boto3.client(
            "s3", endpoint_url="http://" + endpoint, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def ensure_bucket(self, bucket):
        """Creates a versioned bucket. Versioned because moto answers CompleteMultipartUpload in an
        unversioned bucket with `x-amz-version-id: null`, then refuses rclone's HEAD ?versionId=null
        (400) and rclone reports the upload as failed; real S3 sends no version id there. Both
        arms upload to this bucket, and `delete` removes every version, so nothing piles up."""
        try:
            self.client.create_bucket(Bucket=bucket)
        except (self.client.exceptions.BucketAlreadyOwnedByYou, self.client.exceptions.BucketAlreadyExists):
            pass
        if not self.versioned:
            return
        self.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def head(self, bucket, key):
        """(size, etag) of an object, or None."""
        from botocore.exceptions import ClientError
        try:
            r = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return r["ContentLength"], r["ETag"]

    def delete(self, bucket, key=None):
        """Deletes every version (and delete marker) of `key`, or of every key."""
        if not self.versioned:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, **({"Prefix": key} if key else {}))
            for page in pages:
                for o in page.get("Contents", []):
                    if key is None or o["Key"] == key:
                        self.client.delete_object(Bucket=bucket, Key=o["Key"])
            return
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=bucket, **({"Prefix": key} if key else {}))
        for page in pages:
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if key is None or v["Key"] == key:
                    self.client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])

    def clear(self, bucket):
        self.delete(bucket)
