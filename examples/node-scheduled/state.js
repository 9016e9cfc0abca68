// The bot's state, one JSON document per key under $STATE_DIR (the0's SDK convention:
// $STATE_DIR/<key>.json). Shared by the bot and its query program, which only reads it.
"use strict";
const fs = require("fs");
const path = require("path");

const dir = process.env.STATE_DIR || "/state/.the0-state";

function pathOf(key) {
  if (!key || /[/\\]/.test(key) || key.includes("..")) throw new Error(`bad state key ${JSON.stringify(key)}`);
  return path.join(dir, `${key}.json`);
}

function get(key, fallback) {
  try {
    return JSON.parse(fs.readFileSync(pathOf(key), "utf8"));
  } catch (e) {
    if (e.code === "ENOENT") return fallback;
    throw e;
  }
}

function set(key, value) {
  if (process.env.QUERY_PATH !== undefined) throw new Error("state is read-only during a query");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${pathOf(key)}.tmp`, JSON.stringify(value));
  fs.renameSync(`${pathOf(key)}.tmp`, pathOf(key));
}

module.exports = { get, set };
