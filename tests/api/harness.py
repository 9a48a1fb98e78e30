"""Black-box test harness: runs the real `finetuned serve` on 127.0.0.1, a
free port and a temp data dir, and talks HTTP to it with the standard library.

Each test module defines functions named test_* (and, if it needs them,
setup() and teardown()) and ends with `main(globals())`, which runs them in
order and prints "PASS name" / "FAIL name" lines and a closing
"N passed, N failed" line, the convention tests/run.sh counts.
"""
import atexit
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FT_BUILD", "build")
BINARY = os.path.join(ROOT, BUILD, "finetuned")
FASHION = "/usr/share/datasets/fashion-mnist"
# The store every Server uses: "sqlite" (the data dir's finetuned.db) or
# "postgres" (a database per data dir on the test cluster). tests/run.sh
# runs each module once per store.
STORE = os.environ.get("FT_TEST_STORE", "sqlite")


class PgCluster:
    """A throwaway PostgreSQL 15 cluster (tests/pg_cluster.sh: initdb and
    pg_ctl under runuser -u postgres, on a Unix socket in a temp dir). The
    one that FT_TEST_PG names (a libpq keyword string, started by
    tests/run.sh for the whole run) is used if set; otherwise the first use
    starts one, stopped at exit, whether the tests passed or not."""

    _shared = None

    def __init__(self, durable=False):
        self.dir = tempfile.mkdtemp(prefix="ft-pg-")
        env = dict(os.environ, FT_PG_DURABLE="1" if durable else "0")
        r = subprocess.run([os.path.join(ROOT, "tests", "pg_cluster.sh"), "start", self.dir],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("cannot start PostgreSQL:\n" + r.stderr)
        self.conninfo = r.stdout.strip()
        atexit.register(self.stop)

    def stop(self):
        if self.dir:
            subprocess.run([os.path.join(ROOT, "tests", "pg_cluster.sh"), "stop", self.dir])
            self.dir = None

    @classmethod
    def conninfo_shared(cls):
        given = os.environ.get("FT_TEST_PG")
        if given:
            return given
        if cls._shared is None:
            cls._shared = PgCluster()
        return cls._shared.conninfo


def psql(conninfo, sql):
    """Run sql with psql; the rows as tuples of strings (ints where they are)."""
    r = subprocess.run(["psql", conninfo, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql: %s: %s" % (sql, r.stderr))
    rows = []
    for line in r.stdout.splitlines():
        rows.append(tuple(int(v) if v.lstrip("-").isdigit() else v for v in line.split("\t")))
    return rows


_databases = {}


def pg_database(data_dir):
    """The libpq string of the database of this data dir, created on first
    use: a data dir and its database go together, as with SQLite's file."""
    if data_dir not in _databases:
        cluster = PgCluster.conninfo_shared()
        name = "ft_%d_%d" % (os.getpid(), len(_databases) + 1)
        psql(cluster + " dbname=postgres", "CREATE DATABASE " + name)
        _databases[data_dir] = cluster + " dbname=" + name
    return _databases[data_dir]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


class Server:
    """One running service. Use as a context manager or call stop()."""

    def __init__(self, *flags, data_dir=None, env=None, workers=1, store=None, port_file=None):
        self.tmp = tempfile.mkdtemp(prefix="ft-api-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.store = store or STORE
        self.flags = list(flags)
        self.env = dict(os.environ, **(env or {}))
        self.workers = workers
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")
        self.port_file = port_file or os.path.join(self.tmp, "port")
        self.start()

    def start(self):
        port_file = self.port_file
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        args = [BINARY, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
                "--data-dir", self.data_dir, "--workers", str(self.workers),
                "--blas-threads", "1"] + self.store_flags() + self.flags
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=self.env,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    self.url = "http://127.0.0.1:%d" % self.port
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s" % (self.proc.returncode, self.log_text()))
            time.sleep(0.02)
        raise RuntimeError("server did not start:\n" + self.log_text())

    def store_flags(self):
        """--store for PostgreSQL (apart from self.flags, which tests replace
        between restarts), unless the test gives its own."""
        if self.store != "postgres" or any(str(f).startswith("--store") for f in self.flags):
            return []
        return ["--store", pg_database(self.data_dir)]

    def sql(self, query, params=()):
        """Rows of a read-only query on the server's store, whichever it is
        (? placeholders; for PostgreSQL, values come back as str or int,
        NULL as "")."""
        parts = query.split("?")
        text = parts[0]
        for value, rest in zip(params, parts[1:]):
            text += (str(value) if isinstance(value, int) else "'%s'" % str(value).replace("'", "''")) + rest
        return self.sql_snapshot(text if self.store == "postgres" else query, params=params)

    def sql_snapshot(self, *queries, params=()):
        """The rows of each query, all read in one transaction (one snapshot:
        workers may keep finishing jobs meanwhile); one list if one query."""
        if self.store != "postgres":
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.data_dir, "finetuned.db"), uri=True,
                                 timeout=30, isolation_level=None)
            try:
                db.execute("BEGIN")
                rows = [db.execute(q, params).fetchall() for q in queries]
                db.execute("COMMIT")
            finally:
                db.close()
        else:
            sep = "@@ft-next-query@@"
            script = "BEGIN ISOLATION LEVEL REPEATABLE READ; %s; COMMIT" % ("; SELECT '%s'; " % sep).join(queries)
            rows = [[]]
            for row in psql(pg_database(self.data_dir), script):
                if row == (sep,):
                    rows.append([])
                else:
                    rows[-1].append(row)
        return rows[0] if len(rows) == 1 else rows

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop the server; returns its exit code (None if it had to be killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop_clean(self, timeout=15):
        """SIGTERM, then check a clean exit: status 0 and no sanitizer report
        (ASan, UBSan, LeakSanitizer) in the server's log."""
        code = self.stop(timeout=timeout)
        log = self.log_text()
        reports = [line for line in log.split("\n")
                   if "Sanitizer" in line or "runtime error:" in line]
        check(not reports, "sanitizer report in the server log:\n" + log[-4000:])
        check(code == 0, "server exit status %r after SIGTERM:\n%s" % (code, log[-2000:]))

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, path, body=None, headers=None, content_type=None, timeout=60):
        data = body
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
        if content_type:
            hdrs["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def upload(self, path, files, fields=None, query="", headers=None):
        """multipart/form-data upload: files = {field: (filename, bytes)}."""
        boundary = "----ft" + uuid.uuid4().hex
        parts = []
        for name, value in (fields or {}).items():
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                          % (boundary, name, value)).encode())
        for name, (filename, data) in files.items():
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                          "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode()
                         + data + b"\r\n")
        body = b"".join(parts) + ("--%s--\r\n" % boundary).encode()
        return self.request("POST", path + query, body, headers=headers,
                            content_type="multipart/form-data; boundary=" + boundary)

    def wait_job(self, job_id, timeout=300, statuses=("succeeded", "failed", "cancelled")):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.get("/v1/jobs/" + job_id).json()
            if job["status"] in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError("job %s did not reach %s: %s" % (job_id, statuses, job))


