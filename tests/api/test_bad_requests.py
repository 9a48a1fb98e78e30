#!/usr/bin/python3
"""A corpus of bad requests against one live server. Every request gets a 4xx
that docs/openapi.yaml documents for its operation (status and error `code`),
never a 500, and the server stays up (a /healthz check after each group):
malformed and truncated JSON, wrong types for every job-spec field and for
predict / evaluate bodies, huge and negative numbers, NaN / Infinity, 10k-deep
nesting, duplicate keys, invalid UTF-8 (bodies, URLs, headers, file names),
bad multipart, bodies shorter or longer than Content-Length, slowloris
senders, path tricks and unknown methods. The table is data: each group is a
list of cases; a closing test prints how many requests ran and the statuses
seen.

The cases are in bad_requests_corpus.py; raw HTTP, the spec's documented
answers and the Case class in bad_requests_http.py."""
import json
import os
import socket
import threading
import time

from harness import Server, check, mlp_architecture, main
import bad_requests_http as wire
from bad_requests_http import GLOBAL, HTTP_LAYER, REQUESTS, STATUSES, build, enc, exchange
from bad_requests_corpus import corpus, make_model, part

TIMEOUT = 2  # the server's --connection-timeout, seconds
server = None
DS = MODEL = None  # a stored dataset and a trained model (2 features, 2 classes)


def run_cases(cases, port=None):
    """Run a group; report every case that went wrong, then check the server lives."""
    failures = []
    for c in cases:
        try:
            c.verify(c.run(port))
        except AssertionError as e:
            failures.append(str(e))
    alive(port)
    check(not failures, "%d of %d cases failed:\n" % (len(failures), len(cases)) + "\n".join(failures))


def alive(port=None):
    check(server.proc.poll() is None, "the server died:\n" + server.log_text()[-3000:])
    t0 = time.time()
    r = exchange(build("GET", "/healthz"), port=port)
    check(r and r[0].status == 200, "/healthz after the group: %r" % r)
    check(time.time() - t0 < 2, "/healthz took %.1fs" % (time.time() - t0))


# ---- setup ----

def setup():
    global server, DS, MODEL
    server = Server("--connection-timeout", str(TIMEOUT), "--max-connections-per-ip", "64")
    wire.DEFAULT_PORT = server.port
    DS, MODEL = make_model(server)


GROUPS = {}


def group(name):
    if not GROUPS:
        GROUPS.update(corpus(DS, MODEL))
    return GROUPS[name]


# ---- tests ----

def test_spec_documents_the_http_layer_answers():
    check({(404, "unknown_route"), (405, "method_not_allowed"), (414, "uri_too_long"),
           (413, "request_too_large")} <= GLOBAL, "conventions: %r" % GLOBAL)
    check({400, 413, 414, 431, 505} <= HTTP_LAYER, "HTTP-layer statuses in the conventions: %r" % HTTP_LAYER)


def test_malformed_and_truncated_json():
    run_cases(group("malformed JSON"))


def test_job_spec_wrong_types():
    before = len(server.get("/v1/jobs?limit=100").json()["data"])
    run_cases(group("job spec types"))
    check(len(server.get("/v1/jobs?limit=100").json()["data"]) == before, "a bad spec created a job")


def test_predict_and_evaluate_bodies():
    run_cases(group("predict and evaluate bodies"))


def test_huge_negative_and_non_finite_numbers():
    run_cases(group("numbers"))


def test_deep_nesting():
    run_cases(group("deep nesting"))


def test_duplicate_keys():
    run_cases(group("duplicate keys"))


def test_invalid_utf8():
    run_cases(group("invalid UTF-8"))


def test_bad_multipart():
    before = len(server.get("/v1/datasets?limit=100").json()["data"])
    run_cases(group("multipart"))
    check(len(server.get("/v1/datasets?limit=100").json()["data"]) == before, "a bad upload created a dataset")
    check(os.listdir(os.path.join(server.data_dir, "tmp")) == [], "temp files left")


def test_path_tricks():
    run_cases(group("path tricks"))


