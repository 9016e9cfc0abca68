"""The bot's state, one JSON document per key under $STATE_DIR (the0's SDK convention:
$STATE_DIR/<key>.json). Shared by the bot and its query program, which only reads it."""
import json
import os

STATE_DIR = os.environ.get("STATE_DIR", "/state/.the0-state")


def path_of(key):
    if not key or "/" in key or "\\" in key or ".." in key:
        raise ValueError("bad state key %r" % key)
    return os.path.join(STATE_DIR, key + ".json")


def get(key, default=None):
    try:
        with open(path_of(key)) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def set(key, value):  # noqa: A001 - the SDK's name
    if os.environ.get("QUERY_PATH") is not None:
        raise PermissionError("state is read-only during a query")
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = path_of(key) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path_of(key))
