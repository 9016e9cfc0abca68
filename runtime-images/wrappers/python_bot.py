#!/usr/bin/env python3
"""the0 Python bot wrapper: installed at /app/wrappers/python_bot.py, started by the runtime as
`python3 /app/wrappers/python_bot.py` with cwd CODE_PATH (docs/contract.md §2.6, D13, D15).

Imports the bot's entry file as module `main` and runs `main(bot_id, config)` in a daemon thread,
so SIGTERM/SIGINT can end the run even while the bot blocks. Writes result.json and exits:
  * main returns            -> {"status":"success"}, exit 0
  * SIGTERM/SIGINT          -> {"status":"terminated"}, exit 0
  * main raises             -> {"status":"error","message":...}, exit 1 (D13; the original exited 0)
  * SystemExit(n) in main   -> exit n (the SDK's error() has already written result.json)
  * import / config error   -> {"status":"error",...}, exit 1
"""
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
import traceback

_stop = threading.Event()
_outcome = {}


def _on_signal(signum, _frame):
    _stop.set()


def _write_result(code_dir, status, message):
    try:
        with open(os.path.join(code_dir, "result.json"), "w") as f:
            json.dump({"status": status, "message": message}, f)
    except OSError as e:
        print("RESULT_ERROR: cannot write result.json: %s" % e, file=sys.stderr, flush=True)


def _run(fn, bot_id, config):
    try:
        fn(bot_id, config)
        _outcome["status"] = "success"
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        _outcome["exit"] = code
    except BaseException as e:  # noqa: BLE001 - every failure of the bot is reported
        traceback.print_exc(file=sys.stderr)
        _outcome["status"] = "error"
        _outcome["message"] = "%s: %s" % (type(e).__name__, e)
    finally:
        _stop.set()


def main():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    logging.basicConfig(level=logging.INFO)
    code_dir = "/" + os.environ.get("CODE_MOUNT_DIR", "bot").lstrip("/")
    os.chdir(code_dir)
    for p in (os.path.join(code_dir, "vendor"), code_dir):
        if p not in sys.path:
            sys.path.append(p)
    bot_id = os.environ.get("BOT_ID", "")
    script = os.environ.get("SCRIPT_PATH") or os.environ.get("ENTRYPOINT", "main.py")
    try:
        config = json.loads(os.environ.get("BOT_CONFIG") or "{}")
    except ValueError as e:
        print("IMPORT_ERROR: BOT_CONFIG is not valid JSON: %s" % e, file=sys.stderr, flush=True)
        _write_result(code_dir, "error", "BOT_CONFIG is not valid JSON: %s" % e)
        return 1
    try:
        spec = importlib.util.spec_from_file_location("main", os.path.join(code_dir, script))
        if spec is None or spec.loader is None:
            raise ImportError("cannot load %s" % script)
        module = importlib.util.module_from_spec(spec)
        sys.modules["main"] = module
        spec.loader.exec_module(module)
        fn = getattr(module, "main", None)
        if not callable(fn):
            raise ImportError("%s does not define main(bot_id, config)" % script)
    except BaseException as e:  # noqa: BLE001 - syntax errors, missing files, anything
        traceback.print_exc(file=sys.stderr)
        print("IMPORT_ERROR: %s" % e, file=sys.stderr, flush=True)
        _write_result(code_dir, "error", "%s: %s" % (type(e).__name__, e))
        return 1
    worker = threading.Thread(target=_run, args=(fn, bot_id, config), daemon=True, name="bot-main")
    worker.start()
    while not _stop.wait(1.0):
        pass
    if "exit" in _outcome:
        return _outcome["exit"]
    if "status" not in _outcome:
        print("SIGNAL: terminated", file=sys.stderr, flush=True)
        _write_result(code_dir, "terminated", "bot terminated by signal")
        return 0
    if _outcome["status"] == "error":
        _write_result(code_dir, "error", _outcome.get("message", ""))
        return 1
    _write_result(code_dir, "success", "bot completed")
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