def test_unknown_methods_and_framing():
    run_cases(group("methods and framing"))


def test_body_shorter_than_content_length():
    jobs = len(server.get("/v1/jobs?limit=100").json()["data"])
    datasets = len(server.get("/v1/datasets?limit=100").json()["data"])
    spec = enc(json.dumps({"dataset": DS, "architecture": mlp_architecture([2], 2, (4,)), "epochs": 1}))
    csv = b"a,b\n1,2\n3,4\n"
    mp = part(b"xyz") + b"--xyz--\r\n"
    sends = [("/v1/jobs", "application/json", spec), ("/v1/datasets", "text/csv", csv),
             ("/v1/datasets", "multipart/form-data; boundary=xyz", mp),
             ("/v1/models", "application/octet-stream", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "),
             ("/v1/models/%s/predict" % MODEL, "application/json", b'{"inputs": [[1, 2]]}'),
             ("/v1/models/%s/evaluate" % MODEL, "application/json", enc('{"dataset": "%s"}' % DS))]
    for path, ctype, body in sends:
        for sent in (0, 1, len(body) // 2, len(body) - 1):
            # Send part of the body and half-close: the request cannot complete;
            # the server drops it at once (no answer, or a 400), stores nothing.
            data = build("POST", path, [("Content-Type", ctype)], body[:sent], length=len(body))
            t0 = time.time()
            rs = exchange(data, shut_write=True, timeout=TIMEOUT + 5)
            check(not rs or rs[0].status == 400, "%s short by %d: %r" % (path, len(body) - sent, rs))
            STATUSES[rs[0].status if rs else "closed"] += 1
            check(time.time() - t0 < TIMEOUT + 2, "%s: %.1fs to drop a half-closed request" % (path, time.time() - t0))
    # Without the half-close, the client just stops: the connection timeout ends it.
    for path, ctype, body in sends[:3]:
        t0 = time.time()
        rs = exchange(build("POST", path, [("Content-Type", ctype)], body[:3], length=len(body) + 100),
                      timeout=TIMEOUT + 8)
        check(not rs or rs[0].status in (400, 408), "%s stalled: %r" % (path, rs))
        STATUSES[rs[0].status if rs else "closed"] += 1
        check(time.time() - t0 < TIMEOUT + 4, "%s: stalled body kept for %.1fs" % (path, time.time() - t0))
    check(len(server.get("/v1/jobs?limit=100").json()["data"]) == jobs, "a truncated body created a job")
    check(len(server.get("/v1/datasets?limit=100").json()["data"]) == datasets, "a truncated upload was stored")
    check(os.listdir(os.path.join(server.data_dir, "tmp")) == [], "temp files left")
    alive()


def test_body_longer_than_content_length():
    # The bytes after the declared body are the next pipelined request: here
    # garbage, answered (4xx) or dropped, and never mixed into the first body.
    spec = enc(json.dumps({"dataset": DS}))
    for extra in (b"GARBAGE\r\n\r\n", b"\x00\xff" * 50, b'{"epochs": 1}', b"X" * 70000,
                  b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"):
        keep = build("POST", "/v1/jobs", [("Content-Type", "application/json")], spec).replace(
            b"Connection: close\r\n", b"")
        rs = exchange(keep + extra, timeout=TIMEOUT + 8)
        check(rs and rs[0].status == 422 and rs[0].json()["error"]["code"] == "invalid_value", "first: %r" % rs)
        check(rs[0].json()["error"]["param"] == "base_model", "the body ended at Content-Length: %r" % rs[0])
        for r in rs[1:]:
            check(r.status < 500, "pipelined garbage: %r" % r)
            STATUSES[r.status] += 1
        STATUSES[422] += 1
        if extra.startswith(b"GET /healthz"):
            check(len(rs) == 2 and rs[1].status == 200, "a pipelined request is answered: %r" % rs)
    # An upload whose Content-Length covers only the first rows stores only those.
    csv = b"a,b\n1,2\n3,4\n"
    head = build("POST", "/v1/datasets", [("Content-Type", "text/csv")], csv).replace(b"Connection: close\r\n", b"")
    rs = exchange(head + b"5,6\n7,8\n", timeout=TIMEOUT + 8)
    check(rs and rs[0].status == 201 and rs[0].json()["rows"] == 2, "%r" % rs)
    for r in rs[1:]:
        check(r.status < 500, "%r" % r)
    alive()


def slow_sender(data, interval, results, index, limit):
    """Send data one byte per interval; record when the server cut us off."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=interval)
    t0 = time.time()
    outcome = "still open"
    try:
        for b in data:
            try:
                sock.send(bytes([b]))
            except OSError:
                outcome = "cut"
                break
            try:
                got = sock.recv(4096)
                if not got:
                    outcome = "cut"
                    break
                outcome = "answered %r" % got[:60]
                break
            except socket.timeout:
                pass
            except OSError:
                outcome = "cut"
                break
            if time.time() - t0 > limit:
                break
    finally:
        sock.close()
    results[index] = (outcome, time.time() - t0)


def test_slowloris_is_dropped_and_others_are_served():
    # Headers dribbled at 1 byte/s never complete; the server must not wait
    # forever (each byte resets an idle timer, so an idle timeout alone is not
    # enough): it drops them after the connection timeout, and meanwhile
    # answers everybody else at once.
    requests = [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60,
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: " + b"b" * 60,
                b"GET /v1/jobs?" + b"c" * 60, b"G" * 60]
    results = [None] * len(requests)
    limit = TIMEOUT + 6
    threads = [threading.Thread(target=slow_sender, args=(data, 1.0, results, i, limit))
               for i, data in enumerate(requests)]
    for t in threads:
        t.start()
    slowest = 0
    t_end = time.time() + TIMEOUT + 1
    while time.time() < t_end:
        t0 = time.time()
        r = server.get("/healthz", timeout=5)
        slowest = max(slowest, time.time() - t0)
        check(r.status == 200, "%r" % r)
        STATUSES[200] += 1
        REQUESTS[0] += 1
        time.sleep(0.1)
    for t in threads:
        t.join(limit + 5)
    REQUESTS[0] += len(requests)
    for outcome, secs in results:
        STATUSES["closed"] += 1
        check(outcome == "cut", "a slowloris sender was not dropped: %s after %.1fs" % (outcome, secs))
        check(TIMEOUT - 0.5 <= secs <= TIMEOUT + 3, "dropped after %.1fs; the timeout is %ds" % (secs, TIMEOUT))
    check(slowest < 1, "other clients waited %.2fs meanwhile" % slowest)
    alive()


def test_slow_second_request_on_a_kept_alive_connection():
    # The deadline restarts with each request on a kept-alive connection.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=1)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while b'{"status":"ok"}' not in got:
            got += sock.recv(4096)
        t0 = time.time()
        outcome = "still open"
        for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60:
            try:
                sock.send(bytes([b]))
                if sock.recv(4096) == b"":
                    outcome = "cut"
                    break
            except socket.timeout:
                pass
            except OSError:
                outcome = "cut"
                break
            if time.time() - t0 > TIMEOUT + 6:
                break
        REQUESTS[0] += 2
        STATUSES[200] += 1
        STATUSES["closed"] += 1
        check(outcome == "cut" and time.time() - t0 <= TIMEOUT + 3, "%s after %.1fs" % (outcome, time.time() - t0))
    finally:
        sock.close()
    alive()


def test_summary():
    print("bad-request corpus: %d requests; statuses seen: %s" % (
        REQUESTS[0], ", ".join("%s x%d" % (k, v) for k, v in sorted(STATUSES.items(), key=lambda kv: str(kv[0])))))
    check(not any(isinstance(k, int) and k >= 500 and k != 505 for k in STATUSES), "5xx seen: %r" % STATUSES)
    check(REQUESTS[0] >= 500, "the corpus ran: %d requests" % REQUESTS[0])


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report.
    server.stop_clean()


if __name__ == "__main__":
    main(globals())