// node-scheduled's query program, written against the0's SDK query contract (docs/contract.md §4.1).
// A scheduled bot has no server: each query runs one-shot with QUERY_PATH and QUERY_PARAMS and
// leaves {"status":"ok","data":...} (or {"status":"error",...} and exit 1) in /query/result.json.
// State is read-only. Handlers: /runs?last=N (the count and the last N runs).
"use strict";
const fs = require("fs");
const state = require("./state");

const handlers = {
  "/runs": (params) => {
    const last = parseInt(params.last || "5", 10);
    if (!(last >= 1)) throw new Error("last must be a number >= 1");
    const runs = state.get("runs", { count: 0, history: [] });
    return { count: runs.count, last: runs.history.slice(-last) };
  },
};

function answer(path, params) {
  const fn = handlers[path];
  if (!fn) return { status: "error", error: `No handler for path: ${path}`, available: Object.keys(handlers) };
  try {
    return { status: "ok", data: fn(params) };
  } catch (e) {
    return { status: "error", error: String(e.message || e) };
  }
}

let params = {};
try {
  const p = JSON.parse(process.env.QUERY_PARAMS || "{}");
  if (p && typeof p === "object" && !Array.isArray(p)) params = p;
} catch (_) {
  params = {};
}
const path = "/" + (process.env.QUERY_PATH || "/info").replace(/^\/+/, "");
const reply = path === "/info" && !handlers[path] ? { status: "ok", data: { available_queries: Object.keys(handlers) } } : answer(path, params);
fs.mkdirSync("/query", { recursive: true });
fs.writeFileSync("/query/result.json", JSON.stringify(reply));
process.exit(reply.status === "ok" ? 0 : 1);
