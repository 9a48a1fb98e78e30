#!/usr/bin/python3
"""HTTP-level behaviour every route shares: unknown routes and ids (404),
wrong methods (405 with Allow), bad query values and malformed bodies (400),
wrong content types (415), size limits (413, before the body is read when
Content-Length tells), X-Request-Id, and the system endpoints (/healthz,
/readyz, /metrics, /v1/version)."""
import os
import re
import time

from harness import Server, check, csv_text, expect_error, raw_http, main, wait_for

server = None
small = None  # a server with tiny body limits
UPLOAD_LIMIT, JSON_LIMIT = 4096, 1024
JOB = "job_000000000000000000000000"
DS = "ds_000000000000000000000000"
MDL = "mdl_000000000000000000000000"


def setup():
    global server, small
    server = Server()
    small = Server("--max-upload-bytes", str(UPLOAD_LIMIT), "--max-json-bytes", str(JSON_LIMIT))


def test_unknown_routes_404():
    for method, path in (("GET", "/index.html"), ("GET", "/v1"), ("GET", "/v2/jobs"), ("GET", "/v1/job"),
                         ("GET", "/v1/jobs/%s/nothing" % JOB), ("POST", "/v1/jobs/%s/retry" % JOB),
                         ("GET", "/v1/datasets/"), ("GET", "/v1/models/%s/content/x" % MDL),
                         ("DELETE", "/nothing"), ("GET", "/healthz/x"), ("GET", "/v1/jobs/" + "a" * 300)):
        expect_error(server.request(method, path), 404, code="unknown_route")


def test_unknown_and_malformed_ids_404():
    routes = [("GET", "/v1/datasets/{}", "ds"), ("DELETE", "/v1/datasets/{}", "ds"),
              ("GET", "/v1/models/{}", "mdl"), ("GET", "/v1/models/{}/content", "mdl"),
              ("DELETE", "/v1/models/{}", "mdl"), ("POST", "/v1/models/{}/predict", "mdl"),
              ("POST", "/v1/models/{}/evaluate", "mdl"), ("GET", "/v1/jobs/{}", "job"),
              ("POST", "/v1/jobs/{}/cancel", "job"), ("GET", "/v1/jobs/{}/events", "job"),
              ("GET", "/v1/jobs/{}/metrics", "job"), ("GET", "/v1/jobs/{}/metrics.png", "job"),
              ("GET", "/v1/jobs/{}/confusion.png", "job")]
    for method, pattern, prefix in routes:
        other = "job" if prefix != "job" else "ds"
        for bad in (prefix + "_" + "0" * 24, prefix + "_" + "f" * 24, prefix + "_123", prefix + "_" + "g" * 24,
                    other + "_" + "0" * 24, "x", prefix + "_" + "0" * 24 + "0", "%2e%2e"):
            body = {"dataset": DS} if pattern.endswith("evaluate") else (
                {"inputs": [[1]]} if pattern.endswith("predict") else None)
            r = server.request(method, pattern.format(bad), body)
            try:
                expect_error(r, 404)
            except AssertionError as e:
                raise AssertionError("%s %s: %s" % (method, pattern.format(bad), e))


def test_wrong_method_405_with_allow():
    cases = [("PUT", "/v1/jobs", {"GET", "POST"}), ("DELETE", "/v1/jobs/" + JOB, {"GET"}),
             ("GET", "/v1/jobs/%s/cancel" % JOB, {"POST"}), ("PATCH", "/v1/datasets/" + DS, {"GET", "DELETE"}),
             ("PUT", "/v1/datasets", {"GET", "POST"}), ("POST", "/healthz", {"GET"}),
             ("DELETE", "/v1/models/%s/content" % MDL, {"GET"}), ("GET", "/v1/models/%s/predict" % MDL, {"POST"}),
             ("GET", "/v1/models/%s/evaluate" % MDL, {"POST"}), ("POST", "/v1/version", {"GET"}),
             ("PUT", "/metrics", {"GET"}), ("POST", "/v1/jobs/%s/events" % JOB, {"GET"}),
             ("DELETE", "/v1/jobs/%s/metrics.png" % JOB, {"GET"})]
    for method, path, allowed in cases:
        r = server.request(method, path)
        err = expect_error(r, 405, code="method_not_allowed")
        allow = {m.strip() for m in (r.headers["Allow"] or "").split(",")}
        check(allow == allowed, "%s %s: Allow %r, expected %r" % (method, path, r.headers["Allow"], allowed))
        check(method in err["message"], "%r" % err)
    # HEAD is GET without a body.
    r = server.request("HEAD", "/healthz")
    check(r.status == 200 and r.body == b"", "HEAD %r" % r)


