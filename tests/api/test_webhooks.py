#!/usr/bin/python3
"""Webhooks (issue 14): endpoints with a secret shown once, Standard Webhooks
signatures checked here with Python's own hmac, exactly one event per ended
job, retries with backoff, a pending delivery that survives kill -9, and the
SSRF guard. Receivers are Python http.servers on 127.0.0.1 (so the main
server runs with --webhook-allow-private) and tiny retry delays."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import subprocess
import threading

from harness import (ROOT, Server, cancel_and_wait, check, expect_error, main, mlp_architecture, parse_metrics,
                     postgres_only, start_long_job, submit, upload_fashion, value, wait_for)

FAST = ["--webhook-retry-base", "50", "--webhook-retry-cap", "1", "--webhook-connect-timeout", "1",
        "--webhook-timeout", "2"]
EVENTS = ["job.succeeded", "job.failed", "job.cancelled", "sweep.completed"]

server = None
dataset = None


class Receiver:
    """An endpoint on 127.0.0.1 that records each POST (headers, body) and
    answers the next of `statuses`, then 200; with `hold`, it answers only
    once that threading.Event is set."""

    def __init__(self, statuses=(), port=0, hold=None):
        self.calls, self.statuses, self.answered = [], list(statuses), 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.calls.append((dict((k.lower(), v) for k, v in self.headers.items()), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                if hold:
                    hold.wait(120)
                reply = b"nope" if status >= 300 else b"thanks"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                outer.answered += 1

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n, timeout=60):
        wait_for(lambda: len(self.calls) >= n, timeout=timeout, what="%d webhook calls at %s" % (n, self.url))
        return self.calls

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signature(secret, headers, body):
    """The Standard Webhooks signature a receiver expects: HMAC-SHA256 with
    the base64-decoded secret over "{id}.{timestamp}.{body}"."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = b"%s.%s.%s" % (headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(secret, headers, body):
    """The check a receiver makes: the signature, the id's form, the type."""
    expected = signature(secret, headers, body)
    check(headers["webhook-signature"] == expected,
          "signature %r, expected %r" % (headers["webhook-signature"], expected))
    check(re.fullmatch(r"msg_[0-9a-f]{32}", headers["webhook-id"]), headers["webhook-id"])
    check(headers["content-type"] == "application/json", headers)
    return json.loads(body)


def conforms(schema, obj):
    """obj validates against docs/openapi.yaml's components/schemas/<schema>."""
    import jsonschema
    import yaml
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    resolver = jsonschema.RefResolver.from_schema(spec, id_of=lambda _: "")
    validator = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/" + schema}, resolver=resolver)
    errors = ["%s: %s" % ("/".join(map(str, e.path)), e.message) for e in validator.iter_errors(obj)]
    check(not errors, "%s does not match the spec: %s\n%s" % (schema, "; ".join(errors[:5]), json.dumps(obj)))


