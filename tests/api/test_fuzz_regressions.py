#!/usr/bin/python3
"""Regressions found by the HTTP fuzzer (tests/fuzz/fuzz_http.c), one test
each, against the real binary: event streams that waited in a request
thread and stalled every other connection of that thread, a multipart part
without a name (a NULL field name), a non-UTF-8 path quoted in an error, and
an evaluate selector rejected after part of it was parsed (a leak the
sanitizer build reports at shutdown)."""
import json
import socket
import struct
import time

from harness import Server, check, expect_error, raw_http, main

server = None
S = {}
TINY = "a,b,label\n1,2,x\n3,4,y\n1,1,x\n2,2,y\n"


def arch(classes=2):
    return {"input": [2], "layers": [{"type": "dense", "units": classes, "activation": "softmax"}]}


def setup():
    global server
    server = Server("--http-threads", "2", "--max-event-streams", "8")
    r = server.post("/v1/datasets?name=tiny", TINY, content_type="text/csv")
    check(r.status == 201, "%r" % r)
    S["ds"] = r.json()["id"]


def open_stream(job_id):
    """An event stream on a raw socket, its response head read; the caller closes it."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    sock.sendall(("GET /v1/jobs/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                  % job_id).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = sock.recv(4096)
        check(got, "stream closed before its head: %r" % buf)
        buf += got
    check(buf.startswith(b"HTTP/1.1 200") and b"text/event-stream" in buf, "stream head %r" % buf[:200])
    return sock, buf.partition(b"\r\n\r\n")[2]


def read_until(sock, data, marker, timeout):
    deadline = time.time() + timeout
    while marker not in data and time.time() < deadline:
        sock.settimeout(max(0.1, deadline - time.time()))
        try:
            got = sock.recv(4096)
        except socket.timeout:
            break
        if not got:
            break
        data += got
    return data


def test_event_streams_do_not_stall_other_requests():
    # One worker busy with a long job, a second job queued behind it: more
    # streams follow the queued job than there are HTTP threads. Each
    # stream used to wait for news inside its request thread, so with two
    # threads the server stopped answering anyone (even /healthz) until a
    # keepalive 15 s later.
    busy = server.post("/v1/jobs", {"dataset": S["ds"], "architecture": arch(), "epochs": 100000})
    queued = server.post("/v1/jobs", {"dataset": S["ds"], "architecture": arch(), "epochs": 1})
    check(busy.status == 201 and queued.status == 201, "%r %r" % (busy, queued))
    busy, queued = busy.json()["id"], queued.json()["id"]
    streams = [open_stream(queued) for _ in range(3)]
    try:
        time.sleep(0.5)
        for _ in range(5):
            t0 = time.time()
            r = server.get("/healthz", timeout=10)
            check(r.status == 200 and time.time() - t0 < 2, "/healthz took %.1f s with streams open" % (time.time() - t0))
        check(server.get("/v1/jobs/" + queued).json()["status"] == "queued", "the second job waits")
        # The streams still follow the job: cancelling it ends each of them.
        check(server.post("/v1/jobs/%s/cancel" % queued).status == 200, "cancel the queued job")
        for sock, data in streams:
            data = read_until(sock, data, b"event: end", 10)
            check(b"event: end" in data and b'"cancelled"' in data, "stream did not end: %r" % data[-300:])
    finally:
        for sock, _ in streams:
            sock.close()
        server.post("/v1/jobs/%s/cancel" % busy)


def event_streams_open():
    for line in server.get("/metrics").body.decode().splitlines():
        if line.startswith("finetuned_event_streams "):
            return int(line.split()[1])
    raise AssertionError("no finetuned_event_streams in /metrics")


def vanish(sock):
    """Close with a reset (SO_LINGER 0), as a client that crashed or lost its network."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_event_stream_client_gone_then_server_answers():
    """Scenario: a job stays queued; clients open event streams on it and
    vanish (reset) while their streams are parked waiting for news.

    libmicrohttpd does not poll a suspended connection, so such a stream
    used to keep its slot until the next keepalive write (15 s): with 8
    slots, the ninth stream in that window got 429, which made this suite
    fail about one run in three. Now a hang-up of a parked stream's client
    resumes it and the slot is freed at once: twice as many vanishing
    streams as slots open one after another without a 429, all slots are
    free again within a second, and a new stream still follows the job to
    its end."""
    busy = server.post("/v1/jobs", {"dataset": S["ds"], "architecture": arch(), "epochs": 100000, "name": "busy"})
    queued = server.post("/v1/jobs", {"dataset": S["ds"], "architecture": arch(), "epochs": 1, "name": "gone"})
    check(busy.status == 201 and queued.status == 201, "%r %r" % (busy, queued))
    busy, job = busy.json()["id"], queued.json()["id"]
    try:
        for _ in range(16):  # --max-event-streams 8
            sock, _ = open_stream(job)
            vanish(sock)
        for _ in range(10):
            check(server.get("/healthz", timeout=5).status == 200, "/healthz after vanished streams")
        # Eight parked at once, then all gone at once.
        socks = [open_stream(job)[0] for _ in range(8)]
        for sock in socks:
            vanish(sock)
        deadline = time.time() + 1
        while event_streams_open() and time.time() < deadline:
            time.sleep(0.02)
        check(event_streams_open() == 0, "stream slots still taken a second after their clients left: %d"
              % event_streams_open())
        sock, data = open_stream(job)
    finally:
        server.post("/v1/jobs/%s/cancel" % busy)
    try:
        server.post("/v1/jobs/%s/cancel" % job)
        data = read_until(sock, data, b"event: end", 10)
        check(b"event: end" in data, "a new stream still ends: %r" % data[-300:])
    finally:
        sock.close()