def fashion_bytes(name):
    with open(os.path.join(FASHION, name), "rb") as f:
        return f.read()


def idx_subset(images_gz, labels_gz, count, classes=None):
    """The first `count` Fashion-MNIST rows (of `classes`), as IDX bytes."""
    images = gzip.decompress(fashion_bytes(images_gz))
    labels = gzip.decompress(fashion_bytes(labels_gz))
    n = int.from_bytes(labels[4:8], "big")
    keep = [i for i in range(n) if classes is None or labels[8 + i] in classes][:count]
    img = bytearray(images[:4]) + len(keep).to_bytes(4, "big") + images[8:16]
    lab = bytearray(labels[:4]) + len(keep).to_bytes(4, "big")
    for i in keep:
        img += images[16 + 784 * i:16 + 784 * (i + 1)]
        lab.append(labels[8 + i])
    return bytes(img), bytes(lab)


def fashion_rows(images_gz, labels_gz, count, classes=None):
    """The first `count` Fashion-MNIST rows (of `classes`) as [(784 pixel bytes, label)]."""
    img, lab = idx_subset(images_gz, labels_gz, count, classes)
    return [(img[16 + 784 * i:16 + 784 * (i + 1)], lab[8 + i]) for i in range(len(lab) - 8)]


def png_gray(width, height, pixels):
    """An 8-bit grayscale PNG of width x height pixel bytes (row-major)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    raw = b"".join(b"\x00" + bytes(pixels[y * width:(y + 1) * width]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_size(data):
    """(width, height) of a PNG, after checking its signature and IHDR chunk."""
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % data[:16])
    check(data[12:16] == b"IHDR", "PNG without IHDR first")
    return struct.unpack(">II", data[16:24])


def safetensors_parse(data):
    """(metadata, {name: (dtype, shape, bytes)}) of a .safetensors file, with
    the format's rules checked (header length, offsets tiling the buffer)."""
    check(len(data) >= 8, "safetensors file shorter than 8 bytes")
    n = struct.unpack("<Q", data[:8])[0]
    check(8 + n <= len(data), "safetensors header length %d beyond the file" % n)
    header = json.loads(data[8:8 + n])
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors, spans = {}, []
    for name, t in header.items():
        a, b = t["data_offsets"]
        check(0 <= a <= b <= len(buf), "tensor %s offsets out of range" % name)
        tensors[name] = (t["dtype"], t["shape"], buf[a:b])
        spans.append((a, b))
    spans.sort()
    pos = 0
    for a, b in spans:
        check(a == pos, "tensors do not tile the buffer (gap or overlap at %d)" % a)
        pos = b
    check(pos == len(buf), "bytes after the last tensor")
    return meta, tensors


