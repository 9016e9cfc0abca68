"""The price of gVisor (issue #16): the same hardened bot container under the engine's default
runtime and under runsc, side by side, runs alternated so the load of a shared machine hits both.

  start->running  `docker run -d` until the bot's first output line is in `docker logs`
  executor        `docker run --rm` of the executor running a bot that exits at once, minus the
                  same container running /bin/true without the executor (create, start, exit,
                  remove are in both): what the executor adds (code extract, final sync, stop)
  front           one POST through the :9476 front to a CGI query program (busybox httpd),
                  from the host through the published port, median and p90 of sequential calls;
                  and one GET of a static file from the same httpd (a fork per call, no exec):
                  under runsc the CGI path loses some connections, the static one does not
                  (docs/security/gvisor.md)
  memory          host PSS (smaps_rollup) of every process of one idle bot's container: the
                  containerd shim and all its descendants (runc: executor and bot; runsc: the
                  sandbox, its ptrace stubs, and the gofer), per bot, with several bots running

Usage: gvisor.py IMAGE OBJECTS_DIR [--quick]. Prints a markdown table. Every container it starts
is named the0-bench-gv-* and removed at the end, whatever happens.
"""
import json
import os
import sys
import time
import urllib.request

import lib
from containers import bot_env, code_zip, descendants, docker, hardened, ppid, pss_kib

RUNTIMES = ["runc", "runsc"]


