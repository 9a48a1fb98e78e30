#!/usr/bin/python3
"""Security review, one test per point:
(a) with --api-key, every /v1 operation of docs/openapi.yaml refuses a
    missing or wrong key and a wrong scheme (401, WWW-Authenticate: Bearer,
    the envelope), the scheme name matches case-insensitively (RFC 7235), and
    /healthz, /readyz and /metrics stay open as documented;
(b) no file path comes from client input: hostile upload file names, names,
    tar entries and spec fields create nothing outside the data dir, and the
    stored files are named by server-generated ids only;
(c) limits hold: JSON body size and depth, upload size, connections per IP,
    and the time a request head may take;
(d) the API key never reaches the log (--api-key and --api-key-file, text and
    JSON logs), the replies or /metrics;
(e) error messages name no internal path (data dir, /tmp, source files),
    even when stored files are damaged;
(f) a request path with CR / LF / ANSI escapes / quotes cannot forge a log
    line or a field, in text and JSON logs."""
import base64
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid

from harness import ROOT, Server, check, csv_text, expect_error, mlp_architecture, png_gray, main
import bad_requests_corpus as corpus_mod
from bad_requests_corpus import make_model
from bad_requests_http import build, exchange
from security_helpers import marker_hits, spec_operations, tar_bytes, tree

KEY = "sk-sec-" + uuid.uuid4().hex  # distinctive, so a leak is unmistakable
FAKE = {"datasets": "ds_" + "0" * 24, "models": "mdl_" + "0" * 24, "jobs": "job_" + "0" * 24}


# ---- helpers ----

def concrete(path):
    kind = path.split("/")[2] if path.startswith("/v1/") and path.count("/") >= 3 else None
    # {file}: a dashboard file that exists, so the open route's 200 is tested.
    return path.replace("{id}", FAKE.get(kind, "x")).replace("/ui/{file}", "/ui/index.html")


def request(srv, method, path, headers=None, body=None, ctype=None):
    hdrs = dict(headers or {})
    if body is not None and ctype:
        hdrs["Content-Type"] = ctype
    return srv.request(method, path, body, headers=hdrs)


def expect_401(r, what):
    try:
        err = expect_error(r, 401, code="invalid_api_key")
        check(err["type"] == "authentication_error", "%r" % err)
        check(r.headers["WWW-Authenticate"] == "Bearer", "WWW-Authenticate %r" % r.headers["WWW-Authenticate"])
        check(KEY not in r.body.decode("utf-8", "replace"), "the key is in the reply")
    except AssertionError as e:
        raise AssertionError("%s: %s" % (what, e))


# ---- (a) authentication ----

WRONG_AUTH = [None, "Bearer wrong", "Bearer " + KEY[:-1], "Bearer " + KEY + "x", "Bearer " + KEY.upper(),
              "Bearer", "Bearer ", "Bearer  " + KEY, "Bearer\t" + KEY, "Bearer" + KEY,
              "Basic " + base64.b64encode(("user:" + KEY).encode()).decode(), "Basic " + KEY, "Token " + KEY,
              "Digest " + KEY, KEY, "Bearer " + KEY + " " + KEY, "Bearer " + base64.b64encode(KEY.encode()).decode()]
RIGHT_AUTH = ["Bearer " + KEY, "bearer " + KEY, "BEARER " + KEY, "BeArEr " + KEY]


def body_for(method, path):
    if method != "POST":
        return None, None
    if path.endswith("/predict"):
        return '{"inputs": [[1, 2]]}', "application/json"
    if path in ("/v1/datasets", "/v1/models"):
        return "", "text/csv" if path == "/v1/datasets" else "application/octet-stream"
    return "{}", "application/json"