def test_multipart_part_without_a_name():
    # Content-Disposition without name=: libmicrohttpd passes a NULL field
    # name, which the upload code compared with strcmp (a crash).
    boundary = "ftfuzz"
    csv = TINY.encode()
    for disposition in ('form-data; filename="t.csv"', "form-data"):
        body = ("--%s\r\nContent-Disposition: %s\r\nContent-Type: text/csv\r\n\r\n" % (boundary, disposition)).encode()
        body += csv + ("\r\n--%s--\r\n" % boundary).encode()
        r = server.request("POST", "/v1/datasets?name=noname", body,
                           content_type="multipart/form-data; boundary=" + boundary)
        check(r.status in (201, 400, 422), "upload with a nameless part: %r" % r)
        if r.status == 201:
            server.delete("/v1/datasets/" + r.json()["id"])
    # An IDX pair whose second part lost its name.
    body = ("--{b}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"i\"\r\n\r\nxx\r\n"
            "--{b}\r\nContent-Disposition: form-data; n\xff\xffe=\"labels\"; filename=\"l\"\r\n\r\nyy\r\n"
            "--{b}--\r\n").format(b=boundary).encode("latin-1")
    r = server.request("POST", "/v1/datasets", body, content_type="multipart/form-data; boundary=" + boundary)
    expect_error(r, 400, code="missing_file", param="labels")
    check(server.get("/healthz").status == 200, "server alive")


def test_non_utf8_path_in_an_error():
    # The 404 message quotes the path; its bytes must not make the reply
    # unencodable (it was a 500 "could not encode the response").
    r = raw_http(server, b"GET /v1(jo\x9es?status=dm\xeee HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(r.status == 404, "%r" % r)
    err = json.loads(r.body)["error"]
    check(err["code"] == "unknown_route", "%r" % err)
    r = raw_http(server, b"GET /v1/datasets/ds_\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(r.status == 404 and json.loads(r.body)["error"]["param"] == "id", "%r" % r)


def test_evaluate_rejected_selector():
    # ft_dataset_ref_parse fails after copying the id and the class names;
    # the route returned without freeing them (LeakSanitizer, see the
    # shutdown test below under make sanitize).
    url = "/v1/models/mdl_000000000000000000000000/evaluate"  # checked before the model is looked up
    for per_class in (0, -1, "x"):
        body = {"dataset": {"id": S["ds"], "classes": ["x", "y"], "per_class": per_class, "seed": 3}}
        expect_error(server.post(url, body), 422, param="dataset.per_class")
    expect_error(server.post(url, {"dataset": {"id": S["ds"], "classes": ["x", 1]}}), 422,
                 param="dataset.classes[1]")


def test_shutdown_is_clean():
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
