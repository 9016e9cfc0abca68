#!/usr/bin/env python3
"""Generates the benchmark's state directory: FILES files totalling exactly BYTES bytes in nested
directories (d00/e0/..), deterministic from --seed, so the executor and its peer see the same tree.

Content is realistic but mostly incompressible: about 60 % of the bytes are random (binary blobs,
as pickled models or order books would be), the rest JSON lines of trade records with random ids
and prices (compresses ~3x under gzip -6). JSON files are slices of one generated pool at random
offsets; gzip's 32 KiB window cannot see the repetition across files, so each compresses like
fresh JSON. File sizes are log-normal (many small, a few MiB-sized), every one under 8 MiB so the
default per-file cap (10 MiB) never refuses the upload.
"""
import argparse
import json
import math
import os
import random

MAX_FILE = 8 * 1024 * 1024
BINARY_SHARE = 0.6


def json_pool(rng, size):
    out, n = [], 0
    syms = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "AAPL", "MSFT", "EURUSD", "XAUUSD", "TSLA"]
    while n < size:
        rec = {
            "id": "%016x" % rng.getrandbits(64),
            "ts": 1_700_000_000_000 + rng.randrange(10**10),
            "symbol": rng.choice(syms),
            "side": rng.choice(["buy", "sell"]),
            "price": round(rng.uniform(0.5, 70000), rng.choice([2, 4, 8])),
            "qty": round(rng.expovariate(1 / 3), 6),
            "fee": round(rng.uniform(0, 5), 6),
            "tags": rng.sample(["maker", "taker", "twap", "grid", "dca", "hedge"], k=rng.randrange(0, 3)),
        }
        line = json.dumps(rec, separators=(",", ":")).encode() + b"\n"
        out.append(line)
        n += len(line)
    return b"".join(out)


def sizes(rng, files, total):
    raw = [min(rng.lognormvariate(0, 1.3), 60.0) for _ in range(files)]
    scale = total / sum(raw)
    out = [max(16, min(MAX_FILE, int(r * scale))) for r in raw]
    # Spread the rounding remainder so the sum is exact.
    diff, i = total - sum(out), 0
    while diff != 0:
        j = i % files
        step = max(-out[j] + 16, min(MAX_FILE - out[j], diff))
        out[j] += step
        diff -= step
        i += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--bytes", type=int, default=1 << 30)
    ap.add_argument("--seed", type=int, default=20250601)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    pool = json_pool(rng, 8 * 1024 * 1024)
    fanout = max(1, int(math.sqrt(a.files / 10)))  # d<i>/e<j>/ with ~10 files per leaf dir
    written = 0
    for n, size in enumerate(sizes(rng, a.files, a.bytes)):
        d = os.path.join(a.dest, "d%02d" % (n % fanout), "e%d" % (n // fanout % 10))
        os.makedirs(d, exist_ok=True)
        binary = rng.random() < BINARY_SHARE
        name = os.path.join(d, "f%05d.%s" % (n, "bin" if binary else "json"))
        with open(name, "wb") as f:
            if binary:
                left = size
                while left:
                    k = min(left, 1 << 20)
                    f.write(rng.randbytes(k))
                    left -= k
            else:
                off, left = rng.randrange(len(pool)), size
                while left:
                    chunk = pool[off:off + left]
                    f.write(chunk)
                    left -= len(chunk)
                    off = 0
        written += size
    meta = os.path.join(a.dest, ".the0-state")
    os.makedirs(meta, exist_ok=True)
    print("generated %d files, %d bytes in %s" % (a.files, written, a.dest))


if __name__ == "__main__":
    main()