def wait_for(predicate, timeout=60, interval=0.05, what="a condition"):
    """Poll predicate() until it returns something true; return that value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(interval)


def restart_and_sweep(server, *paths):
    """Start the server again so that its sweep judges paths (files or
    directories' files). In a data dir shared through PostgreSQL the sweep
    spares young files, which may be another live process's: check that,
    then age them past the bound and start once more."""
    if STORE != "sqlite":
        files = [os.path.join(p, f) for p in paths if os.path.isdir(p) for f in os.listdir(p)]
        files += [p for p in paths if os.path.isfile(p)]
        server.start()
        check(all(os.path.exists(f) for f in files), "a young file was swept from a shared data dir")
        server.stop()
        old = time.time() - 2 * 3600
        for f in files:
            os.utime(f, (old, old))
    server.start()


def sse_events(server, path, headers=None, timeout=120, on_event=None):
    """Read a Server-Sent Events stream until `event: end` (or the server
    closes it). Returns (status, headers, events); each event is a dict with
    id, event ("message" by default), data and, if data is JSON, json.
    on_event(event) is called as each event arrives (e.g. to cancel a job)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    hdrs = {"Accept": "text/event-stream"}
    hdrs.update(headers or {})
    try:
        conn.request("GET", path, headers=hdrs)
        resp = conn.getresponse()
        if resp.status != 200:
            return resp.status, resp.headers, [json.loads(resp.read())]
        events, cur = [], {}
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line == "":
                if cur:
                    ev = {"id": cur.get("id"), "event": cur.get("event", "message"),
                          "data": "\n".join(cur.get("data", []))}
                    try:
                        ev["json"] = json.loads(ev["data"])
                    except ValueError:
                        ev["json"] = None
                    events.append(ev)
                    if on_event:
                        on_event(ev)
                    if ev["event"] == "end":
                        break
                cur = {}
                continue
            if line.startswith(":"):
                continue  # comment (keepalive)
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                cur.setdefault("data", []).append(value)
            else:
                cur[field] = value
        return resp.status, resp.headers, events
    finally:
        conn.close()


def raw_http(server, data, timeout=15, shut_write=False):
    """Send raw bytes on a new connection and read one response (status line,
    headers, Content-Length body). Lets a test send a request whose headers
    promise more body than it sends."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        buf = b""
        while b"\r\n\r\n" not in buf:
            got = sock.recv(65536)
            if not got:
                break
            buf += got
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        check(lines and lines[0].startswith("HTTP/1."), "no HTTP response: %r" % buf[:200])
        status = int(lines[0].split()[1])
        headers = http.client.HTTPMessage()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        length = int(headers.get("Content-Length", "0"))
        while len(body) < length:
            got = sock.recv(65536)
            if not got:
                break
            body += got
        return Response(status, headers, body[:length])
    finally:
        sock.close()


def csv_text(header, rows):
    """CSV text from a header list and rows of values."""
    return "\n".join([",".join(header)] + [",".join(str(v) for v in row) for row in rows]) + "\n"


def upload_fashion(server, count, classes=None, split="train", name=None, gz=False):
    """Upload the first `count` Fashion-MNIST rows (of `classes`) of the train
    or t10k split as an IDX pair; returns the dataset object."""
    prefix = "train" if split == "train" else "t10k"
    img, lab = idx_subset(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", count, classes)
    if gz:
        img, lab = gzip.compress(img), gzip.compress(lab)
    query = "?name=" + name if name else ""
    resp = server.upload("/v1/datasets", {"images": ("images.idx", img), "labels": ("labels.idx", lab)}, query=query)
    check(resp.status == 201, "dataset upload: %r" % resp)
    return resp.json()


def mlp_architecture(inputs, outputs, hidden=(32,), output="softmax"):
    """A small MLP for `inputs` ([1, 28, 28] or [n]) -> outputs units."""
    layers = [{"type": "flatten"}] if len(inputs) > 1 else []
    layers += [{"type": "dense", "units": h, "activation": "relu"} for h in hidden]
    layers.append({"type": "dense", "units": outputs, "activation": output})
    return {"input": list(inputs), "layers": layers}


def cnn_architecture(outputs):
    """A small CNN for 28x28 grayscale images: slow enough per epoch that a
    job with many epochs stays running while a test looks at it."""
    return {"input": [1, 28, 28], "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": outputs, "activation": "softmax"}]}


def submit(server, spec, headers=None):
    """POST /v1/jobs expecting 201; returns the job object."""
    resp = server.post("/v1/jobs", spec, headers=headers)
    check(resp.status == 201, "job submit: %r" % resp)
    return resp.json()


def start_long_job(server, dataset_id, classes=10, **extra):
    """Submit a job that trains for a very long time (cancel it when done)
    and wait until it runs with progress reported; returns the job object."""
    spec = {"dataset": dataset_id, "architecture": cnn_architecture(classes), "epochs": 100000}
    spec.update(extra)
    job = submit(server, spec)
    return wait_for(lambda: (lambda j: j if j["status"] == "running" and j["progress"] else None)(
        server.get("/v1/jobs/" + job["id"]).json()), timeout=120, what="job %s running" % job["id"])


def cancel_and_wait(server, job_id, timeout=60):
    """Cancel a job (if it is still active) and wait for its terminal status."""
    server.post("/v1/jobs/%s/cancel" % job_id)
    return server.wait_job(job_id, timeout=timeout)


def parse_metrics(text):
    """{family: {"type": t, "samples": [(name, {labels}, value)]}} of an exposition."""
    families, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            families.setdefault(name, {"type": kind, "samples": []})
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        check(m, "unparsable sample line: %r" % line)
        name, labels = m.group(1), dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
                family = name[:-len(suffix)]
        families.setdefault(family, {"type": types.get(family), "samples": []})
        families[family]["samples"].append((name, labels, float(m.group(4))))
    return families


def value(families, name, **labels):
    """The sample name{labels} of parse_metrics's families."""
    family = families.get(name)
    for suffix in ("_bucket", "_sum", "_count"):
        if family is None and name.endswith(suffix):
            family = families.get(name[:-len(suffix)])
    check(family is not None, "metric family %s missing" % name)
    for sample, lab, v in family["samples"]:
        if sample == name and all(lab.get(k) == w for k, w in labels.items()):
            return v
    raise AssertionError("no sample %s%r in %r" % (name, labels, family["samples"][:10]))


def check(cond, message="check failed"):
    if not cond:
        raise AssertionError(message)


def expect_error(resp, status, code=None, param=None):
    check(resp.status == status, "expected %d, got %r" % (status, resp))
    err = resp.json()["error"]
    check(set(err) == {"message", "type", "param", "code"}, "error envelope keys: %r" % err)
    check(err["message"], "empty error message")
    if code:
        check(err["code"] == code, "code %r != %r" % (err["code"], code))
    if param is not None:
        check(err["param"] == param, "param %r != %r" % (err["param"], param))
    return err


def sqlite_only(fn):
    """A test of SQLite's own file (its disk-full behaviour, its integrity
    check): with another store it is not run, and not counted."""
    fn.sqlite_only = True
    return fn


def postgres_only(fn):
    """A test of several processes on one data dir, which only the shared
    store allows: it runs in the PostgreSQL pass only (with its own
    database whatever the pass)."""
    fn.postgres_only = True
    return fn


def run_tests(module_globals):
    """Call every test_* function; print PASS/FAIL lines and the summary.
    Returns the number of failed tests."""
    tests = [(n, f) for n, f in module_globals.items() if n.startswith("test_") and callable(f)
             and not (STORE != "sqlite" and getattr(f, "sqlite_only", False))
             and not (STORE != "postgres" and getattr(f, "postgres_only", False))]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            print("PASS " + name, flush=True)
            passed += 1
        except Exception:
            print("FAIL " + name, flush=True)
            traceback.print_exc()
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return failed


def main(module_globals):
    """The ending of every test file: its setup() if it has one, its tests,
    then its teardown() (even when setup or a test failed), which by default
    closes the Server in its `server` global; exits non-zero if any test
    failed."""
    setup, teardown = module_globals.get("setup"), module_globals.get("teardown")
    try:
        if setup:
            setup()
        failed = run_tests(module_globals)
    finally:
        if teardown:
            teardown()
        elif module_globals.get("server"):
            module_globals["server"].close()
    sys.exit(1 if failed else 0)
