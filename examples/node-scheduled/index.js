// node-scheduled: one run of a scheduled bot. Started by the0's Node wrapper as
// main(botId, config); records the run (a simulated rebalance towards `config.target`) in
// $STATE_DIR/runs.json, prints a `_metric` line on stdout and JSON log lines on stderr, and
// returns its result (the wrapper writes it to result.json and exits 0).
"use strict";
const state = require("./state");

const now = () => new Date().toISOString();
const log = (level, message, data = {}) =>
  process.stderr.write(JSON.stringify({ level, message, ...data, timestamp: now() }) + "\n");
const metric = (kind, data) => process.stdout.write(JSON.stringify({ _metric: kind, ...data, timestamp: now() }) + "\n");

module.exports = async function main(botId, config) {
  const target = config.target || { BTC: 1 };
  const runs = state.get("runs", { count: 0, history: [] });
  runs.count += 1;
  // A deterministic "market" per run: weights drift from the target and are put back.
  const drift = Object.fromEntries(
    Object.entries(target).map(([asset, w], i) => [asset, +(w + Math.sin(runs.count + i) * 0.05).toFixed(4)]),
  );
  const trades = Object.fromEntries(Object.entries(target).map(([a, w]) => [a, +(w - drift[a]).toFixed(4)]));
  runs.history = [...runs.history, { run: runs.count, at: now(), trades }].slice(-50);
  state.set("runs", runs);
  log("info", "rebalanced", { bot_id: botId, run: runs.count, trades });
  metric("rebalance", { run: runs.count, turnover: +Object.values(trades).reduce((s, t) => s + Math.abs(t), 0).toFixed(4) });
  return { status: "success", message: `run ${runs.count} done` };
};
