"""Table tests of dashboard.py, and the committed dashboard checked on its own (no Prometheus):
`python3 -m unittest discover -s scripts/dashboard` (scripts/test-dashboard.sh runs it first)."""
import json
import os
import unittest

import dashboard as dash

HERE = os.path.dirname(os.path.abspath(__file__))
COMMITTED = os.path.join(HERE, "..", "..", "deploy", "grafana", "the0-runtime.json")
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
VALUES = {"__rate_interval": "5m", "bot": ".*", "instance": "a|b"}


def panel(pid, title, exprs, x=0, y=0, w=12, h=8, ds=DS):
    return {"id": pid, "title": title, "type": "timeseries", "datasource": ds,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [{"refId": chr(65 + i), "expr": e, "datasource": ds} for i, e in enumerate(exprs)]}


def board(*ps, variables=("DS_PROMETHEUS", "bot", "instance")):
    return {"panels": list(ps), "templating": {"list": [{"name": n, "type": "query"} for n in variables]}}


class Substitute(unittest.TestCase):
    def test_table(self):
        for expr, want in [
            ("rate(x[$__rate_interval])", "rate(x[5m])"),
            ('x{bot_id=~"$bot"}', 'x{bot_id=~".*"}'),
            ('x{bot_id=~"${bot}"}', 'x{bot_id=~".*"}'),
            ('x{bot_id=~"${bot:regex}"}', 'x{bot_id=~".*"}'),
            ('x{bot_id=~"[[bot]]"}', 'x{bot_id=~".*"}'),
            ('x{instance=~"$instance",bot_id=~"$bot"}[$__rate_interval]', 'x{instance=~"a|b",bot_id=~".*"}[5m]'),
            ("sum(x)", "sum(x)"),
        ]:
            with self.subTest(expr=expr):
                self.assertEqual(dash.substitute(expr, VALUES), want)

    def test_unknown_variable_raises(self):
        for expr in ["x[$__interval]", 'x{a="$botx"}', "x{a=\"${nope}\"}"]:
            with self.subTest(expr=expr), self.assertRaises(dash.DashboardError):
                dash.substitute(expr, VALUES)


class LabelValues(unittest.TestCase):
    def test_table(self):
        for q, want in [
            ("label_values(the0_bots_desired, instance)", ("the0_bots_desired", "instance")),
            ('label_values(the0_bot_state{instance=~".*"}, bot_id)', ('the0_bot_state{instance=~".*"}', "bot_id")),
            ("label_values(job)", (None, "job")),
        ]:
            with self.subTest(q=q):
                self.assertEqual(dash.label_values(q), want)

    def test_other_queries_raise(self):
        for q in ["query_result(up)", "metrics(the0_.*)", ""]:
            with self.subTest(q=q), self.assertRaises(dash.DashboardError):
                dash.label_values(q)


class Problems(unittest.TestCase):
    def test_a_sound_board_has_none(self):
        b = board(panel(1, "a", ["x"]), panel(2, "b", ['y{bot_id=~"$bot"}'], x=12))
        self.assertEqual(dash.problems(b, VALUES), [])

    def test_table(self):
        for name, b, want in [
            ("duplicate id", board(panel(1, "a", ["x"]), panel(1, "b", ["y"], x=12)), "b: panel id 1 used twice"),
            ("duplicate title", board(panel(1, "a", ["x"]), panel(2, "a", ["y"], x=12)), "a: title used twice (failures are named by title)"),
            ("overlap", board(panel(1, "a", ["x"]), panel(2, "b", ["y"], x=6)), "b: drawn over a"),
            ("too wide", board(panel(1, "a", ["x"], x=20)), "a: wider than the 24-column grid"),
            ("no queries", board(panel(1, "a", [])), "a: no queries"),
            ("empty expr", board(panel(1, "a", [" "])), "a / A: no PromQL"),
            ("fixed datasource", board(panel(1, "a", ["x"], ds={"uid": "abc"})), "a: datasource is not ${DS_PROMETHEUS}"),
            ("unknown variable", board(panel(1, "a", ['x{job="$job"}'])), "a / A: unknown variable $job"),
            ("no datasource variable", board(panel(1, "a", ["x"]), variables=("bot",)), "no DS_PROMETHEUS datasource variable"),
        ]:
            with self.subTest(name):
                self.assertIn(want, dash.problems(b, VALUES))

    def test_rows_nested_panels_are_read(self):
        row = {"id": 9, "type": "row", "title": "r", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1},
               "panels": [panel(1, "inner", ["x"], y=1)]}
        self.assertEqual(dash.targets({"panels": [row]}), [("inner", "A", "x")])


class AnswerProblem(unittest.TestCase):
    def test_table(self):
        def vec(*vals):
            return {"status": "success", "data": {"resultType": "vector",
                                                  "result": [{"metric": {}, "value": [1, v]} for v in vals]}}
        for name, ans, ok in [
            ("one series", vec("1"), True),
            ("a zero is data", vec("0"), True),
            ("NaN beside a value", vec("NaN", "0.2"), True),
            ("empty", vec(), False),
            ("only NaN", vec("NaN", "NaN"), False),
            ("only +Inf", vec("+Inf"), False),
            ("scalar", {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}, True),
            ("matrix", {"status": "success", "data": {"resultType": "matrix",
                                                      "result": [{"metric": {}, "values": [[1, "NaN"], [2, "4"]]}]}}, True),
            ("error", {"status": "error", "errorType": "bad_data", "error": "parse error"}, False),
        ]:
            with self.subTest(name):
                self.assertEqual(dash.answer_problem(ans) is None, ok, dash.answer_problem(ans))


class Committed(unittest.TestCase):
    """The dashboard in deploy/grafana on its own: sound, and every variable query is label_values()."""

    def setUp(self):
        with open(COMMITTED) as f:
            self.d = json.load(f)

    def test_sound(self):
        values = {"__rate_interval": "5m", "__interval": "5m", "__range": "5m"}
        self.assertEqual(dash.problems(self.d, values), [])

    def test_variables_are_label_values(self):
        qs = dash.variable_queries(self.d)
        self.assertEqual([n for n, _ in qs], ["instance", "bot"])
        for _, q in qs:
            dash.label_values(q)

    def test_schema_and_the_issue_panels(self):
        self.assertGreaterEqual(self.d["schemaVersion"], 39)
        titles = {p["title"] for p in dash.panels(self.d)}
        for t in ["Bots by state", "Restarts and start failures", "Bots in crash-loop backoff", "Crash-looping bots",
                  "Container start latency", "Event to running latency", "Query latency by kind",
                  "Scheduled run outcomes", "Scheduled run duration", "Reconcile pass and Docker call latency",
                  "Resident memory", "CPU", "Open file descriptors"]:
            self.assertIn(t, titles)


if __name__ == "__main__":
    unittest.main()
