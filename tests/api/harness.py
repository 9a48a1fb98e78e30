"""Black-box test harness: runs the real `finetuned serve` on 127.0.0.1, a
free port and a temp data dir, and talks HTTP to it with the standard library.

Each test module defines functions named test_*; run_tests() calls them in
order and prints "PASS name" / "FAIL name" lines and a closing
"N passed, N failed" line, the convention tests/run.sh counts.
"""
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FT_BUILD", "build")
BINARY = os.path.join(ROOT, BUILD, "finetuned")
FASHION = "/usr/share/datasets/fashion-mnist"


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

    def __init__(self, *flags, data_dir=None, env=None, workers=1):
        self.tmp = tempfile.mkdtemp(prefix="ft-api-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.flags = list(flags)
        self.env = dict(os.environ, **(env or {}))
        self.workers = workers
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")
        self.start()

    def start(self):
        port_file = os.path.join(self.tmp, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        args = [BINARY, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
                "--data-dir", self.data_dir, "--workers", str(self.workers),
                "--blas-threads", "1"] + self.flags
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


def run_tests(module_globals):
    tests = [(n, f) for n, f in module_globals.items() if n.startswith("test_") and callable(f)]
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
    sys.exit(1 if failed else 0)