def test_bad_query_values_400():
    for path in ("/v1/datasets", "/v1/models", "/v1/jobs", "/v1/jobs/%s/events" % JOB):
        for bad in ("0", "101", "-5", "ten", "", "1e2", "5%20"):
            r = server.get(path + "?limit=" + bad)
            if path.endswith("events"):  # the job is checked first
                expect_error(r, 404)
                continue
            expect_error(r, 400, param="limit")
    expect_error(server.get("/v1/jobs?status=finished"), 400, param="status")
    expect_error(server.get("/v1/jobs?status="), 400, param="status")
    expect_error(server.post("/v1/datasets?task=maybe", "a,b\n1,2\n", content_type="text/csv"), 400, param="task")
    expect_error(server.post("/v1/datasets?header=perhaps", "a,b\n1,2\n", content_type="text/csv"), 400,
                 param="header")


def test_malformed_bodies_400():
    for body in ('{"dataset": ', "{'dataset': 1}", '{"a": 1} trailing', "nul\x00l", '{"a": "\\x"}', "  "):
        expect_error(server.post("/v1/jobs", body, content_type="application/json"), 400, code="invalid_json")
        expect_error(server.post("/v1/models/%s/evaluate" % MDL, body, content_type="application/json"), 400)
    expect_error(server.post("/v1/jobs", b"", content_type="application/json"), 400, code="missing_body")
    expect_error(server.post("/v1/jobs", '{"a": 1, "a": 1}', content_type="application/json"), 400)
    # Valid JSON that is not an object is a 422, not a crash.
    expect_error(server.post("/v1/jobs", "null", content_type="application/json"), 422)
    expect_error(server.post("/v1/jobs", '"job"', content_type="application/json"), 422)
    # Deep nesting is refused by the parser's depth limit.
    deep = "[" * 100000 + "]" * 100000
    expect_error(server.post("/v1/jobs", deep, content_type="application/json"), 400, code="invalid_json")
    check(server.get("/healthz").status == 200, "alive")


def test_wrong_content_type_415():
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"):
        expect_error(server.post("/v1/jobs", '{"dataset": "x"}', content_type=ct), 415, param="Content-Type")
        expect_error(server.post("/v1/models/%s/evaluate" % MDL, '{"dataset": "x"}', content_type=ct), 415)
    # +json media types are JSON.
    expect_error(server.post("/v1/jobs", '{"dataset": 1}', content_type="application/vnd.api+json"), 422,
                 param="dataset")
    for ct in ("application/json", "image/png", "text/html", "video/mp4"):
        expect_error(server.post("/v1/datasets", b"a,b\n1,2\n", content_type=ct), 415, param="Content-Type")
        expect_error(server.post("/v1/models", b"x", content_type=ct), 415, param="Content-Type")


def tmp_files(srv):
    return os.listdir(os.path.join(srv.data_dir, "tmp"))