def test_auth_on_every_v1_route():
    ops = spec_operations()
    check(len(ops) >= 20, "could not read the spec's operations: %r" % ops)
    with Server("--api-key", KEY) as s:
        for method, template, is_open in ops:
            path = concrete(template)
            body, ctype = body_for(method, path)
            name = "%s %s" % (method, template)
            if not template.startswith("/v1/"):
                check(is_open, name + ": documented as needing the key, but health routes are open")
                for auth in (None, "Bearer wrong", "Basic x"):
                    r = request(s, method, path, {"Authorization": auth} if auth else None)
                    check(r.status == 200, "%s is documented open; with %r: %r" % (name, auth, r))
                continue
            check(not is_open, name + ": a /v1 operation documented as open (security: [])")
            for auth in WRONG_AUTH:
                r = request(s, method, path, {"Authorization": auth} if auth is not None else None, body, ctype)
                expect_401(r, "%s with Authorization %r" % (name, auth))
            # The key anywhere but the Authorization header does not count.
            for headers, query in (({"X-Api-Key": KEY}, ""), ({"Api-Key": KEY}, ""), ({}, "?api_key=" + KEY),
                                   ({}, "?access_token=" + KEY), ({"Cookie": "api_key=" + KEY}, "")):
                r = request(s, method, path + query, headers, body, ctype)
                expect_401(r, "%s with the key in %r%s" % (name, headers, query))
            if method == "GET":
                r = request(s, "HEAD", path)
                check(r.status == 401 and r.body == b"", "HEAD %s without a key: %r" % (template, r))
            for auth in RIGHT_AUTH:
                r = request(s, method, path, {"Authorization": auth}, body, ctype)
                check(r.status != 401, "%s with Authorization %r: %r" % (name, auth.replace(KEY, "KEY"), r))
        # Raw bytes no client library sends: not UTF-8, very long, repeated.
        for value in (b"Bearer \xff\xfe", b"\xff" * 100, b"Bearer " + b"k" * 20000):
            rs = exchange(build("GET", "/v1/jobs", [("Authorization", value)]), port=s.port)
            check(rs and rs[0].status in (401, 431), "Authorization %r: %r" % (value[:20], rs))
        rs = exchange(build("GET", "/v1/jobs", [("Authorization", "Bearer wrong"), ("Authorization", "Bearer " + KEY)]),
                      port=s.port)
        check(rs and rs[0].status in (200, 401), "two Authorization headers: %r" % rs)
        s.stop_clean()



# ---- (b) no file path from client input ----

ALLOWED_DATA_FILES = [r"finetuned\.db(-wal|-shm|-journal)?", r"finetuned\.lock", r"datasets", r"models", r"checkpoints", r"tmp",
                      r"datasets/ds_[0-9a-f]{24}\.safetensors", r"models/mdl_[0-9a-f]{24}\.safetensors",
                      r"checkpoints/job_[0-9a-f]{24}\.ckpt", r"features",
                      r"features/[0-9a-f]{64}\.feat"]  # the feature store: sha256 of the job's key


