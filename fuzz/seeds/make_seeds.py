#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/ (named
seed-*, so they are told apart from what the fuzzer added). Run from anywhere; standard
library only. Deterministic: the same bytes each time (fixed zip/tar/gzip dates)."""

import gzip
import warnings
import io
import json
import os
import stat
import tarfile
import zipfile

warnings.simplefilter("ignore")  # the duplicate-name zip is on purpose
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def zip_of(entries):
    """entries: (name, data, unix mode) ; a mode with S_IFLNK makes a symlink whose data is the target."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 31, 12, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_STORED if stat.S_ISLNK(mode) else zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


F, D, L = stat.S_IFREG | 0o644, stat.S_IFDIR | 0o755, stat.S_IFLNK | 0o777
put("code_zip", "python-bot", zip_of([
    ("bot.yaml", "name: sma\nruntime: python3.11\nentrypoints:\n  bot: main.py\n", F),
    ("src/", b"", D),
    ("main.py", "import os\nprint('hello')\n", F | 0o755),
    ("src/strategy.py", "def sma(xs, n):\n    return sum(xs[-n:]) / n\n", F),
]))
put("code_zip", "traversal", zip_of([("../evil.sh", "#!/bin/sh\n", F), ("/etc/x", "x", F), ("ok/../../y", "y", F), ("a.txt", "a", F)]))
put("code_zip", "links", zip_of([
    ("lib/real.js", "module.exports = 1\n", F),
    ("node_modules/.bin/", b"", D),
    ("node_modules/.bin/tool", "../../lib/real.js", L),
    ("up", "../..", L),
    ("abs", "/etc/passwd", L),
    ("up/x", "through a link", F),
]))
put("code_zip", "link-chain", zip_of([("q", ".", L), ("p", "q/..", L), ("r", "q/../gone", L)]))
put("code_zip", "dup-and-dir-over-file", zip_of([("a", "1", F), ("a/", b"", D), ("a", "2", F), ("b/", b"", D), ("b", "x", L)]))