class Bench:
    def __init__(self, image, objects):
        self.image, self.objects, self.n = image, objects, 0
        self.names = []

    def put_code(self, files):
        self.n += 1
        key = f"bench/gv{self.n}/1"
        path = os.path.join(self.objects, "custom-bots", key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(code_zip(files))
        os.chmod(path, 0o644)
        return key

    def name(self):
        self.n += 1
        n = f"the0-bench-gv-{os.getpid()}-{self.n}"
        self.names.append(n)
        return n

    def remove(self, names):
        for i in range(0, len(names), 8):
            docker("rm", "-f", *names[i:i + 8], check=False)

    def cleanup(self):
        self.remove(self.names)

    def start_to_running(self, runtime, key):
        name = self.name()
        t0 = time.monotonic()
        docker("run", "-d", *hardened(name, runtime, self.objects), "--network", "none",
               *bot_env(f"b{self.n}", key), self.image)
        while "ready" not in docker("logs", name, check=False):
            if time.monotonic() - t0 > 60:
                raise RuntimeError(f"{runtime}: the bot never ran")
            time.sleep(0.005)
        took = time.monotonic() - t0
        started = docker("inspect", "-f", "{{.State.StartedAt}}", name)
        bot = next((json.loads(line)["time"] for line in docker("logs", name, check=False).splitlines()
                    if line.startswith("{") and '"bot started"' in line), None)
        self.remove([name])
        inside = (unix(bot) - unix(started)) if bot else float("nan")
        return took, inside

    def run_rm(self, runtime, key, plain):
        name = self.name()
        extra = ["--entrypoint", "/bin/true"] if plain else []
        t0 = time.monotonic()
        docker("run", "--rm", *hardened(name, runtime, self.objects), "--network", "none", *extra,
               *bot_env(f"b{self.n}", key), self.image)
        return time.monotonic() - t0

    def front(self, runtime, key, calls, path):
        """`calls` requests through the :9476 front to `path` of the busybox httpd query
        program: a CGI (httpd forks and execs a shell per call) or a static file (a fork, no
        exec). Returns the answered calls' times and how many got no answer within 5 s."""
        name = self.name()
        docker("run", "-d", *hardened(name, runtime, self.objects), "-p", "127.0.0.1::9476",
               *bot_env(f"b{self.n}", key, [("QUERY_ENTRYPOINT", "query.sh")]), self.image)
        port = int(docker("port", name, "9476/tcp").splitlines()[0].rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/{path}"
        cgi = path.startswith("cgi-bin/")

        def post():
            req = urllib.request.Request(url, data=b"{}" if cgi else None, method="POST" if cgi else "GET",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read()

        deadline = time.monotonic() + 60
        while True:
            try:
                if post()[0] == 200:
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{runtime}: the front never answered")
            time.sleep(0.1)
        times, failed = [], 0
        for _ in range(calls):
            t0 = time.monotonic()
            try:
                ok = post()[0] == 200
            except Exception:
                ok = False
            if ok:
                times.append(time.monotonic() - t0)
            else:
                failed += 1
        self.remove([name])
        return times, failed

    def memory(self, runtime, key, bots):
        names = [self.name() for _ in range(bots)]
        for n in names:
            docker("run", "-d", *hardened(n, runtime, self.objects), "--network", "none",
                   *bot_env(n, key), self.image)
        for n in names:
            deadline = time.monotonic() + 60
            while "ready" not in docker("logs", n, check=False):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{runtime}: bot {n} never ran")
                time.sleep(0.05)
        time.sleep(3)
        per = []
        for n in names:
            pid = int(docker("inspect", "-f", "{{.State.Pid}}", n))
            shim = ppid(pid)
            per.append(sum(pss_kib(p) for p in [shim, *descendants(shim)]) / 1024)
        self.remove(names)
        return per


def unix(rfc3339):
    """Seconds of Docker's and the executor's RFC 3339 times (nanoseconds cut to microseconds)."""
    from datetime import datetime
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


def fmt(xs, unit="ms", scale=1000.0):
    med, (p10, p90) = lib.median(xs) * scale, lib.spread(xs)
    return f"{med:.1f} {unit} ({p10 * scale:.1f}–{p90 * scale:.1f})"


def main():
    image, objects = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    reps, calls, bots = (3, 20, 2) if quick else (8, 100, 4)
    b = Bench(image, objects)
    try:
        ready = b.put_code({"bot.sh": "#!/bin/sh\necho ready\nwhile true; do sleep 1; done\n"})
        done = b.put_code({"bot.sh": "#!/bin/sh\nexit 0\n"})
        cgi = ("#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n'\n"
               "printf '{\"status\":\"ok\",\"data\":{}}'\n")
        query = b.put_code({"bot.sh": "#!/bin/sh\necho ready\nwhile true; do sleep 1; done\n",
                            "query.sh": "#!/bin/sh\nexec httpd -f -p \"127.0.0.1:$THE0_QUERY_PORT\" -h /bot/www\n",
                            "www/cgi-bin/echo": cgi, "www/static.json": '{"status":"ok","data":{}}'})
        res = {rt: {"start": [], "exec": [], "plain": [], "front": [], "static": [], "mem": [], "inside": []}
               for rt in RUNTIMES}
        failed, failed_static = {}, {}
        for i in range(reps):
            for rt in (RUNTIMES if i % 2 == 0 else RUNTIMES[::-1]):
                took, inside = b.start_to_running(rt, ready)
                res[rt]["start"].append(took)
                res[rt]["inside"].append(inside)
                res[rt]["plain"].append(b.run_rm(rt, done, plain=True))
                res[rt]["exec"].append(b.run_rm(rt, done, plain=False))
        for rt in RUNTIMES:
            res[rt]["front"], failed[rt] = b.front(rt, query, calls, "cgi-bin/echo")
            res[rt]["static"], failed_static[rt] = b.front(rt, query, calls, "static.json")
            res[rt]["mem"] = b.memory(rt, ready, bots)
    finally:
        b.cleanup()
    rows = [("container start → bot running", lambda r: fmt(r["start"])),
            ("executor start → bot exec'd (container StartedAt → executor's `bot started` line)",
             lambda r: fmt(r["inside"])),
            ("`docker run --rm` of /bin/true (no executor)", lambda r: fmt(r["plain"])),
            ("`docker run --rm` of the executor, bot exits at once", lambda r: fmt(r["exec"])),
            ("`docker run --rm`: executor minus /bin/true (difference of medians)",
             lambda r: f"{(lib.median(r['exec']) - lib.median(r['plain'])) * 1000:.1f} ms"),
            (f":9476 front, one POST to a CGI query ({calls} calls)",
             lambda r: fmt(r["front"]) if r["front"] else "no answer"),
            (f":9476 front, one GET of a static file from the same httpd ({calls} calls)",
             lambda r: fmt(r["static"]) if r["static"] else "no answer"),
            (f"memory per idle bot, host PSS ({bots} bots)",
             lambda r: f"{lib.median(r['mem']):.1f} MiB ({min(r['mem']):.1f}–{max(r['mem']):.1f})")]
    print(f"| measure ({reps} runs each, alternated; median (p10–p90)) | runc (default) | runsc (gVisor) |")
    print("|---|---|---|")
    for label, f in rows:
        print(f"| {label} | {f(res['runc'])} | {f(res['runsc'])} |")
    print(f"\n:9476 calls without an answer within 5 s: CGI runc {failed['runc']}, runsc {failed['runsc']}; "
          f"static file runc {failed_static['runc']}, runsc {failed_static['runsc']}")
    print(json.dumps({rt: {k: [round(x, 4) for x in v] for k, v in r.items()} for rt, r in res.items()}),
          file=sys.stderr)


if __name__ == "__main__":
    main()