def test_no_file_path_from_client_input():
    marker = "ftsec" + uuid.uuid4().hex[:12]
    base = tempfile.mkdtemp(prefix="ft-sec-")
    sibling = os.path.join(base, "sibling")
    os.makedirs(os.path.join(sibling, "inner"))
    with open(os.path.join(sibling, "inner", "keep.txt"), "w") as f:
        f.write("untouched\n")
    data_dir = os.path.join(base, "data")
    try:
        with Server(data_dir=data_dir) as s:
            before_base = tree(base)
            before_sibling = tree(sibling)
            ds, mdl = make_model(s)
            model_bytes = s.get("/v1/models/%s/content" % mdl).body
            csv = csv_text(["x1", "x2", "label"], [[i, i % 3, "a" if i % 2 else "b"] for i in range(20)])
            hostile = ["../../%s.csv" % marker, "../../../../../../tmp/%s.csv" % marker, "/tmp/%s.csv" % marker,
                       "a/b/../../../%s.csv" % marker, "..\\..\\%s.csv" % marker, "..%%2F..%%2F%s.csv" % marker,
                       "~/%s.csv" % marker, "$HOME/%s.csv" % marker, "$(touch /tmp/%s)" % marker,
                       "`touch /tmp/%s`" % marker, "|touch /tmp/%s" % marker, "%s/" % marker,
                       "../" * 40 + marker, "./%s" % marker, ".", "..", "/", "//", marker + "\t.csv"]
            stored = []
            for name in hostile:
                r = s.upload("/v1/datasets", {"file": (name, csv.encode())})
                check(r.status == 201, "dataset named %r: %r" % (name, r))
                stored.append(r.json())
                r = s.upload("/v1/models", {"file": (name, model_bytes)})
                check(r.status == 201, "model named %r: %r" % (name, r))
                stored.append(r.json())
                for q in ("?name=" + urllib.parse.quote(name, safe=""),):
                    r = s.post("/v1/datasets" + q, csv, content_type="text/csv")
                    check(r.status == 201, "?name=%r: %r" % (name, r))
                    stored.append(r.json())
                r = s.upload("/v1/datasets", {"file": ("x.csv", csv.encode())}, fields={"name": name})
                check(r.status == 201, "name field %r: %r" % (name, r))
                stored.append(r.json())
            # Tar members that climb out, are absolute, or are links.
            png = png_gray(2, 2, [0, 255, 128, 64])
            tar = tar_bytes([("cls/../../../%s/a.png" % marker, png), ("/tmp/%s/b.png" % marker, png),
                             ("../%s/c.png" % marker, png), ("ok/d.png", png), ("ok2/e.png", png),
                             ("ok/link.png", (tarfile.SYMTYPE, "/etc/passwd")),
                             ("ok/hard.png", (tarfile.LNKTYPE, "/etc/passwd")),
                             ("ok/%s.png" % marker, (tarfile.SYMTYPE, "../../../../tmp/%s" % marker))])
            r = s.upload("/v1/datasets", {"file": ("../../%s.tar" % marker, tar)})
            check(r.status in (201, 422), "hostile tar: %r" % r)
            # Spec fields naming paths are refused, names are labels only.
            for spec in ({"dataset": "/tmp/%s.csv" % marker}, {"dataset": "../../%s" % marker},
                         {"dataset": {"path": "/tmp/%s" % marker}},
                         {"dataset": {"images": "/tmp/%s.i" % marker, "labels": "/tmp/%s.l" % marker}},
                         {"dataset": {"id": "ds_../../%s" % marker}}, {"dataset": ds, "validation": "/tmp/" + marker},
                         {"dataset": ds, "test": {"path": "../" + marker}}, {"dataset": ds, "base_model": "../" + marker},
                         {"dataset": ds, "base_model": "mdl_../../" + marker}):
                if "base_model" not in spec:
                    spec["architecture"] = mlp_architecture([2], 2)
                r = s.post("/v1/jobs", spec)
                expect_error(r, 422)
            for body in ({"dataset": "/tmp/" + marker}, {"dataset": {"path": "../../" + marker}}):
                expect_error(s.post("/v1/models/%s/evaluate" % mdl, body), 422)
            job = s.post("/v1/jobs", {"dataset": ds, "architecture": mlp_architecture([2], 2), "epochs": 1,
                                      "name": "../../%s" % marker, "metadata": {"path": "/tmp/" + marker}},
                         headers={"Idempotency-Key": "../../" + marker, "X-Request-Id": ".."})
            check(job.status == 201, "%r" % job)
            job = s.wait_job(job.json()["id"], timeout=60)
            check(job["status"] == "succeeded", "%r" % job)
            for path in ("/v1/models/..%%2F..%%2F%s/content" % marker, "/v1/datasets/..%%2F%s" % marker):
                expect_error(s.get(path), 404)
            # What the server stored: ids it made up, in its own directories.
            for obj in stored:
                check(re.fullmatch(r"(ds|mdl)_[0-9a-f]{24}", obj["id"]), "id %r" % obj["id"])
                text = json.dumps(obj)
                check(data_dir not in text and base not in text, "a server path in a reply: %s" % text[:300])
            files = sorted(tree(data_dir))
            bad = [p for p in files if not any(re.fullmatch(a, p) for a in ALLOWED_DATA_FILES)]
            check(not bad, "files in the data dir not named by an id: %r" % bad)
            ids = {o["id"] for o in stored}
            on_disk = {os.path.basename(p).split(".")[0] for p in files if p.startswith(("datasets/", "models/"))}
            check(ids <= on_disk, "stored objects without their id-named file: %r" % (ids - on_disk))
            check(os.listdir(os.path.join(data_dir, "tmp")) == [], "temp files left")
            s.stop_clean()
        after_base = tree(base)
        new = sorted(p for p in set(after_base) - set(before_base)
                     if not p.startswith("data" + os.sep) and p != "data")
        check(not new, "created outside the data dir: %r" % new)
        check(tree(sibling) == before_sibling, "the sibling directory changed")
        hits = marker_hits(marker, [base, "/tmp", ROOT, os.path.dirname(ROOT), os.getcwd()])
        check(not hits, "files named after client input: %r" % hits)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- (c) limits ----