def tar_gz(entries, members=1):
    """entries: (name, data or link target, kind). members>1 splits into concatenated gzip members."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, kind in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1738324800
            ti.type = kind
            if kind == tarfile.SYMTYPE or kind == tarfile.LNKTYPE:
                ti.linkname = data
                t.addfile(ti)
            elif kind == tarfile.DIRTYPE:
                ti.mode = 0o755
                t.addfile(ti)
            else:
                data = data.encode() if isinstance(data, str) else data
                ti.size = len(data)
                ti.mode = 0o644
                t.addfile(ti, io.BytesIO(data))
    raw = raw.getvalue()
    cut = [len(raw) * i // members for i in range(members + 1)]
    return b"".join(gzip.compress(raw[a:b], mtime=0) for a, b in zip(cut, cut[1:]))


R, DIR, SYM, LNK, FIFO = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE
put("state_targz", "state", tar_gz([
    ("./", "", DIR),
    ("./positions.json", json.dumps({"BTC": 0.5, "ETH": 2}), R),
    ("./db/", "", DIR),
    ("./db/trades.csv", "ts,px\n1,101.5\n2,102\n", R),
], members=2))
put("state_targz", "hostile", tar_gz([
    ("../escape", "x", R),
    ("/abs", "x", R),
    ("link", "/etc", SYM),
    ("link/passwd", "x", R),
    ("hard", "/etc/passwd", LNK),
    ("fifo", "", FIFO),
    ("ok.txt", "ok", R),
]))
put("state_targz", "many-members", tar_gz([("f%d" % i, "v%d\n" % i, R) for i in range(6)], members=4))
put("gzip_members", "two-members", gzip.compress(b"hello ", mtime=0) + gzip.compress(b"world\n", mtime=0))
put("gzip_members", "one-member", gzip.compress(b"state\n" * 20, mtime=0))
put("gzip_members", "trailing-garbage", gzip.compress(b"x", mtime=0) + b"garbage")

LOG = (b'starting\n{"level":"info","message":"tick","n":1}\n'
       b'{"_metric":"trade","px":1,"timestamp":"2025-01-31T11:00:00Z"}\n'
       b'{"_metric":"pnl","v":-3,"timestamp":1738324800000}\nIMPORT_ERROR: no module\n[1,2]\n{ }\n\xff\xfe bad utf8\n'
       b'{"d":[[[[1]]]]}\nsay "hi"\t\\ <&>\n{"unclosed":')
put("log_ndjson", "sdk-mixed", LOG)
put("log_ndjson", "crlf", b"line one\r\n{\"a\":1}\r\n  padded  \r\n")
put("log_chunk", "eof-final", b"\x03" + LOG)
put("log_chunk", "capped-with-tail", b"\x04" + LOG)
put("log_chunk", "big-window", b"\x85" + b"x" * 200 + b"\n" + b"y" * 50)

put("query_http_9476", "get", b"GET /positions?symbol=BTC HTTP/1.1\r\nHost: localhost:9476\r\nAccept: */*\r\n\r\n")
put("query_http_9476", "post-length", b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"limit\": 10}")
put("query_http_9476", "post-chunked", b"POST /q HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: v\r\n\r\n")
put("query_http_9476", "http10-bare-lf", b"GET / HTTP/1.0\nConnection: keep-alive\n\n")
put("query_http_9476", "smuggle", b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n")

put("query_request_9477", "full", json.dumps({"bot_id": "bot-1", "query_path": "/positions", "params": {"symbol": "BTC", "n": 3}, "timeout_sec": 30}))
put("query_request_9477", "minimal", json.dumps({"bot_id": "b", "query_path": "status"}))
put("query_request_9477", "hostile-path", json.dumps({"bot_id": "b", "query_path": "/a/%2e%2e/%2E./x?y=..", "timeout_sec": 30.0}))
put("query_request_9477", "bad-types", json.dumps({"bot_id": 3, "query_path": None, "params": [1], "timeout_sec": -1.5}))

put("query_target", "path-and-body", b'/positions?symbol=BTC\x00{"limit":10,"symbol":"BTC","deep":{"a":[1,2]},"big":123456789012345678901234567890}')
put("query_target", "absolute-form", b"http://host:9476/a/b?x=1&\x00{}")
put("query_target", "escapes", b"/a%20b/%2e%2E/%zz\\..\x00[1]")

direct = {"id": "bot-1", "config": {"name": "sma", "type": "trading/sma", "version": "1.0.0", "customBotId": "c1", "symbol": "BTC", "enabled": True},
          "custom": {"config": {"name": "sma", "runtime": "python3.11", "entrypoints": {"bot": "main.py", "query": "query.py"}},
                     "createdAt": "2025-01-31T12:00:00Z", "updatedAt": "2025-01-31T12:00:00Z", "filePath": "user/sma/1.0.0", "version": "1.0.0"}}
put("event_payload", "direct", b"\x00" + json.dumps(direct).encode())
put("event_payload", "deleted", b"\x01" + json.dumps({"id": "bot-1", "config": {}}).encode())
put("event_payload", "wrapped", b"\x00" + json.dumps({"type": "bot.updated", "entity_id": "bot-2", "data": {"id": "bot-2", "config": {"schedule": "0 * * * *"}, "custom": direct["custom"], "topicName": "t"}, "timestamp": "2025-01-31T12:00:00Z"}).encode())
put("event_payload", "hostile", b"\x00" + json.dumps({"id": "../../etc", "config": [1], "custom": {"filePath": "../x", "config": {"runtime": "rust", "entrypoints": {"bot": "/bin/sh"}}}, "enabled": "yes"}).encode())

for i, e in enumerate(["*/2 * * * * *", "TZ=UTC 30 */15 * * * *", "CRON_TZ=Europe/Paris 0 9 * * mon-fri", "0 0 1 jan,JUL ?",
                       "50/5 * * * *", "0 1-10/4,23 * * *", "@hourly", "@every 1h30m", "@every 0s", "TZ=Nowhere/City @daily",
                       "0 0 31 2 *", "59 23 * * SAT", "0 */0 * * *"]):
    put("cron", "%02d" % i, e)

put("s3_xml", "error", '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key><RequestId>1</RequestId></Error>')
put("s3_xml", "error-no-message", '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><RequestId>tx0</RequestId><HostId>x</HostId></Error>')
put("s3_xml", "list", '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bots</Name><Prefix>b/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>tok&#x2F;1</NextContinuationToken>'
    '<Contents><Key>b/state.tar.gz</Key><LastModified>2025-01-31T12:00:00.123Z</LastModified><ETag>&quot;abc-2&quot;</ETag><Size>1024</Size><StorageClass>STANDARD</StorageClass></Contents>'
    '<Contents><Key>b/&lt;odd&gt; &#233;</Key><LastModified>2025-01-31T12:00:00+02:00</LastModified><Size>0</Size></Contents></ListBucketResult>')
put("s3_xml", "multipart", '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc</UploadId></InitiateMultipartUploadResult>'
    '<CompleteMultipartUploadResult><Location>http://x/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag></ETag></CompleteMultipartUploadResult>'
    '<CopyPartResult><LastModified>2025-01-31T12:00:00Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag></CopyPartResult>')

for i, t in enumerate(["1h30m", "250ms", "-1.5h", "1us", "1µs", "0", "300", "9223372036s", "2013-09-17T18:07:53.123Z",
                       "2013-09-17T18:07:53+02:00", "2026-01-02T03:04:05.123456789Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]):
    put("time_formats", "%02d" % i, t)
