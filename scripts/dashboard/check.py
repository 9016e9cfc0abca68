#!/usr/bin/env python3
"""Runs every query of a Grafana dashboard against a real Prometheus (scripts/test-dashboard.sh):
each panel's PromQL, its template variables replaced by test values, through /api/v1/query, and
each label_values() variable through /api/v1/series. Fails naming the panel (and refId) whose
query errors or returns no data. Stdlib only.

    check.py DASHBOARD.json http://127.0.0.1:PORT [--window 5m] [--wait-for PROMQL]...
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import dashboard as dash

TIMEOUT = 10


def builtins(window):
    """Grafana's built-in variables as the test sets them: every range is `window`, which covers
    the whole test run, so a rate or a percentile sees every observation the test made."""
    return {"__rate_interval": window, "__interval": window, "__range": window,
            "__interval_ms": "1000", "__range_s": "300", "__range_ms": "300000"}


def get(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422 carry Prometheus' error JSON
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"status": "error", "error": str(e)}


def wait_for(base, exprs, seconds):
    """Waits (bounded) until every query in exprs returns a series; returns those that never did."""
    deadline = time.monotonic() + seconds
    pending = list(exprs)
    while pending:
        pending = [e for e in pending if dash.answer_problem(get(base, "/api/v1/query", {"query": e})) is not None]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return pending


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dashboard")
    ap.add_argument("prometheus", help="base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--window", default="5m", help="what $__rate_interval and $__range become")
    ap.add_argument("--wait-for", action="append", default=[], metavar="PROMQL",
                    help="first wait until this query returns a series (repeatable)")
    ap.add_argument("--wait-seconds", type=float, default=60, help="bound of that wait")
    args = ap.parse_args()
    missing = wait_for(args.prometheus, args.wait_for, args.wait_seconds)
    with open(args.dashboard) as f:
        d = json.load(f)
    values = dict(builtins(args.window))
    # Every query variable set to "All": a regex matching every value.
    for name, _ in dash.variable_queries(d):
        values[name] = ".*"
    failures = [f"dashboard: {p}" for p in dash.problems(d, values)]
    failures += [f"waited {args.wait_seconds:g} s: Prometheus has no data for {e}" for e in missing]

    for name, query in dash.variable_queries(d):
        try:
            selector, label = dash.label_values(dash.substitute(query, values))
        except dash.DashboardError as e:
            failures.append(f"variable ${name}: {e}")
            continue
        ans = get(args.prometheus, "/api/v1/series", {"match[]": selector or "{%s=~\".+\"}" % label})
        found = sorted({s.get(label) for s in ans.get("data", []) if s.get(label)}) if ans.get("status") == "success" else []
        status = "ok" if found else "FAIL"
        print(f"{status:4} variable ${name}: {query} -> {', '.join(found) or ans.get('error', 'no values')}")
        if not found:
            failures.append(f"variable ${name}: {query}: no values")

    checked = 0
    for title, ref, expr in dash.targets(d):
        try:
            promql = dash.substitute(expr, values)
        except dash.DashboardError as e:
            failures.append(f"panel {title!r} / {ref}: {e}")
            continue
        ans = get(args.prometheus, "/api/v1/query", {"query": promql})
        problem = dash.answer_problem(ans)
        checked += 1
        n = len(ans.get("data", {}).get("result", []) or []) if ans.get("status") == "success" else 0
        print(f"{'ok' if problem is None else 'FAIL':4} {title} / {ref}: {n} series  {promql}")
        if problem:
            failures.append(f"panel {title!r} / {ref}: {problem}\n      {promql}")

    used = " ".join(expr for _, _, expr in dash.targets(d))
    names = get(args.prometheus, "/api/v1/label/__name__/values", {"match[]": '{__name__=~"the0_.+"}'})
    unused = [n for n in names.get("data", []) if n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") not in used]
    if unused:
        print(f"note: the0_* series the dashboard does not show: {', '.join(unused)}")
    if failures:
        print(f"\n{len(failures)} failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"all {checked} panel queries of {len(dash.panels(d))} panels returned data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
