"""python-ticker's query program, written against the0's SDK query contract (docs/contract.md §4.1):

* realtime (no QUERY_PATH): an HTTP server on $THE0_QUERY_PORT; handler by exact path; parameters
  only from the URL query string (first value); 200 {"status":"ok","data":...}, unknown path
  404 {"status":"error","error":"No handler for path: <p>"}, a failing handler 500.
* one-shot (QUERY_PATH set): parameters from QUERY_PARAMS, the reply written to
  /query/result.json, exit 1 on error. State is read-only in both.

Handlers: /status (tick count, last price), /prices?last=N (the last N prices and their mean)."""
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import state


def status(_params):
    s = state.get("ticker", {"ticks": 0, "price": None})
    return {"bot_id": os.environ.get("BOT_ID"), "ticks": s["ticks"], "price": s["price"]}


def prices(params):
    last = int(params.get("last", "10"))
    if last < 1:
        raise ValueError("last must be at least 1")
    p = state.get("ticker", {"prices": []})["prices"][-last:]
    return {"prices": p, "mean": round(sum(p) / len(p), 4) if p else None}


HANDLERS = {"/status": status, "/prices": prices}


def answer(path, params):
    """(http status, reply) of one query."""
    if path == "/health" and path not in HANDLERS:
        return 200, {"status": "ok"}
    if path == "/info" and path not in HANDLERS:
        return 200, {"available_queries": sorted(HANDLERS)}
    fn = HANDLERS.get(path)
    if fn is None:
        return 404, {"status": "error", "error": "No handler for path: %s" % path, "available": sorted(HANDLERS)}
    try:
        return 200, {"status": "ok", "data": fn(params)}
    except Exception as e:  # noqa: BLE001 - every handler failure is the caller's answer
        return 500, {"status": "error", "error": str(e)}


class Handler(BaseHTTPRequestHandler):
    def _serve(self):
        url = urllib.parse.urlsplit(self.path)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        code, reply = answer(url.path, params)
        body = json.dumps(reply).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, fmt, *args):
        pass


def one_shot():
    try:
        params = json.loads(os.environ.get("QUERY_PARAMS") or "{}")
        if not isinstance(params, dict):
            params = {}
    except ValueError:
        params = {}
    path = "/" + os.environ["QUERY_PATH"].lstrip("/")
    _, reply = answer(path, {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()})
    os.makedirs("/query", exist_ok=True)
    with open("/query/result.json", "w") as f:
        json.dump(reply, f)
    return 0 if reply.get("status") == "ok" else 1


if __name__ == "__main__":
    if os.environ.get("QUERY_PATH"):
        sys.exit(one_shot())
    port = int(os.environ.get("THE0_QUERY_PORT", "9476"))
    print(json.dumps({"_log": "info", "message": "Query server started on port %d" % port}), file=sys.stderr, flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
