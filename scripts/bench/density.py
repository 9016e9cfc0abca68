"""Memory of the bots' executors and of the container runtime's shims, for `make bench-density`.

Input: a file of container PID 1s (one per line, `docker inspect -f '{{.State.Pid}}'`). Each PID 1
is a bot's executor; its parent is the container's shim (containerd-shim-runc-v2, one per
container). Prints on one line: executor count, their summed Pss, Rss and Anonymous (kB, from
/proc/<pid>/smaps_rollup), the number of distinct shims and their summed Pss (kB). PSS splits shared
pages among the processes that map them, so the sums add up to what the host really holds.
"""

import sys

from containers import ppid as parent, rollup


def main(path):
    with open(path) as f:
        pids = [int(p) for p in f.read().split() if p.strip() not in ("", "0")]
    if not pids:
        sys.exit("density.py: no running container PIDs in " + path)
    executors = [rollup(p) for p in pids]
    shims = [rollup(p) for p in {parent(p) for p in pids}]

    def total(rs, key):
        return sum(r.get(key, 0) for r in rs)

    print(len(executors), total(executors, "Pss"), total(executors, "Rss"), total(executors, "Anonymous"),
          len(shims), total(shims, "Pss"))


if __name__ == "__main__":
    main(sys.argv[1])
