#!/usr/bin/python3
"""Connection and browser budgets of the HTTP layer (issue 10, items 5, 10, 11).

Scenarios:
- Routes that take no body (/healthz, /readyz, /metrics, GETs, DELETE,
  cancel) answer a body announced by Content-Length or chunked encoding with
  413 `body_not_allowed` and Connection: close, at once, without reading it.
- With --api-key and --connection-timeout 3, a chunked body trickled at one
  byte per second to /healthz is cut within the timeout plus a second, and
  300 such connections (plus unauthorised uploads) leave an authorised
  client answered in well under a second, with flat server memory.
- A body trickled to POST /v1/datasets by an authorised client is cut by the
  body deadline (the timeout plus 1 s per --min-body-rate bytes) although
  every byte restarts libmicrohttpd's idle timer; a body that keeps the rate
  goes through however long it takes.
- An error decided mid-body (413 past the cap, too many form fields) or at
  the head with a body pending (401) is answered and the connection closed
  at once, not drained to the end of the body.
- Without an API key, a Host that is not the listen address (or a loopback
  name when listening on loopback, or an --allowed-hosts name) gets 403
  `host_not_allowed` (DNS rebinding); with a key the Host is not checked.
- A state-changing request whose Origin is neither the server's own nor a
  --cors-origin gets 403 `origin_not_allowed`, including the multipart and
  text/plain posts a browser sends without a preflight.
- Listening on a non-loopback address without a key logs a warning.
- Plain multipart fields are bounded: at most 16 of at most 4096 bytes.
- Wrong API keys of every length are refused (the key is compared as a
  SHA-256 digest with nettle's memeql_sec, so neither its bytes nor its
  length show in the timing).
"""
import os
import socket
import threading
import time

from harness import Server, check, expect_error, main, wait_for

KEY = "budget-key-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + KEY}
TIMEOUT = 3


def rss_kb(server):
    with open("/proc/%d/status" % server.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_raw(server, head, timeout=10):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.sendall(head)
    return sock


def read_until_closed(sock, limit):
    """Read until the server closes; (bytes, seconds), seconds None if still open after limit."""
    t0 = time.time()
    buf = b""
    sock.settimeout(limit)
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                return buf, time.time() - t0
            buf += got
            if time.time() - t0 > limit:
                return buf, None
    except socket.timeout:
        return buf, None
    except ConnectionResetError:
        return buf, time.time() - t0


def status_of(buf):
    return int(buf.split(b" ")[1]) if buf.startswith(b"HTTP/1.") else None


def head(method, path, server, extra=b""):
    return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (method.encode(), path.encode(), server.port)) + extra


def test_no_body_routes_refuse_a_body_at_the_head():
    with Server("--api-key", KEY) as s:
        job = "job_000000000000000000000000"
        routes = [("GET", "/healthz", b""), ("GET", "/readyz", b""), ("GET", "/metrics", b""),
                  ("GET", "/v1/jobs", b"Authorization: Bearer %s\r\n" % KEY.encode()),
                  ("DELETE", "/v1/datasets/ds_000000000000000000000000",
                   b"Authorization: Bearer %s\r\n" % KEY.encode()),
                  ("POST", "/v1/jobs/%s/cancel" % job, b"Authorization: Bearer %s\r\n" % KEY.encode())]
        for method, path, auth in routes:
            for framing in (b"Content-Length: 1000\r\n", b"Transfer-Encoding: chunked\r\n"):
                # The body is announced, never sent: the answer cannot wait for it.
                sock = open_raw(s, head(method, path, s, auth + framing + b"\r\n"))
                buf, secs = read_until_closed(sock, 5)
                sock.close()
                check(status_of(buf) == 413 and b"body_not_allowed" in buf, "%s %s: %r" % (method, path, buf[:200]))
                check(b"Connection: close" in buf, "%s %s: no Connection: close" % (method, path))
                check(secs is not None and secs < 1, "%s %s: closed after %s s" % (method, path, secs))
        # Without a body the same routes answer as usual.
        check(s.get("/healthz").status == 200, "healthz")
        check(s.post("/v1/jobs/%s/cancel" % job, headers=AUTH).status == 404, "cancel without a body")
        s.stop_clean()