def close_numbers(got, full):
    """got holds exactly the numbers of full (the API rounds reals to 10
    digits, the payload does not)."""
    numbers = {k: v for k, v in full.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return set(got) == set(numbers) and all(abs(got[k] - v) <= 1e-9 * max(1, abs(v)) for k, v in numbers.items())


def register(srv, url, **fields):
    resp = srv.post("/v1/webhooks", dict(url=url, **fields))
    check(resp.status == 201, "register: %r" % resp)
    hook = resp.json()
    check(re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", hook["secret"]), hook)
    check(len(base64.b64decode(hook["secret"][6:])) == 32, "a 32-byte secret")
    return hook


def tiny_job(srv, ds=None, **extra):
    spec = {"dataset": (ds or dataset)["id"], "architecture": mlp_architecture([1, 28, 28], 10, (8,)), "epochs": 1}
    spec.update(extra)
    return submit(srv, spec)


def failing_job(srv):
    """A job whose dataset file is gone by the time a worker loads it."""
    ds = upload_fashion(srv, 32)
    os.unlink(os.path.join(srv.data_dir, "datasets", ds["id"] + ".safetensors"))
    return tiny_job(srv, ds)


def deliveries(srv, hook_id):
    resp = srv.get("/v1/webhooks/%s/deliveries" % hook_id)
    check(resp.status == 200, "deliveries: %r" % resp)
    return resp.json()["data"]


def webhook_metrics(srv):
    """This process's attempts by outcome, its attempt-time count, and the
    outbox by status, from /metrics."""
    f = parse_metrics(srv.get("/metrics").body.decode())
    return ({o: value(f, "finetuned_webhook_attempts_total", outcome=o) for o in ("delivered", "retry", "failed")},
            value(f, "finetuned_webhook_attempt_duration_seconds_count"),
            {s: value(f, "finetuned_webhook_deliveries", status=s) for s in ("pending", "delivered", "failed")})


def setup():
    global server, dataset
    server = Server("--webhook-allow-private", *FAST)
    dataset = upload_fashion(server, 64)


def test_secret_shown_once_and_endpoints_listed():
    hook = register(server, "https://example.com/hooks", description="ops")
    check(hook["events"] == EVENTS and hook["description"] == "ops" and hook["job"] is None, hook)
    got = server.get("/v1/webhooks/" + hook["id"]).json()
    check("secret" not in got and got["url"] == "https://example.com/hooks", got)
    listed = server.get("/v1/webhooks").json()["data"]
    check(any(h["id"] == hook["id"] for h in listed) and all("secret" not in h for h in listed), listed)
    check(server.delete("/v1/webhooks/" + hook["id"]).status == 200, "delete")
    expect_error(server.get("/v1/webhooks/" + hook["id"]), 404)
    expect_error(server.get("/v1/webhooks/%s/deliveries" % hook["id"]), 404)


def test_bad_endpoints_are_422():
    for body, param in [({}, "url"), ({"url": 5}, "url"), ({"url": "ftp://example.com/x"}, "url"),
                        ({"url": "not a url"}, "url"), ({"url": "http://"}, "url"),
                        ({"url": "https://example.com", "events": []}, "events"),
                        ({"url": "https://example.com", "events": "job.failed"}, "events"),
                        ({"url": "https://example.com", "events": ["job.exploded"]}, "events"),
                        ({"url": "https://example.com", "events": ["job.failed", "job.failed"]}, "events"),
                        ({"url": "https://example.com", "secret": "mine"}, "secret"),
                        ({"url": "https://example.com", "description": 7}, "description")]:
        expect_error(server.post("/v1/webhooks", body), 422, param=param)
    spec = {"dataset": dataset["id"], "architecture": mlp_architecture([1, 28, 28], 10, (8,)),
            "webhook": {"url": "gopher://example.com"}}
    expect_error(server.post("/v1/jobs", spec), 422, param="webhook.url")
    spec["webhook"] = {"url": "https://example.com", "events": ["job.nope"]}
    expect_error(server.post("/v1/jobs", spec), 422, param="webhook.events")


def test_signed_events_exactly_once_per_ended_job():
    """One endpoint for every event, one job's own webhook: a succeeded, a
    failed and a cancelled job give exactly their three events, signed."""
    everything, own = Receiver(), Receiver()
    hook = register(server, everything.url)
    try:
        resp = server.post("/v1/jobs", {"dataset": dataset["id"], "test": dataset["id"], "epochs": 1,
                                        "webhook": {"url": own.url},
                                        "architecture": mlp_architecture([1, 28, 28], 10, (8,))})
        check(resp.status == 201, "submit: %r" % resp)
        succeeded = resp.json()
        conforms("Job", succeeded)
        own_hook = succeeded["webhook"]
        check(set(own_hook) == {"id", "secret"} and own_hook["secret"].startswith("whsec_"), own_hook)
        got = server.get("/v1/jobs/" + succeeded["id"]).json()
        check("webhook" not in got and got["spec"]["webhook"] == {"url": own.url}, "the secret is shown once: %r"
              % got)
        check(server.get("/v1/webhooks/" + own_hook["id"]).json()["job"] == succeeded["id"], "own endpoint")
        check(server.wait_job(succeeded["id"], timeout=120)["status"] == "succeeded", "job 1")
        failed = failing_job(server)
        check(server.wait_job(failed["id"], timeout=120)["status"] == "failed", "job 2")
        running = start_long_job(server, dataset["id"])
        check(cancel_and_wait(server, running["id"])["status"] == "cancelled", "job 3")
        calls = everything.wait(3)
        events = sorted((p["type"], p["data"]["id"]) for p in (verify(hook["secret"], h, b) for h, b in calls))
        check(events == sorted([("job.succeeded", succeeded["id"]), ("job.failed", failed["id"]),
                                ("job.cancelled", running["id"])]), events)
        payload = next(verify(hook["secret"], h, b) for h, b in calls if b"job.succeeded" in b)
        job = server.get("/v1/jobs/" + succeeded["id"]).json()
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", payload["timestamp"]), payload)
        check(payload["data"]["fine_tuned_model"] == job["result_model"] and payload["data"]["status"] == "succeeded"
              and close_numbers(payload["data"]["test_metrics"], job["test_metrics"]), (payload, job["test_metrics"]))
        check("confusion_matrix" in job["test_metrics"] and payload["data"]["test_metrics"]["accuracy"] > 0,
              "the payload keeps the scalar metrics only: %r" % payload["data"]["test_metrics"])
        own_calls = own.wait(1)
        body = verify(own_hook["secret"], *own_calls[0])
        check(body["type"] == "job.succeeded" and body["data"]["id"] == succeeded["id"], body)
        # The receiver answers before the dispatcher records the attempt.
        ids = wait_for(lambda: (lambda ds: {d["id"]: d for d in ds} if all(d["attempts"] for d in ds) else None)(
            deliveries(server, hook["id"])), what="the attempts recorded")
        check(len(ids) == 3 and {h["webhook-id"] for h, _ in calls} == set(ids), ids)
        check(all(d["status"] == "delivered" and [a["http_status"] for a in d["attempts"]] == [200]
                  and d["attempts"][0]["response"] == "thanks" for d in ids.values()), ids)
        # Nothing more arrives: the next event after these is a fresh one.
        later = tiny_job(server)
        server.wait_job(later["id"], timeout=120)
        calls = everything.wait(4)
        check(len(calls) == 4 and b'"' + later["id"].encode() + b'"' in calls[3][1], "one event per ended job")
        check(len(own.calls) == 1, "a job's own webhook hears only that job: %r" % own.calls)
    finally:
        server.delete("/v1/webhooks/" + hook["id"])
        everything.close()
        own.close()


def test_sweep_completed_is_sent_once_with_the_counts():
    """The last job of a sweep to end queues sweep.completed with the
    sweep's completion, once, however often the sweep is read after."""
    rx = Receiver()
    hook = register(server, rx.url, events=["sweep.completed"])
    try:
        spec = {"dataset": dataset["id"], "test": dataset["id"], "epochs": 1,
                "architecture": mlp_architecture([1, 28, 28], 10, (8,))}
        resp = server.post("/v1/sweeps", {"spec": spec, "grid": {"optimizer.lr": [0.1, 0.01]}, "seeds": [1],
                                          "name": "hooked"})
        check(resp.status == 201, "sweep: %r" % resp)
        sweep = resp.json()
        wait_for(lambda: server.get("/v1/sweeps/" + sweep["id"]).json()["status"] == "completed",
                 timeout=120, what="the sweep to complete")
        body = verify(hook["secret"], *rx.wait(1)[0])
        check(body["type"] == "sweep.completed" and body["data"] == {
            "id": sweep["id"], "name": "hooked", "metric": "test.accuracy", "cancelled": False,
            "jobs": {"succeeded": 2, "failed": 0, "cancelled": 0}}, body)
        for _ in range(3):  # reads that find the sweep complete queue nothing more
            server.get("/v1/sweeps/" + sweep["id"])
        done = wait_for(lambda: (lambda ds: ds if ds and all(d["status"] == "delivered" for d in ds) else None)(
            deliveries(server, hook["id"])), what="the delivery recorded")
        check(len(done) == 1 and len(rx.calls) == 1, "sent once: %r" % done)
    finally:
        server.delete("/v1/webhooks/" + hook["id"])
        rx.close()


def test_fails_three_times_then_delivered_on_the_fourth():
    rx = Receiver(statuses=[500, 500, 503])
    hook = register(server, rx.url, events=["job.succeeded"])
    attempts_before, _, _ = webhook_metrics(server)
    try:
        job = tiny_job(server)
        server.wait_job(job["id"], timeout=120)
        calls = rx.wait(4)
        check(len({h["webhook-id"] for h, _ in calls}) == 1, "one webhook-id across retries")
        for h, b in calls:
            verify(hook["secret"], h, b)
        (d,) = wait_for(lambda: (lambda ds: ds if ds and ds[0]["status"] == "delivered" else None)(
            deliveries(server, hook["id"])), what="the delivery recorded as delivered")
        check([a["http_status"] for a in d["attempts"]] == [500, 500, 503, 200], d)
        conforms("WebhookDelivery", d)
        check([a["attempt"] for a in d["attempts"]] == [1, 2, 3, 4] and d["next_attempt_at"] is None, d)
        check(d["attempts"][0]["response"] == "nope" and "HTTP 500" in d["attempts"][0]["error"], d)
        starts = [a["started_at_ms"] for a in d["attempts"]]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        check(gaps[0] >= 50 and gaps[1] >= 100 and gaps[2] >= 200, "backoff 50, 100, 200 ms: gaps %r" % gaps)
        attempts, _, _ = webhook_metrics(server)
        check(attempts["retry"] - attempts_before["retry"] >= 3 and
              attempts["delivered"] - attempts_before["delivered"] >= 1,
              "attempts in /metrics: %r, before %r" % (attempts, attempts_before))
    finally:
        server.delete("/v1/webhooks/" + hook["id"])
        rx.close()


def test_slow_endpoint_holds_up_only_its_own_delivery():
    """One endpoint takes its time to answer (within --webhook-timeout);
    another endpoint's event is delivered meanwhile, by another sender."""
    srv = Server("--webhook-allow-private", "--webhook-timeout", "100", "--webhook-senders", "2")
    release = threading.Event()
    slow, fast = Receiver(hold=release), Receiver()
    try:
        ds = upload_fashion(srv, 64)
        register(srv, slow.url, events=["job.succeeded"])
        register(srv, fast.url, events=["job.failed"])
        srv.wait_job(tiny_job(srv, ds)["id"], timeout=120)
        slow.wait(1)
        srv.wait_job(failing_job(srv)["id"], timeout=120)
        fast.wait(1, timeout=30)
        check(slow.answered == 0, "the slow endpoint is still being waited for")
        release.set()
        wait_for(lambda: slow.answered == 1, what="the slow endpoint's answer")
        # Both are recorded: in this process's counters and in the outbox.
        attempts, timed, outbox = wait_for(lambda: (lambda m: m if m[2]["delivered"] == 2 else None)(
            webhook_metrics(srv)), what="both deliveries recorded in /metrics")
        check(attempts == {"delivered": 2, "retry": 0, "failed": 0} and timed == 2, (attempts, timed))
        check(outbox == {"pending": 0, "delivered": 2, "failed": 0}, outbox)
        check(len(fast.calls) == 1 and len(slow.calls) == 1, "one call each: %d, %d" % (len(fast.calls), len(slow.calls)))
    finally:
        release.set()
        srv.close()
        slow.close()
        fast.close()


def test_pending_delivery_survives_kill9():
    """The receiver is down; the server is killed with the delivery pending;
    after the restart the receiver is up and gets it, with the same id."""
    port = free_port()
    srv = Server("--webhook-allow-private", *FAST)
    rx = None
    try:
        ds = upload_fashion(srv, 64)
        hook = register(srv, "http://127.0.0.1:%d/hook" % port, events=["job.succeeded"])
        job = tiny_job(srv, ds)
        srv.wait_job(job["id"], timeout=120)
        (d,) = wait_for(lambda: (lambda ds: ds if ds and ds[0]["attempts"] else None)(deliveries(srv, hook["id"])),
                        what="a failed attempt")
        check(d["status"] == "pending" and d["attempts"][0]["http_status"] is None and
              d["attempts"][0]["error"], d)
        srv.kill9()
        rx = Receiver(port=port)
        srv.start()
        headers, body = rx.wait(1)[0]
        check(headers["webhook-id"] == d["id"], "webhook-id %r after the restart, %r before"
              % (headers["webhook-id"], d["id"]))
        check(verify(hook["secret"], headers, body)["data"]["id"] == job["id"], body)
    finally:
        srv.close()
        if rx:
            rx.close()


def test_ssrf_targets_refused():
    srv = Server(*FAST, "--webhook-max-age", "1")
    rx = Receiver()
    try:
        for url in ["http://127.0.0.1:%d/hook" % rx.port, "http://169.254.169.254/latest/meta-data",
                    "http://10.0.0.1/", "http://[::1]:8080/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
                    "https://192.168.1.10/", "http://[fd00::1]/", "http://[fe80::1]/"]:
            err = expect_error(srv.post("/v1/webhooks", {"url": url}), 422, param="url")
            check("refused" in err["message"] and "--webhook-allow-private" in err["message"], err)
        # A name is judged when it is resolved, at delivery: a failed attempt.
        hook = register(srv, "http://localhost:%d/hook" % rx.port, events=["job.succeeded"])
        ds = upload_fashion(srv, 64)
        srv.wait_job(tiny_job(srv, ds)["id"], timeout=120)
        (d,) = wait_for(lambda: (lambda ds: ds if ds and ds[0]["status"] == "failed" else None)(
            deliveries(srv, hook["id"])), what="the delivery given up")
        check(all("refused" in a["error"] and "loopback" in a["error"] and a["http_status"] is None
                  for a in d["attempts"]), d)
        check(rx.calls == [], "nothing reached the receiver")
    finally:
        srv.close()
        rx.close()


def test_deleting_an_endpoint_stops_its_deliveries():
    port = free_port()
    hook = register(server, "http://127.0.0.1:%d/hook" % port, events=["job.succeeded"])
    server.wait_job(tiny_job(server)["id"], timeout=120)
    wait_for(lambda: (lambda ds: ds and ds[0]["attempts"])(deliveries(server, hook["id"])), what="an attempt")
    check(server.delete("/v1/webhooks/" + hook["id"]).status == 200, "delete")
    rows = server.sql("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?", (hook["id"],))
    check(int(rows[0][0]) == 0, "pending deliveries left: %r" % rows)


@postgres_only
def test_every_role_delivers_once():
    """An API process and a worker process on one store: the worker's job
    is announced once (both dispatchers wake; one claims); with the API
    process gone, the worker's dispatcher still delivers."""
    api = Server("--role", "api", "--webhook-allow-private", *FAST, store="postgres")
    worker = Server("--role", "worker", "--webhook-allow-private", *FAST, data_dir=api.data_dir, store="postgres")
    rx = Receiver()
    try:
        hook = register(api, rx.url, events=["job.succeeded"])
        ds = upload_fashion(api, 64)
        first = tiny_job(api, ds)
        check(api.wait_job(first["id"], timeout=120)["status"] == "succeeded", "the worker ran it")
        rx.wait(1)
        # The API process dies as soon as it has queued the next job: the
        # worker ends the job, and its own dispatcher sends the event.
        second = tiny_job(api, ds)
        api.kill9()
        calls = rx.wait(2)
        ids = [verify(hook["secret"], h, b)["data"]["id"] for h, b in calls]
        check(ids == [first["id"], second["id"]], "one event per job, in order: %r" % ids)
    finally:
        worker.close()
        api.close()
        rx.close()


def test_readme_example():
    """README's webhook section runs as written against a live server."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    start, end = readme.index("<!-- webhooks:start -->"), readme.index("<!-- webhooks:end -->")
    script = "\n".join(re.findall(r"```sh\n(.*?)```", readme[start:end], re.S))
    rx = Receiver()
    try:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, FT=server.url, HOOK_URL=rx.url, DATASET=dataset["id"]))
        check(p.returncode == 0, "README webhook example failed:\n%s\n%s" % (p.stdout, p.stderr))
        created = json.loads(p.stdout.splitlines()[0])
        check(created["secret"].startswith("whsec_") and created["url"] == rx.url, p.stdout)
        # Two deliveries, in either order (the senders work side by side):
        # the registered endpoint's and the job's own, each signed with its
        # endpoint's secret (the script prints the job's only in part).
        calls = rx.wait(2)
        mine = [c for c in calls if c[0]["webhook-signature"] == signature(created["secret"], *c)]
        check(len(mine) == 1, "one call signed with the registered endpoint's secret: %r" % [h for h, _ in calls])
        check(verify(created["secret"], *mine[0])["type"] == "job.succeeded", mine[0][1])
        other = next(c for c in calls if c is not mine[0])
        check(json.loads(other[1])["type"] == "job.succeeded" and other[0]["webhook-id"] != mine[0][0]["webhook-id"],
              other)
        server.delete("/v1/webhooks/" + created["id"])
    finally:
        rx.close()


def test_shutdown_is_clean():
    """SIGTERM stops the dispatcher with the rest: exit 0, no sanitizer report."""
    srv = Server("--webhook-allow-private", *FAST)
    rx = Receiver()
    try:
        register(srv, rx.url)
        srv.wait_job(tiny_job(srv, upload_fashion(srv, 64))["id"], timeout=120)
        rx.wait(1)
        srv.stop_clean()
    finally:
        srv.close()
        rx.close()


def teardown():
    if server:
        server.close()


main(globals())
