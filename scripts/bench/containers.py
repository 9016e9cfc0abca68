"""What the benchmarks that run bot containers share: the `docker` call, a bot's code zip, the
hardened container arguments and environment the orchestrator gives a bot (the same flags,
written out for `docker run`), and the /proc readings of a container's processes (parent,
descendants, smaps_rollup)."""
import io
import os
import subprocess
import zipfile


def docker(*args, check=True):
    r = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout.strip()


def code_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            z.writestr(info, text)
    return buf.getvalue()


def hardened(name, runtime, objects):
    args = ["--name", name, "--read-only", "--user", "1000:1000", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true", "--runtime", runtime,
            "--memory", "512m", "--pids-limit", "512", "-v", f"{objects}:/objects"]
    uid = "nosuid,nodev,uid=1000,gid=1000"
    for d, o in [("/bot", f"rw,exec,{uid},size=64m"), ("/state", f"rw,{uid},size=64m"),
                 ("/query", f"rw,{uid},size=16m"), ("/var/the0", f"rw,{uid},size=16m"),
                 ("/tmp", f"rw,{uid},mode=1777,size=32m")]:
        args += ["--tmpfs", f"{d}:{o}"]
    return args


def bot_env(bot_id, key, extra=()):
    env = {"BOT_ID": bot_id, "RUNTIME": "gcc13", "ENTRYPOINT": "bot.sh", "CODE_FILE": key,
           "THE0_STORAGE_DIR": "/objects", "BOT_TYPE": "realtime", "THE0_STOP_GRACE_SEC": "2"}
    env.update(dict(extra))
    out = []
    for k, v in env.items():
        out += ["-e", f"{k}={v}"]
    return out


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def descendants(root):
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                children.setdefault(ppid(int(d)), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def rollup(pid):
    """The kB fields of /proc/<pid>/smaps_rollup (Rss, Pss, Anonymous, ...); empty if it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def pss_kib(pid):
    return rollup(pid).get("Pss", 0)