def trickle(socks, seconds, results, byte=b"1\r\na\r\n"):
    """Send one chunk a second on every socket; record when each one ends."""
    t0 = time.time()
    for sock in socks:
        sock.setblocking(False)
    while time.time() - t0 < seconds and len(results) < len(socks):
        for i, sock in enumerate(socks):
            if i in results:
                continue
            try:
                if sock.recv(65536) == b"":
                    results[i] = time.time() - t0
                    continue
            except BlockingIOError:
                pass
            except OSError:
                results[i] = time.time() - t0
                continue
            try:
                sock.send(byte)
            except BlockingIOError:
                pass
            except OSError:
                results[i] = time.time() - t0
        time.sleep(1)


def test_trickled_body_to_healthz_is_cut():
    with Server("--api-key", KEY, "--connection-timeout", str(TIMEOUT)) as s:
        sock = open_raw(s, head("GET", "/healthz", s, b"Transfer-Encoding: chunked\r\n\r\n"))
        results = {}
        trickle([sock], TIMEOUT + 5, results)
        sock.close()
        check(0 in results and results[0] <= TIMEOUT + 1, "a trickle to /healthz lasted %r s" % results.get(0))
        s.stop_clean()


def test_300_trickling_connections_leave_an_authorised_client_served():
    n = 300
    with Server("--api-key", KEY, "--connection-timeout", str(TIMEOUT), "--max-connections", "400",
                "--max-connections-per-ip", "400") as s:
        check(s.get("/v1/version", headers=AUTH).status == 200, "warm-up")
        rss0 = rss_kb(s)
        socks = []
        for i in range(n):
            # Half trickle to /healthz, half are unauthorised uploads: both refused at the head.
            h = (head("GET", "/healthz", s, b"Transfer-Encoding: chunked\r\n\r\n") if i % 2 == 0 else
                 head("POST", "/v1/datasets", s, b"Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"))
            socks.append(open_raw(s, h))
        results = {}
        t = threading.Thread(target=trickle, args=(socks, TIMEOUT + 5, results))
        t.start()
        slowest, served = 0.0, 0
        t_end = time.time() + TIMEOUT + 1
        while time.time() < t_end:
            t0 = time.time()
            r = s.get("/v1/version", headers=AUTH, timeout=10)
            slowest = max(slowest, time.time() - t0)
            check(r.status == 200, "%r" % r)
            served += 1
            time.sleep(0.05)
        t.join()
        for sock in socks:
            sock.close()
        cut = [secs for secs in results.values() if secs <= TIMEOUT + 1]
        check(len(cut) == n, "%d of %d trickling connections cut within %d s" % (len(cut), n, TIMEOUT + 1))
        check(slowest < 1, "the authorised client waited %.2f s" % slowest)
        grew = (rss_kb(s) - rss0) / 1024
        check(grew < 50, "server RSS grew by %.1f MB" % grew)
        print("  %d tricklers cut, authorised client served %d times, slowest %.0f ms, RSS +%.1f MB"
              % (len(cut), served, slowest * 1000, grew))
        s.stop_clean()