def test_limits_json_size_and_depth_and_upload_size():
    with Server("--max-json-bytes", "65536", "--max-upload-bytes", "16384") as s:
        for path in ("/v1/jobs", "/v1/models/%s/evaluate" % FAKE["models"], "/v1/models/%s/predict" % FAKE["models"]):
            big = '{"metadata": {"pad": "%s"}}' % ("x" * 65536)
            expect_error(s.post(path, big, content_type="application/json"), 413, code="request_too_large")
            exact = '{"dataset": "x", "pad": "%s"}' % ("y" * (65536 - len('{"dataset": "x", "pad": ""}')))
            check(len(exact) == 65536, "fixture")
            r = s.post(path, exact, content_type="application/json")
            check(r.status in (404, 422), "a body of exactly the limit is read: %r" % r)
        for deep in ("[" * 10000 + "]" * 10000, '{"a":' * 10000 + "1" + "}" * 10000):
            expect_error(s.post("/v1/jobs", deep, content_type="application/json"), 400, code="invalid_json")
        expect_error(s.post("/v1/datasets", "a,b\n" + "1,2\n" * 4096, content_type="text/csv"), 413)
        expect_error(s.upload("/v1/datasets", {"file": ("a.csv", b"a,b\n" + b"1,2\n" * 4096)}), 413)
        expect_error(s.post("/v1/models", b"\0" * 16385, content_type="application/octet-stream"), 413)
        ok = "a,b\n" + "1,2\n" * 4095
        check(len(ok) == 16384, "fixture")
        r = s.post("/v1/datasets", ok, content_type="text/csv")
        check(r.status == 201 and r.json()["rows"] == 4095, "an upload of exactly the limit: %r" % r)
        s.stop_clean()


def connect(port, source="127.0.0.1"):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def ask(sock, path="/healthz"):
    """Send a GET on an open socket; the status, or None if the server closed it."""
    try:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path.encode())
        buf = b""
        while True:
            got = sock.recv(4096)
            if not got:
                break
            buf += got
    except (ConnectionResetError, BrokenPipeError):
        return None
    return int(buf.split(b" ")[1]) if buf.startswith(b"HTTP/1.") else None


def test_limit_connections_per_ip():
    with Server("--max-connections-per-ip", "4", "--connection-timeout", "5") as s:
        held = [connect(s.port) for _ in range(4)]
        try:
            time.sleep(0.3)  # let the server accept them
            extra = connect(s.port)
            check(ask(extra) is None, "a 5th connection from the same IP is refused")
            extra.close()
            # Another client address is not affected by this one's limit.
            other = connect(s.port, "127.0.0.2")
            check(ask(other) == 200, "a client from another address is served")
            other.close()
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        check(s.get("/healthz").status == 200, "served again once the connections close")
        # Many connections at the limit, opened and closed in turn, leak no slot.
        for _ in range(20):
            socks = [connect(s.port) for _ in range(4)]
            for sock in socks:
                sock.close()
        time.sleep(0.3)
        statuses = [ask(connect(s.port)) for _ in range(4)]
        check(statuses == [200] * 4, "slots freed: %r" % statuses)
        s.stop_clean()


