#!/usr/bin/python3
"""Bearer auth (--api-key, --api-key-file, FINETUNED_API_KEY) and CORS
(--cors-origin): 401 with WWW-Authenticate and the error envelope, open
health routes, auth before the body is read, allowed and refused origins,
OPTIONS preflight answered without credentials."""
import os
import tempfile

from harness import Server, check, expect_error, raw_http, main

KEY = "s3cret-key-0123456789"
ORIGIN = "https://a.example"
server = None


def setup():
    global server
    server = Server("--api-key", KEY, "--cors-origin", ORIGIN + ", https://c.example")


def auth(key=KEY):
    return {"Authorization": "Bearer " + key}


def expect_401(r):
    err = expect_error(r, 401, code="invalid_api_key")
    check(err["type"] == "authentication_error", "%r" % err)
    check(r.headers["WWW-Authenticate"] == "Bearer", "WWW-Authenticate %r" % r.headers["WWW-Authenticate"])
    check(KEY not in r.body.decode(), "the key leaks into the reply")


def test_v1_routes_need_the_key():
    for method, path in (("GET", "/v1/datasets"), ("GET", "/v1/models"), ("GET", "/v1/jobs"),
                         ("GET", "/v1/version"), ("GET", "/v1/jobs/job_000000000000000000000000"),
                         ("DELETE", "/v1/datasets/ds_000000000000000000000000"),
                         ("POST", "/v1/jobs/job_000000000000000000000000/cancel")):
        expect_401(server.request(method, path))
        for bad in ("wrong", KEY[:-1], KEY + "x", "", " " + KEY):
            expect_401(server.request(method, path, headers=auth(bad)))
        for header in ("Basic " + KEY, KEY, "Bearer", "Token " + KEY):
            expect_401(server.request(method, path, headers={"Authorization": header}))
    r = server.get("/v1/datasets", headers=auth())
    check(r.status == 200 and r.json()["object"] == "list", "%r" % r)
    r = server.get("/v1/jobs/job_000000000000000000000000", headers=auth())
    expect_error(r, 404)  # past auth: the usual answer


def test_auth_comes_before_the_body():
    # Unauthenticated uploads are refused before anything is read or parsed:
    # no 413 for the size, no 400 for the JSON.
    head = b"POST /v1/datasets HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 1000000000\r\n\r\n"
    expect_401(raw_http(server, head + b"a,b\n", timeout=10))
    expect_401(server.post("/v1/jobs", "{not json", content_type="application/json"))
    expect_401(server.post("/v1/jobs", {"dataset": "x"}, content_type="text/plain"))
    check(os.listdir(os.path.join(server.data_dir, "tmp")) == [], "nothing written")
    # With the key, the same requests get their real answers.
    expect_error(server.post("/v1/jobs", "{not json", content_type="application/json", headers=auth()), 400)
    r = server.post("/v1/datasets", "a,b\n1,2\n3,4\n", content_type="text/csv", headers=auth())
    check(r.status == 201, "%r" % r)


def test_health_routes_stay_open():
    for path in ("/healthz", "/readyz", "/metrics"):
        r = server.get(path)
        check(r.status == 200, "%s without a key: %r" % (path, r))
        r = server.get(path, headers=auth("wrong"))
        check(r.status == 200, "%s with a wrong key: %r" % (path, r))


def test_api_key_file_and_env():
    with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
        f.write("file-key-42\n")
        path = f.name
    try:
        with Server("--api-key-file", path) as s:
            expect_401(s.get("/v1/jobs"))
            expect_401(s.get("/v1/jobs", headers=auth("file-key-42\n".strip() + " ")))
            check(s.get("/v1/jobs", headers=auth("file-key-42")).status == 200, "the file's first line is the key")
            check(s.get("/healthz").status == 200, "healthz open")
            s.stop_clean()
    finally:
        os.unlink(path)
    with Server(env={"FINETUNED_API_KEY": "env-key"}) as s:
        expect_401(s.get("/v1/models"))
        check(s.get("/v1/models", headers=auth("env-key")).status == 200, "FINETUNED_API_KEY")
        s.stop_clean()
    # Auth off: no header needed.
    with Server() as s:
        check(s.get("/v1/jobs").status == 200, "auth off")
        check(s.get("/v1/jobs", headers=auth("anything")).status == 200, "auth off ignores the header")
        s.stop_clean()


def test_cors_allowed_origin():
    r = server.get("/v1/datasets", headers=dict(auth(), Origin=ORIGIN))
    check(r.status == 200, "%r" % r)
    check(r.headers["Access-Control-Allow-Origin"] == ORIGIN, "ACAO %r" % r.headers["Access-Control-Allow-Origin"])
    check("Origin" in (r.headers["Vary"] or ""), "Vary: Origin")
    check("X-Request-Id" in (r.headers["Access-Control-Expose-Headers"] or ""), "expose X-Request-Id")
    # The second configured origin too; errors carry the header so a page can read them.
    r = server.get("/v1/datasets", headers={"Origin": "https://c.example"})
    expect_401(r)
    check(r.headers["Access-Control-Allow-Origin"] == "https://c.example", "on a 401 too")


def test_cors_other_origins_refused():
    for origin in ("https://b.example", "https://a.example.evil", "http://a.example", "https://a.exampl",
                   "null", "https://a.example, https://b.example"):
        r = server.get("/v1/datasets", headers=dict(auth(), Origin=origin))
        check(r.status == 200, "%r" % r)
        check(r.headers["Access-Control-Allow-Origin"] is None, "%s allowed: %r" % (origin, r.headers))
        pre = server.request("OPTIONS", "/v1/jobs", headers={"Origin": origin,
                                                             "Access-Control-Request-Method": "POST"})
        check(pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] is None, "%s preflight" % origin)
        check(pre.headers["Access-Control-Allow-Methods"] is None, "%s preflight methods" % origin)
    r = server.get("/v1/datasets", headers=auth())
    check(r.headers["Access-Control-Allow-Origin"] is None, "no Origin, no CORS headers")


def test_preflight_without_credentials():
    for path, method in (("/v1/jobs", "POST"), ("/v1/datasets/ds_000000000000000000000000", "DELETE"),
                         ("/v1/models/mdl_000000000000000000000000/predict", "POST")):
        r = server.request("OPTIONS", path, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        check(r.status == 204, "preflight %s: %r" % (path, r))
        check(r.headers["Access-Control-Allow-Origin"] == ORIGIN, "%r" % r.headers)
        methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
        check(method in methods and "OPTIONS" in methods, "methods %r" % methods)
        allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
        check({"authorization", "content-type", "idempotency-key"} <= allowed, "headers %r" % allowed)
        check(int(r.headers["Access-Control-Max-Age"]) > 0, "max age")
        check(r.body == b"", "no body")
    expect_error(server.request("OPTIONS", "/v1/nothing", headers={"Origin": ORIGIN}), 404)


def test_cors_wildcard():
    with Server("--cors-origin", "*") as s:
        r = s.get("/v1/jobs", headers={"Origin": "https://anything.example"})
        check(r.headers["Access-Control-Allow-Origin"] == "*", "%r" % r.headers)
        s.stop_clean()
    with Server() as s:  # no --cors-origin: no CORS at all
        r = s.get("/v1/jobs", headers={"Origin": ORIGIN})
        check(r.headers["Access-Control-Allow-Origin"] is None, "%r" % r.headers)
        s.stop_clean()


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report
    # (the suite also runs against the ASan/UBSan build).
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
