"""Helpers shared by the benchmarks: statistics, timed child processes, /proc readings, S3.

Every child is started in its own process group and recorded, so `kill_all()` (run on any exit of
the driver, including the SIGTERM of the time bound) ends exactly what the benchmarks started.
"""
import os
import signal
import subprocess
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
    """Waits for pid (killing its group after `timeout` s). Returns (exit code or -signal, rusage)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        flags = 0 if deadline is None else os.WNOHANG
        got, status, ru = os.wait4(pid, flags)
        if got == pid:
            _children.discard(pid)
            return os.waitstatus_to_exitcode(status), ru
        if time.monotonic() > deadline:
            kill_group(pid, signal.SIGKILL)
            deadline = None
        time.sleep(0.01)


def timed_run(argv, env, timeout=None, stdout=None, stderr=None):
    """Runs argv to completion: (wall seconds, exit code, rusage). The clock runs from just before
    the spawn to just after the reap, the same for every program measured."""
    t0 = time.perf_counter()
    pid = spawn(argv, env, stdout, stderr)
    code, ru = wait(pid, timeout)
    return time.perf_counter() - t0, code, ru


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


def machine_snapshot():
    """Load average and the processes using the CPU right now (the noise we run under)."""
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    out = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                         capture_output=True, text=True).stdout.split("\n")
    busy = {}
    for line in out:
        parts = line.split(None, 1)
        if len(parts) == 2 and float(parts[0]) >= 5.0:
            busy[parts[1]] = busy.get(parts[1], 0) + 1
    procs = ", ".join("%s×%d" % (k, v) for k, v in sorted(busy.items(), key=lambda kv: -kv[1])) or "none"
    return "load %s; busy (≥5%% CPU): %s" % (load, procs)


# ---------------------------------------------------------------- S3

class S3:
    """The few calls the benchmarks make to the test S3 server (moto)."""

    def __init__(self, endpoint, access_key="bench", secret_key="bench"):
        import boto3
        from botocore.config import Config
        self.endpoint = endpoint
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
        except self.client.exceptions.BucketAlreadyOwnedByYou:
            pass
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
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=bucket, **({"Prefix": key} if key else {}))
        for page in pages:
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if key is None or v["Key"] == key:
                    self.client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])

    def clear(self, bucket):
        self.delete(bucket)
