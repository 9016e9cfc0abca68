"""The Grafana dashboard read the way scripts/test-dashboard.sh checks it, without Grafana: its
panels' PromQL with the template variables replaced by test values, its variables' label_values()
queries, the dashboard's own consistency (ids, datasource, layout, variables) and whether a
Prometheus answer counts as data. Pure functions only; check.py does the HTTP.
"""
import math
import re

DATASOURCE_UID = "${DS_PROMETHEUS}"

# Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]], [[name:format]].
_VAR = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\[\[(\w+)(?::[\w-]+)?\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*?)\s*,\s*)?(\w+)\s*\)\s*$", re.S)


class DashboardError(Exception):
    """A problem with the dashboard itself (not with what Prometheus answers)."""


def panels(dashboard):
    """Every panel, rows' nested panels included (a collapsed row keeps its panels inside it)."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def targets(dashboard):
    """(panel title, refId, expr) of every query of every non-row panel, in dashboard order."""
    out = []
    for p in panels(dashboard):
        if p.get("type") == "row":
            continue
        for t in p.get("targets", []):
            out.append((p.get("title", "?"), t.get("refId", "?"), t.get("expr", "")))
    return out


def variable_names(dashboard):
    return [v["name"] for v in dashboard.get("templating", {}).get("list", [])]


def substitute(expr, values):
    """expr with every variable replaced from `values` (name → text); an unknown one raises."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise DashboardError(f"unknown variable ${name} in {expr!r}")
        return values[name]
    return _VAR.sub(repl, expr)


def label_values(query):
    """label_values([selector,] label) → (selector or None, label); anything else raises."""
    m = _LABEL_VALUES.match(query)
    if not m:
        raise DashboardError(f"not a label_values() query: {query!r}")
    return m.group(1), m.group(2)


def variable_queries(dashboard):
    """(name, label_values query) of every query variable."""
    out = []
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        out.append((v["name"], q.get("query", "") if isinstance(q, dict) else (q or "")))
    return out


def _overlap(a, b):
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def problems(dashboard, builtins):
    """What is wrong with the dashboard on its own: duplicate panel ids or titles, a panel without queries,
    a query without PromQL or with a refId used twice in its panel, a datasource other than the
    ${DS_PROMETHEUS} variable, panels drawn over each other, a variable used but not defined."""
    out = []
    known = set(variable_names(dashboard)) | set(builtins)
    if "DS_PROMETHEUS" not in variable_names(dashboard):
        out.append("no DS_PROMETHEUS datasource variable")
    seen_ids, seen_titles = set(), set()
    placed = []
    for p in panels(dashboard):
        title = p.get("title", "?")
        if p.get("id") in seen_ids:
            out.append(f"{title}: panel id {p.get('id')} used twice")
        if title in seen_titles:
            out.append(f"{title}: title used twice (failures are named by title)")
        seen_ids.add(p.get("id"))
        seen_titles.add(title)
        g = p.get("gridPos")
        if not g or any(k not in g for k in "xywh"):
            out.append(f"{title}: no gridPos")
        else:
            if g["x"] + g["w"] > 24:
                out.append(f"{title}: wider than the 24-column grid")
            for other_title, og in placed:
                if _overlap(g, og):
                    out.append(f"{title}: drawn over {other_title}")
            placed.append((title, g))
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != DATASOURCE_UID:
            out.append(f"{title}: datasource is not {DATASOURCE_UID}")
        ts = p.get("targets", [])
        if not ts:
            out.append(f"{title}: no queries")
        refs = [t.get("refId") for t in ts]
        if len(set(refs)) != len(refs):
            out.append(f"{title}: a refId is used twice")
        for t in ts:
            if not t.get("expr", "").strip():
                out.append(f"{title} / {t.get('refId')}: no PromQL")
            if (t.get("datasource") or {}).get("uid") != DATASOURCE_UID:
                out.append(f"{title} / {t.get('refId')}: datasource is not {DATASOURCE_UID}")
    for title, ref, expr in targets(dashboard):
        for m in _VAR.finditer(expr):
            name = m.group(1) or m.group(2) or m.group(3)
            if name not in known:
                out.append(f"{title} / {ref}: unknown variable ${name}")
    return out


def answer_problem(answer):
    """None when a /api/v1/query answer has data (a series or scalar with a finite value), else why not."""
    if answer.get("status") != "success":
        return f"{answer.get('errorType', 'error')}: {answer.get('error', answer)}"
    data = answer.get("data", {})
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" or kind == "string":
        values = [result[1]] if result else []
    elif kind == "vector":
        values = [s["value"][1] for s in result]
    elif kind == "matrix":
        values = [v[1] for s in result for v in s["values"]]
    else:
        return f"unexpected result type {kind!r}"
    if not values:
        return "no data (empty result)"
    if not any(_finite(v) for v in values):
        return f"no finite value ({len(values)} series, all NaN or infinite: no observation in the window)"
    return None


def _finite(text):
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False