def test_trickled_upload_is_cut_by_the_body_deadline():
    with Server("--api-key", KEY, "--connection-timeout", str(TIMEOUT)) as s:
        sock = open_raw(s, head("POST", "/v1/datasets", s, b"Authorization: Bearer %s\r\nContent-Type: text/csv\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n" % KEY.encode()))
        results = {}
        t0 = time.time()
        trickle([sock], TIMEOUT + 6, results, byte=b"4\r\na,b\n\r\n")
        sock.close()
        # Each chunk restarts the idle timer: only the body deadline ends it.
        check(0 in results and TIMEOUT - 0.5 <= results[0] <= TIMEOUT + 1.5,
              "a trickled upload lasted %r s (%.1f s)" % (results.get(0), time.time() - t0))
        check("request body came slower than --min-body-rate" in s.log_text(), "the cut is logged")
        wait_for(lambda: os.listdir(os.path.join(s.data_dir, "tmp")) == [], timeout=5, what="temp files to go")
        check(s.get("/v1/datasets", headers=AUTH).json()["data"] == [], "nothing stored")
        # A body that keeps the rate (about 50 KB/s, over the timeout) goes through.
        rows = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(30000))
        sock = open_raw(s, head("POST", "/v1/datasets", s, b"Authorization: Bearer %s\r\nContent-Type: text/csv\r\n"
                                b"Content-Length: %d\r\n\r\n" % (KEY.encode(), len(rows))))
        t0 = time.time()
        piece = 10000
        for i in range(0, len(rows), piece):
            sock.sendall(rows[i:i + piece])
            time.sleep(0.2)
        buf, _ = read_until_closed(sock, 30)
        sock.close()
        check(time.time() - t0 > TIMEOUT, "fixture: the upload took longer than the timeout")
        check(status_of(buf) == 201, "a steady upload over %.1f s: %r" % (time.time() - t0, buf[:300]))
        s.stop_clean()


def test_errors_mid_body_close_the_connection():
    with Server("--api-key", KEY, "--max-upload-bytes", "4096") as s:
        auth = b"Authorization: Bearer %s\r\n" % KEY.encode()
        # 413 past the cap on a chunked body: answered and closed while the client still sends.
        sock = open_raw(s, head("POST", "/v1/datasets", s, auth + b"Content-Type: text/csv\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n") + b"1400\r\n" + b"1" * 0x1400 + b"\r\n")
        buf, secs = read_until_closed(sock, 5)
        sock.close()
        check(status_of(buf) == 413 and b"request_too_large" in buf, "%r" % buf[:300])
        check(b"Connection: close" in buf and secs is not None and secs < 1, "not closed: %s" % secs)
        # Too many form fields: 413 mid-body, closed although the body is unfinished.
        fields = b"".join(b"--zz\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n" % i for i in range(17))
        sock = open_raw(s, head("POST", "/v1/datasets", s, auth + b"Content-Type: multipart/form-data; boundary=zz\r\n"
                                b"Content-Length: 4000\r\n\r\n") + fields)
        buf, secs = read_until_closed(sock, 5)
        sock.close()
        check(status_of(buf) == 413 and b"too_many_fields" in buf, "%r" % buf[:300])
        check(secs is not None and secs < 1, "not closed: %s" % secs)
        # 401 with a body announced: refused at the head, the body never read.
        sock = open_raw(s, head("POST", "/v1/datasets", s, b"Content-Type: text/csv\r\nContent-Length: 100000\r\n\r\n"))
        buf, secs = read_until_closed(sock, 5)
        sock.close()
        check(status_of(buf) == 401 and b"Connection: close" in buf, "%r" % buf[:300])
        check(secs is not None and secs < 1, "not closed: %s" % secs)
        check(s.get("/healthz").status == 200, "alive")
        s.stop_clean()


