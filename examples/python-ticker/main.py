"""python-ticker: a realtime bot. Follows a simulated price (a deterministic random walk seeded by
the tick number, so a restart continues the same series), keeps its tick count and the last prices
in $STATE_DIR/ticker.json, prints one `_metric` JSON line per tick on stdout and JSON log lines on
stderr. Started by the0's Python wrapper as main(bot_id, config); SIGTERM ends it."""
import datetime
import json
import random
import sys
import time

import state

KEEP = 120  # prices kept in the state


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(level, message, **data):
    print(json.dumps({"level": level, "message": message, **data, "timestamp": now()}), file=sys.stderr, flush=True)


def metric(kind, **data):
    print(json.dumps({"_metric": kind, **data, "timestamp": now()}), flush=True)


def main(bot_id, config):
    symbol = str(config.get("symbol", "BTC-USD"))
    interval = float(config.get("interval_sec", 1))
    s = state.get("ticker", {"ticks": 0, "price": 100.0, "prices": []})
    if s["ticks"]:
        log("info", "resuming", bot_id=bot_id, symbol=symbol, tick=s["ticks"], price=s["price"])
    else:
        log("info", "first start", bot_id=bot_id, symbol=symbol)
    while True:
        s["ticks"] += 1
        step = random.Random(s["ticks"]).gauss(0, 0.5)
        s["price"] = round(max(1.0, s["price"] + step), 4)
        s["prices"] = (s["prices"] + [s["price"]])[-KEEP:]
        state.set("ticker", s)
        metric("price", symbol=symbol, value=s["price"], tick=s["ticks"])
        if s["ticks"] % 10 == 0:
            avg = sum(s["prices"][-10:]) / len(s["prices"][-10:])
            log("info", "ten more ticks", tick=s["ticks"], avg10=round(avg, 4))
        time.sleep(interval)