def test_413_before_the_body_is_read():
    # The headers promise a gigabyte; only a few bytes follow and the client
    # then waits. The 413 must arrive anyway: it is decided from the headers.
    for path, ctype in (("/v1/datasets", "text/csv"), ("/v1/models", "application/octet-stream"),
                        ("/v1/datasets", "multipart/form-data; boundary=xyz"),
                        ("/v1/jobs", "application/json"), ("/v1/models/%s/predict" % MDL, "application/json")):
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: 1000000000\r\n\r\n"
                % (path, ctype)).encode()
        t0 = time.time()
        r = raw_http(small, head + b"a,b\n1,2\n", timeout=10)
        err = expect_error(r, 413, code="request_too_large")
        check(time.time() - t0 < 5, "413 took %.1fs" % (time.time() - t0))
        check("1000000000" in err["message"], "%r" % err)
    # With Expect: 100-continue the client never has to send the body.
    r = raw_http(small, b"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                        b"Expect: 100-continue\r\nContent-Length: 50000\r\n\r\n", timeout=10)
    expect_error(r, 413)
    check(tmp_files(small) == [], "nothing written for a refused upload: %r" % tmp_files(small))


def test_413_oversize_bodies():
    big_csv = csv_text(["a", "b"], [[i, i] for i in range(UPLOAD_LIMIT // 4)])
    check(len(big_csv) > UPLOAD_LIMIT, "fixture size")
    expect_error(small.post("/v1/datasets", big_csv, content_type="text/csv"), 413, code="request_too_large")
    expect_error(small.upload("/v1/datasets", {"file": ("big.csv", big_csv.encode())}), 413)
    expect_error(small.post("/v1/models", b"\0" * (UPLOAD_LIMIT + 1), content_type="application/octet-stream"), 413)
    expect_error(small.post("/v1/jobs", {"dataset": DS, "metadata": {"pad": "x" * JSON_LIMIT}}), 413)
    expect_error(small.post("/v1/models/%s/predict" % MDL, {"inputs": [[0] * JSON_LIMIT]}), 413)
    # Just under the limits is fine.
    ok = csv_text(["a", "b"], [[i, i % 2] for i in range(50)])
    check(len(ok) < UPLOAD_LIMIT and small.post("/v1/datasets", ok, content_type="text/csv").status == 201, "small")
    expect_error(small.post("/v1/jobs", {"dataset": DS, "architecture": {}}), 422)
    check(small.get("/v1/datasets").json()["data"][0]["rows"] == 50, "only the small upload is stored")


def chunked(body, size=500):
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                    for i in range(0, len(body), size)) + b"0\r\n\r\n"


def test_413_chunked_body_without_length():
    # No Content-Length: the cap applies while the body streams in.
    big = csv_text(["a", "b"], [[i, i] for i in range(UPLOAD_LIMIT // 4)]).encode()
    head = b"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    expect_error(raw_http(small, head + chunked(big), timeout=10), 413, code="request_too_large")
    head_json = b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    expect_error(raw_http(small, head_json + chunked(b'{"dataset": "%s"}' % (b"x" * 2000)), timeout=10), 413)
    # A chunked upload under the cap works.
    ok = csv_text(["a", "b"], [[i, i % 2] for i in range(20)]).encode()
    r = raw_http(small, head + chunked(ok, 37), timeout=10)
    check(r.status == 201 and r.json()["rows"] == 20, "%r" % r)
    # A truncated multipart body: 400, promptly.
    mp = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,b\n1,2\n')
    head_mp = (b"POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
    expect_error(raw_http(small, head_mp + chunked(mp), timeout=10), 400, code="invalid_multipart")
    check(small.get("/healthz").status == 200, "alive")
    # An upload's temp file goes when its connection is torn down, just after the reply.
    wait_for(lambda: tmp_files(small) == [], timeout=5, what="temp files to go: %r" % tmp_files(small))


def test_request_id():
    r = server.get("/healthz", headers={"X-Request-Id": "client-id_1.2"})
    check(r.headers["X-Request-Id"] == "client-id_1.2", "echoed: %r" % r.headers["X-Request-Id"])
    r = server.get("/v1/jobs/" + JOB, headers={"X-Request-Id": "abc123"})
    check(r.status == 404 and r.headers["X-Request-Id"] == "abc123", "echoed on errors too")
    generated = set()
    for hdrs in ({}, {"X-Request-Id": "has space"}, {"X-Request-Id": "x" * 65}, {"X-Request-Id": "a\"b"}):
        rid = server.get("/healthz", headers=hdrs).headers["X-Request-Id"]
        check(re.match(r"^req_[0-9a-f]{24}$", rid), "generated id %r for %r" % (rid, hdrs))
        generated.add(rid)
    check(len(generated) == 4, "generated ids are unique")
    rid = server.get("/nope").headers["X-Request-Id"]
    check(re.match(r"^req_[0-9a-f]{24}$", rid), "unknown route %r" % rid)
    # A 500 would cite the request id; at least every error names none of the server's paths.
    err = server.get("/v1/jobs/" + JOB).json()["error"]
    check(server.data_dir not in err["message"], "no server paths in messages")


def test_system_endpoints():
    r = server.get("/healthz")
    check(r.status == 200 and r.json() == {"status": "ok"}, "%r" % r)
    r = server.get("/readyz")
    check(r.status == 200 and r.json()["status"] == "ready", "%r" % r)
    checks = r.json()["checks"]
    check(checks["database_writable"] is True and checks["shutting_down"] is False, "%r" % checks)
    check(checks["disk_free_bytes"] >= checks["disk_min_free_bytes"], "%r" % checks)
    r = server.get("/v1/version")
    check(r.status == 200, "%r" % r)
    v = r.json()
    check(re.match(r"^\d+\.\d+\.\d+", v["version"]) and v["api"] == "v1" and v["schema_version"] >= 1, "%r" % v)
    before = prom_count(server, '/v1/version', 'GET', '200')
    server.get("/v1/version")
    server.get("/v1/version")
    r = server.get("/metrics")
    check(r.status == 200 and r.headers["Content-Type"].startswith("text/plain"), "%r" % r)
    text = r.body.decode()
    check("# TYPE finetuned_http_requests_total counter" in text, "counter declared")
    check(prom_count(server, '/v1/version', 'GET', '200') == before + 2, "the counter counts requests")
    check(prom_count(server, 'unmatched', 'GET', '404') >= 1, "unmatched routes are counted under one label")
    check(re.search(r"^finetuned_jobs\{status=\"queued\"\} \d+$", text, re.M), "job gauges")


def prom_count(srv, route, method, status):
    text = srv.get("/metrics").body.decode()
    m = re.search(r'^finetuned_http_requests_total\{route="%s",method="%s",status="%s"\} (\d+)$'
                  % (re.escape(route), method, status), text, re.M)
    return int(m.group(1)) if m else 0


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report
    # (the suite also runs against the ASan/UBSan build).
    server.stop_clean()
    small.stop_clean()


def teardown():
    for s in (server, small):
        if s:
            s.close()


if __name__ == "__main__":
    main(globals())