def send_all_then_read(s, head_bytes, body, chunked=False):
    """A client as simple as Python's urllib: it sends the whole request,
    and only then reads the answer."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.sendall(head_bytes)
        step = 65536
        for i in range(0, len(body), step):
            part = body[i:i + step]
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        buf = b""
        while True:
            got = sock.recv(65536)
            if not got:
                return buf
            buf += got
    finally:
        sock.close()


def test_answer_before_the_body_reaches_a_client_that_sends_it_all():
    """An error decided before the body is read (413 from Content-Length, 401,
    413 past the cap mid-body) closes the connection without reading the
    body; a socket closed with unread data sends a reset, which used to
    destroy the answer before a client that sends everything first (urllib)
    could read it: it saw 'broken pipe' (test_disk_full's 507 failed now and
    then). The server now half-closes and discards what still arrives, for a
    bounded time, so such a client gets the answer every time."""
    body = b"1," * (4 << 20)  # 8 MiB: far more than socket buffers hold
    with Server("--api-key", KEY, "--max-upload-bytes", "65536") as s:
        auth = b"Authorization: Bearer %s\r\n" % KEY.encode()
        for _ in range(3):
            buf = send_all_then_read(s, head("POST", "/v1/datasets", s, auth + b"Content-Type: text/csv\r\n"
                                              b"Content-Length: %d\r\n\r\n" % len(body)), body)
            check(status_of(buf) == 413 and b"Connection: close" in buf, "413 at the head: %r" % buf[:200])
            buf = send_all_then_read(s, head("POST", "/v1/datasets", s, b"Content-Type: text/csv\r\n"
                                              b"Content-Length: %d\r\n\r\n" % len(body)), body)
            check(status_of(buf) == 401, "401 at the head: %r" % buf[:200])
            buf = send_all_then_read(s, head("POST", "/v1/datasets", s, auth + b"Content-Type: text/csv\r\n"
                                              b"Transfer-Encoding: chunked\r\n\r\n"), body, chunked=True)
            check(status_of(buf) == 413 and b"request_too_large" in buf, "413 mid-body: %r" % buf[:200])
        check(s.get("/healthz").status == 200, "alive")
        s.stop_clean()


def host_status(s, host, path="/healthz", headers=b""):
    sock = open_raw(s, b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n" % (path.encode(), host, headers))
    buf, _ = read_until_closed(sock, 5)
    sock.close()
    return status_of(buf), buf


def test_host_header_checked_without_a_key():
    with Server("--allowed-hosts", "api.example, Other.Example") as s:
        port = b"%d" % s.port
        for host in (b"127.0.0.1:" + port, b"localhost:" + port, b"[::1]:" + port, b"127.0.0.1",
                     b"api.example", b"api.example:443", b"OTHER.example:" + port):
            st, buf = host_status(s, host)
            check(st == 200, "Host %s: %r" % (host, buf[:200]))
        for host in (b"evil.example:" + port, b"evil.example", b"127.0.0.1:1", b"127.0.0.1.evil.example:" + port,
                     b"api.example.evil:" + port, b"[::1", b"0.0.0.0:" + port):
            st, buf = host_status(s, host)
            check(st == 403 and b"host_not_allowed" in buf, "Host %s: %r" % (host, buf[:300]))
        # The harness' own requests (Host: 127.0.0.1:PORT) pass.
        check(s.get("/v1/jobs").status == 200, "harness request")
        s.stop_clean()
    with Server(env={"FINETUNED_ALLOWED_HOSTS": "env.example"}) as s:
        check(host_status(s, b"env.example:1234")[0] == 200, "FINETUNED_ALLOWED_HOSTS")
        check(host_status(s, b"evil.example")[0] == 403, "others still refused")
        s.stop_clean()
    with Server("--api-key", KEY) as s:
        # With a key a rebinding page cannot authenticate: the Host is not checked.
        check(host_status(s, b"evil.example")[0] == 200, "healthz with a key")
        check(host_status(s, b"evil.example", "/v1/jobs")[0] == 401, "v1 without the key")
        check(host_status(s, b"evil.example", "/v1/jobs", b"Authorization: Bearer %s\r\n" % KEY.encode())[0] == 200,
              "v1 with the key")
        s.stop_clean()


def test_non_loopback_listen_without_a_key_warns():
    with Server("--listen", "0.0.0.0:0") as s:
        wait_for(lambda: "without an API key" in s.log_text(), timeout=5, what="the warning")
        port = b"%d" % s.port
        # Listening on every address: IP literals and loopback names pass, other names do not.
        for host, want in ((b"127.0.0.1:" + port, 200), (b"10.1.2.3:" + port, 200), (b"localhost:" + port, 200),
                           (b"evil.example:" + port, 403)):
            check(host_status(s, host)[0] == want, "Host %s" % host)
        s.stop_clean()
    for flags in (("--listen", "0.0.0.0:0", "--api-key", KEY), ()):
        with Server(*flags) as s:
            check(s.get("/healthz", headers=AUTH).status == 200, "up")
            check("without an API key" not in s.log_text(), "no warning with %r" % (flags,))
            s.stop_clean()


def test_foreign_origin_refused_for_state_changes():
    with Server("--cors-origin", "https://a.example") as s:
        own = "http://127.0.0.1:%d" % s.port
        csv = {"file": ("a.csv", b"a,b\n1,2\n3,4\n")}
        for origin in ("https://evil.example", "null", "http://127.0.0.1:1", "http://localhost:%d" % s.port):
            # A browser sends these without a preflight: they must not act.
            r = s.upload("/v1/datasets", csv, headers={"Origin": origin})
            expect_error(r, 403, code="origin_not_allowed")
            expect_error(s.post("/v1/jobs", '{"dataset": "ds_x"}', content_type="text/plain",
                                headers={"Origin": origin}), 403, code="origin_not_allowed")
            expect_error(s.delete("/v1/datasets/ds_000000000000000000000000", headers={"Origin": origin}), 403)
            # Reads are the browser's business (no CORS headers, so the page cannot see them).
            r = s.get("/v1/datasets", headers={"Origin": origin})
            check(r.status == 200 and r.headers["Access-Control-Allow-Origin"] is None, "%r" % r)
        check(s.get("/v1/datasets").json()["data"] == [], "nothing stored from a foreign origin")
        for origin in (own, "https://a.example"):
            r = s.upload("/v1/datasets", csv, headers={"Origin": origin})
            check(r.status == 201, "from %s: %r" % (origin, r))
        check(s.upload("/v1/datasets", csv).status == 201, "no Origin (curl)")
        s.stop_clean()


def test_multipart_plain_fields_are_bounded():
    with Server() as s:
        csv = {"file": ("a.csv", b"a,b\n1,2\n3,4\n")}
        ok = {"f%d" % i: "v" * 4096 for i in range(15)}
        ok["name"] = "fields"
        r = s.upload("/v1/datasets", csv, fields=ok)
        check(r.status == 201 and r.json()["name"] == "fields", "16 fields of 4 KB: %r" % r)
        many = {"f%d" % i: "v" for i in range(17)}
        expect_error(s.upload("/v1/datasets", csv, fields=many), 413, code="too_many_fields")
        expect_error(s.upload("/v1/datasets", csv, fields={"name": "x" * 4097}), 413, code="field_too_large")
        check(len(s.get("/v1/datasets").json()["data"]) == 1, "only the first upload is stored")
        wait_for(lambda: os.listdir(os.path.join(s.data_dir, "tmp")) == [], timeout=5, what="temp files to go")
        s.stop_clean()


def test_wrong_keys_of_every_length_are_refused():
    with Server("--api-key", KEY) as s:
        wrong = ["x" * n for n in range(0, 80)] + [KEY[:n] for n in range(len(KEY))] + \
                [KEY + "x", KEY + KEY, KEY.upper(), KEY[::-1], KEY[:-1] + "g"]
        for key in wrong:
            r = s.get("/v1/version", headers={"Authorization": "Bearer " + key})
            expect_error(r, 401, code="invalid_api_key")
        check(s.get("/v1/version", headers=AUTH).status == 200, "the right key")
        s.stop_clean()


if __name__ == "__main__":
    main(globals())