def test_limit_request_time():
    timeout = 2
    with Server("--connection-timeout", str(timeout)) as s:
        results = {}

        def dribble(name, data, interval):
            sock = connect(s.port)
            sock.settimeout(interval)
            t0 = time.time()
            results[name] = ("open", None)
            try:
                for b in data:
                    sock.send(bytes([b]))
                    try:
                        if sock.recv(4096) == b"":
                            results[name] = ("cut", time.time() - t0)
                            return
                    except socket.timeout:
                        pass
                    if time.time() - t0 > timeout + 6:
                        return
            except OSError:
                results[name] = ("cut", time.time() - t0)
            finally:
                sock.close()

        threads = [threading.Thread(target=dribble, args=("head at 2 bytes/s", b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 40, 0.5)),
                   threading.Thread(target=dribble, args=("request line at 4 bytes/s", b"GET /" + b"a" * 80, 0.25))]
        for t in threads:
            t.start()
        # An idle connection and a stalled body end with the idle timeout.
        t0 = time.time()
        idle = connect(s.port)
        check(ask_idle(idle) and time.time() - t0 < timeout + 2, "idle connection kept %.1fs" % (time.time() - t0))
        stalled = connect(s.port)
        stalled.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{")
        t0 = time.time()
        check(ask_idle(stalled) and time.time() - t0 < timeout + 2, "stalled body kept %.1fs" % (time.time() - t0))
        for t in threads:
            t.join()
        for name, (outcome, secs) in results.items():
            check(outcome == "cut" and secs <= timeout + 1.5, "%s: %s after %s s" % (name, outcome, secs))
        check(s.get("/healthz").status == 200, "alive")
        s.stop_clean()


def ask_idle(sock):
    """Wait for the server to close an idle socket; True if it did."""
    sock.settimeout(10)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, socket.timeout):
        return False
    finally:
        sock.close()


# ---- (d) secrets never logged ----

def secret_forms(key):
    return [key, key[:16], key[-16:], base64.b64encode(key.encode()).decode(),
            base64.b64encode(("user:" + key).encode()).decode(), urllib.parse.quote(key)]


def exercise_auth(s, key):
    good = {"Authorization": "Bearer " + key}
    replies = []
    for headers in (good, {"Authorization": "bearer " + key}, {"Authorization": "Bearer " + key + "x"},
                    {"Authorization": "Bearer " + key[:-1]}, {"Authorization": "Basic " + key},
                    {"Authorization": "Basic " + base64.b64encode(("user:" + key).encode()).decode()},
                    {"Authorization": key}, {"Authorization": "Token " + key}, {}):
        for method, path, body, ctype in (("GET", "/v1/jobs", None, None), ("GET", "/v1/jobs/" + FAKE["jobs"], None, None),
                                          ("POST", "/v1/jobs", "{bad json", "application/json"),
                                          ("POST", "/v1/datasets", "a,b\n1,x\n", "text/csv"),
                                          ("GET", "/v1/nothing", None, None), ("PUT", "/v1/jobs", None, None),
                                          ("GET", "/healthz", None, None)):
            replies.append(request(s, method, path, headers, body, ctype))
    replies.append(s.get("/metrics"))
    replies.append(s.get("/readyz"))
    return replies


def test_secrets_never_logged():
    keyfile = tempfile.NamedTemporaryFile("w", suffix=".key", delete=False)
    keyfile.write(KEY + "\n")
    keyfile.close()
    try:
        for fmt in ("text", "json"):
            for source in (("--api-key", KEY), ("--api-key-file", keyfile.name)):
                with Server(*source, "--log-format", fmt) as s:
                    replies = exercise_auth(s, KEY)
                    check(s.get("/v1/jobs", headers={"Authorization": "Bearer " + KEY}).status == 200, "key works")
                    s.stop_clean()
                    log = s.log_text()
                    check("auth=on" in log or '"auth":"on"' in log, "the log says auth is on:\n" + log[:500])
                    for form in secret_forms(KEY):
                        check(form not in log, "%s log with %s: the key (%r) is in the log:\n%s"
                              % (fmt, source[0], form, log[-2000:]))
                        for r in replies:
                            check(form.encode() not in r.body, "the key is in a reply: %r" % r)
                            check(all(form not in v for v in r.headers.values()), "the key is in a header")
    finally:
        os.unlink(keyfile.name)


# ---- (e) no internal paths in error messages ----

