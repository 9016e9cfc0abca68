#!/usr/bin/env node
// the0 Node bot wrapper: installed at /app/wrappers/node_bot.js, started by the runtime as
// `node /app/wrappers/node_bot.js` with cwd CODE_PATH (docs/contract.md §2.6, D14).
//
// Requires the bot's entry file, calls `(m.main || m.default || m)(botId, config)` and awaits it:
//   * resolves                -> writes the returned object (or {"status":"success"}), exit 0
//   * rejects / throws        -> {"status":"error","message":...}, exit 1
//   * SIGTERM/SIGINT          -> if the bot listens for the signal itself, it decides; otherwise
//                                {"status":"terminated"}, exit 0 (the original ignored SIGTERM)
//   * load or config error    -> {"status":"error",...}, exit 1
"use strict";

const fs = require("fs");
const path = require("path");

const codeDir = "/" + (process.env.CODE_MOUNT_DIR || "bot").replace(/^\/+/, "");
const resultPath = path.join(codeDir, "result.json");

function writeResult(obj) {
  try {
    fs.writeFileSync(resultPath, JSON.stringify(obj));
  } catch (e) {
    process.stderr.write(`RESULT_ERROR: cannot write result.json: ${e.message}\n`);
  }
}

function onSignal(signal) {
  // Our own listener is one of them; more means the bot handles the signal itself.
  if (process.listenerCount(signal) > 1) return;
  process.stderr.write(`SIGNAL: ${signal}\n`);
  writeResult({ status: "terminated", message: `bot terminated by ${signal}` });
  process.exit(0);
}

async function main() {
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.chdir(codeDir);
  const botId = process.env.BOT_ID || "";
  const script = process.env.SCRIPT_PATH || process.env.ENTRYPOINT || "main.js";
  let config;
  try {
    config = JSON.parse(process.env.BOT_CONFIG || "{}");
  } catch (e) {
    process.stderr.write(`IMPORT_ERROR: BOT_CONFIG is not valid JSON: ${e.message}\n`);
    writeResult({ status: "error", message: `BOT_CONFIG is not valid JSON: ${e.message}` });
    return 1;
  }
  let fn;
  try {
    const m = require(path.resolve(codeDir, script));
    fn = (m && (m.main || m.default)) || m;
    if (typeof fn !== "function") throw new Error(`${script} does not export a main(botId, config) function`);
  } catch (e) {
    process.stderr.write(`IMPORT_ERROR: ${e && e.stack ? e.stack : e}\n`);
    writeResult({ status: "error", message: String(e && e.message ? e.message : e) });
    return 1;
  }
  try {
    const value = await fn(botId, config);
    writeResult(value && typeof value === "object" ? value : { status: "success" });
    return 0;
  } catch (e) {
    process.stderr.write(`RESULT_ERROR: ${e && e.stack ? e.stack : e}\n`);
    writeResult({ status: "error", message: String(e && e.message ? e.message : e) });
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`RESULT_ERROR: ${e}\n`);
    process.exit(1);
  },
);
