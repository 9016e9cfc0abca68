"""The executor's memory inside a container over a long run (issue #17 item 2), against tini.

Two containers of the same image, hardened as the orchestrator makes them, run the same active
bot for the same time, started together:

  executor  the image's /app/runtime as PID 1 (as in production): it extracts the bot's code,
            restores and syncs /state to local objects, ships the log, and runs the :9476 front
            with a query program (busybox httpd, a CGI echo) that the host queries every few
            seconds through the published port
  tini      tini-static (bind-mounted from the host) as PID 1 running the same bot script: the
            init most images use, the floor of "PID 1 that forwards signals and reaps"

The bot writes its state and a log line every second. Every `sample` seconds, the PID 1 of each
container is read from the host (/proc/<pid>/smaps_rollup: Rss, Anonymous, Pss). Prints one JSON
object: both PID 1s' last and largest readings, the queries made and answered.

Usage: executor_memory.py IMAGE OBJECTS_DIR SECONDS [SAMPLE_SECONDS]
"""
import json
import os
import shutil
import sys
import time
import urllib.request

from containers import bot_env, code_zip, docker, hardened, rollup

BOT = ("#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo \"{\\\"i\\\":$i}\" > \"$STATE_DIR/tick.json.tmp\" && "
       "mv \"$STATE_DIR/tick.json.tmp\" \"$STATE_DIR/tick.json\"; echo \"tick $i\"; sleep 1; done\n")
CGI = "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n'\nprintf '{\"status\":\"ok\",\"data\":{}}'\n"
QUERY = "#!/bin/sh\nexec httpd -f -p \"127.0.0.1:$THE0_QUERY_PORT\" -h /bot/www\n"
QUERY_EVERY = 3.0


def pid1(name):
    return int(docker("inspect", "-f", "{{.State.Pid}}", name))


def main():
    image, objects, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sample = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    tini = shutil.which("tini-static")
    if not tini:
        sys.exit("tini-static is not installed (scripts/install-deps.sh)")
    key = "bench/mem/1"
    path = os.path.join(objects, "custom-bots", key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(code_zip({"bot.sh": BOT, "query.sh": QUERY, "www/cgi-bin/q": CGI}))
    os.chmod(path, 0o644)
    peer_dir = os.path.join(objects, "peer")
    os.makedirs(peer_dir, exist_ok=True)
    with open(os.path.join(peer_dir, "bot.sh"), "w") as f:
        f.write(BOT)
    os.chmod(os.path.join(peer_dir, "bot.sh"), 0o755)
    tag = f"the0-bench-mem-{os.getpid()}"
    ours, peer = f"{tag}-executor", f"{tag}-tini"
    try:
        docker("run", "-d", *hardened(ours, "runc", objects), "-p", "127.0.0.1::9476",
               *bot_env("mem1", key, [("QUERY_ENTRYPOINT", "query.sh")]), image)
        docker("run", "-d", *hardened(peer, "runc", objects), "-e", "STATE_DIR=/state",
               "-v", f"{tini}:/tini:ro", "-v", f"{peer_dir}:/peer:ro", "--entrypoint", "/tini",
               image, "--", "/bin/sh", "/peer/bot.sh")
        port = int(docker("port", ours, "9476/tcp").splitlines()[0].rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/cgi-bin/q"
        t0 = time.monotonic()
        next_query, next_sample = t0, t0 + sample
        asked = answered = 0
        readings = {"executor": [], "tini": []}
        while True:
            now = time.monotonic()
            if now >= next_query:
                asked += 1
                try:
                    req = urllib.request.Request(url, data=b"{}", method="POST",
                                                 headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(req, timeout=5) as r:
                        answered += r.status == 200
                except OSError:
                    pass
                next_query += QUERY_EVERY
            if now >= next_sample or now - t0 >= seconds:
                for who, name in (("executor", ours), ("tini", peer)):
                    r = rollup(pid1(name))
                    readings[who].append({"t": round(now - t0), "rss": r.get("Rss", 0),
                                          "anon": r.get("Anonymous", 0), "pss": r.get("Pss", 0)})
                next_sample += sample
                if now - t0 >= seconds:
                    break
            time.sleep(max(0.0, min(next_query, next_sample) - time.monotonic()))
        ticks = docker("logs", "--tail", "3", ours, check=False)
        out = {"seconds": seconds, "queries": asked, "answered": answered, "bot_still_ticking": "tick" in ticks}
        for who, rs in readings.items():
            out[who] = {"last": rs[-1], "max_rss": max(r["rss"] for r in rs), "max_anon": max(r["anon"] for r in rs),
                        "samples": len(rs)}
        print(json.dumps(out))
    finally:
        docker("rm", "-f", ours, peer, check=False)


if __name__ == "__main__":
    main()