def leaks(text, request_bytes, srv):
    """Internal paths or details in an error message (unless the client sent them)."""
    needles = [srv.data_dir, os.path.realpath(srv.data_dir), srv.tmp, "/tmp/", "/work", "/usr/", "/home/", "/root",
               ".c:", ".h:", "No such file", "Permission denied", "sqlite", "SQLITE", "errno", "Segmentation"]
    return [n for n in needles if n in text and n.encode() not in request_bytes]


def test_error_messages_leak_no_internal_paths():
    with Server("--connection-timeout", "3") as s:
        ds, mdl = make_model(s)
        bodies = []
        for _, cases in corpus_mod.corpus(ds, mdl):
            for c in cases:
                rs = exchange(c.raw, port=s.port)
                for r in rs:
                    if r.status >= 400:
                        bodies.append((c.raw, r.status, r.body.decode("utf-8", "replace")))
        # Damaged stored files: what the server loads from its own paths fails.
        extra = damaged_file_requests(s, ds, mdl)
        bodies += extra
        check(len(bodies) > 700, "collected %d error bodies" % len(bodies))
        bad = [(st, b[:300], leaks(b, raw, s)) for raw, st, b in bodies if leaks(b, raw, s)]
        check(not bad, "%d error messages leak internal details:\n%s" % (
            len(bad), "\n".join("%d %s %r" % x for x in bad[:15])))
        check(not any(st >= 500 and st != 505 for _, st, _ in bodies[:-len(extra)]), "5xx for a client mistake")
        print("error bodies checked: %d" % len(bodies))
        s.stop_clean()


def damaged_file_requests(s, ds, mdl):
    """Requests against a model and datasets whose files were removed,
    truncated or overwritten behind the server's back."""
    out = []

    def record(method, path, body=None, ctype=None):
        r = request(s, method, path, None, body, ctype)
        out.append(((method + " " + path + " " + (body or "")).encode(), r.status,
                    r.body.decode("utf-8", "replace")))
        check(r.status >= 400, "%s %s on a damaged file: %r" % (method, path, r))
        if r.status >= 500:
            check(r.json()["error"]["code"] == "internal_error", "%r" % r)

    csv = csv_text(["x1", "x2", "label"], [[i / 10, (i * 3 % 10) / 10, "a" if i % 2 else "b"] for i in range(20)])
    victims = [s.post("/v1/datasets", csv, content_type="text/csv").json()["id"] for _ in range(3)]
    models = [s.upload("/v1/models", {"file": ("m.safetensors", s.get("/v1/models/%s/content" % mdl).body)}).json()["id"]
              for _ in range(3)]
    ds_path = lambda i: os.path.join(s.data_dir, "datasets", i + ".safetensors")
    mdl_path = lambda i: os.path.join(s.data_dir, "models", i + ".safetensors")
    os.unlink(ds_path(victims[0]))
    with open(ds_path(victims[1]), "r+b") as f:
        f.truncate(20)
    with open(ds_path(victims[2]), "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    os.unlink(mdl_path(models[0]))
    with open(mdl_path(models[1]), "r+b") as f:
        f.truncate(30)
    with open(mdl_path(models[2]), "wb") as f:
        f.write(b"\x04\x00\x00\x00\x00\x00\x00\x00{}  ")
    for v in victims:
        record("POST", "/v1/models/%s/evaluate" % mdl, json.dumps({"dataset": v}), "application/json")
        record("POST", "/v1/models/%s/evaluate" % mdl, json.dumps({"dataset": {"id": v, "classes": ["a"]}}),
               "application/json")
    for m in models:
        record("POST", "/v1/models/%s/predict" % m, '{"inputs": [[1, 2]]}', "application/json")
        record("POST", "/v1/models/%s/evaluate" % m, json.dumps({"dataset": ds}), "application/json")
        record("POST", "/v1/jobs", json.dumps({"dataset": ds, "base_model": m, "epochs": 1}), "application/json")
        if m == models[0]:
            record("GET", "/v1/models/%s/content" % m)
    check(s.get("/healthz").status == 200, "alive")
    return out


# ---- (f) log injection ----

VALUE = r'("(?:[^"\\]|\\.)*"|[^ "]*)'  # bare, or quoted with \" and \\ escapes
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ [a-z_]+( [a-z_]+=%s)*$" % VALUE)
PAIR = re.compile(r" ([a-z_]+)=%s" % VALUE)


def text_fields(line):
    """key -> value bytes of a text log line, escapes undone."""
    out = {}
    for k, v in PAIR.findall(line):
        if v.startswith('"'):
            v = v[1:-1]
        raw, i = bytearray(), 0
        while i < len(v):
            if v[i] == "\\" and i + 1 < len(v):
                nxt = v[i + 1]
                if nxt == "x":
                    raw.append(int(v[i + 2:i + 4], 16))
                    i += 4
                    continue
                raw += {"n": b"\n", "r": b"\r", "t": b"\t"}.get(nxt, nxt.encode())
                i += 2
                continue
            raw += v[i].encode()
            i += 1
        out[k] = bytes(raw)
    return out


INJECTIONS = ["/v1/%0Afake_event forged=1", "/v1/x%0D%0A2030-01-01T00:00:00Z request status=200 forged=1",
              "/v1/%0D2030-01-01T00:00:00Z request forged=1", "/x%1B[31mred%1B[0m%1B]0;title%07",
              "/x%22 status=200 forged=%22", "/x%5C%22 status=201", "/x%09tab%0Bvt%0Cff%7Fdel",
              "/x%C2%9B31mC1", "/x%ff%fe%c3%28", "/x%00after-nul", "/" + "%C3%A9" * 1000]


def injected_paths():
    return [urllib.parse.quote(p, safe="/%[];=") for p in INJECTIONS]


def decoded(path):
    """The path as the server sees it (percent-decoded except %00)."""
    parts = path.split("%00")
    return b"%00".join(urllib.parse.unquote_to_bytes(p) for p in parts)


def test_log_injection_text_and_json():
    for fmt in ("text", "json"):
        with Server("--log-format", fmt) as s:
            for path in injected_paths():
                rs = exchange(build("GET", path), port=s.port)
                check(rs and rs[0].status == 404, "%s: %r" % (path, rs))
            # A method with control bytes, answered or refused by the HTTP layer.
            exchange(b"GE\x1bT /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", port=s.port)
            s.stop_clean()
            with open(s.log_path, "rb") as f:
                log = f.read()
            check(b"\x1b" not in log and b"\r" not in log and b"\x07" not in log and b"\x7f" not in log,
                  "%s log holds raw control bytes:\n%r" % (fmt, log[-3000:]))
            check(b"\xc2\x9b" not in log, "%s log holds a raw C1 control character" % fmt)
            lines = log.decode("utf-8", "strict").split("\n")[:-1]
            requests = []
            for line in lines:
                if fmt == "json":
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        raise AssertionError("not one JSON object per line: %r" % line[:300])
                    check({"ts", "event"} <= set(obj), "%r" % line[:200])
                    if obj["event"] == "request":
                        requests.append({k: str(v).encode("utf-8", "surrogateescape") for k, v in obj.items()})
                else:
                    check(TEXT_LINE.match(line), "a forged or malformed text log line: %r" % line[:300])
                    if " request " in line[:40]:
                        requests.append(text_fields(line))
            check(not any(re.match(r"^(fake_event|2030-)", l) for l in lines), "a forged line")
            for path in injected_paths():
                want = decoded(path)
                mine = [r for r in requests if r.get("path") is not None and
                        (r["path"] == want or (fmt == "json" and r["path"] == want.decode("utf-8", "replace").encode()))]
                if b"\xff" in want and fmt == "json":  # not UTF-8: escaped, but present
                    mine = [r for r in requests if r.get("path", b"").startswith(b"/x") and b"\\xff" in r["path"]]
                if len(want) >= 2000:  # cut to the log line's length, still one line
                    mine = [r for r in requests if r.get("path", b"").startswith(want[:200])]
                check(mine, "%s log: the request line for %r is missing or altered:\n%s" % (
                    fmt, path[:80], "\n".join(map(repr, requests))[-3000:]))
                check(all(r["status"] == b"404" for r in mine), "%s log: a forged status: %r" % (fmt, mine))
            check(not any(b"forged" in k.encode() for r in requests for k in r), "a forged field")


if __name__ == "__main__":
    main(globals())