#!/usr/bin/python3
"""/metrics and the logs after a real workload: `promtool check metrics`
(Debian's prometheus package) accepts the exposition, every metric family
the operations issue asks for is there with sensible values, client-chosen
methods cannot mint label values, and --log-format json writes one JSON line
per request (method, route, status, duration, request id, echoed as
X-Request-Id) and per job transition."""
import json
import re
import shutil
import subprocess

from harness import Server, check, main, parse_metrics, value, wait_for

server = None
S = {}

CSV = "x1,x2,label\n" + "".join("%.3f,%.3f,%s\n" % (i / 40, (i * 7 % 40) / 40, "pos" if (i + i * 7 % 40) > 40 else "neg")
                                  for i in range(40))
MLP = {"input": [2], "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                {"type": "dense", "units": 2, "activation": "softmax"}]}


def setup():
    global server
    server = Server("--log-format", "json")
    r = server.upload("/v1/datasets", {"file": ("tiny.csv", CSV.encode())}, query="?name=tiny")
    check(r.status == 201, "upload: %r" % r)
    S["ds"] = r.json()
    r = server.post("/v1/jobs", {"dataset": S["ds"]["id"], "architecture": MLP, "epochs": 1})
    check(r.status == 201, "submit: %r" % r)
    S["job"] = server.wait_job(r.json()["id"], timeout=60)
    check(S["job"]["status"] == "succeeded", "job: %r" % S["job"])
    server.get("/v1/jobs/%s/metrics" % S["job"]["id"])
    server.get("/v1/datasets/ds_000000000000000000000000")  # a 404
    server.request("BREW", "/healthz")                       # a made-up method: 405
    r = server.get("/metrics")
    check(r.status == 200, "/metrics: %r" % r)
    S["metrics_resp"] = r
    S["text"] = r.body.decode()
    S["families"] = parse_metrics(S["text"])


def test_promtool_accepts_metrics():
    promtool = shutil.which("promtool")
    check(promtool, "promtool is not installed: run deploy/install-deps.sh --test (Debian package prometheus)")
    p = subprocess.run([promtool, "check", "metrics"], input=S["text"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          "promtool check metrics (exit %d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
    ctype = S["metrics_resp"].headers.get("Content-Type", "")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype, "Content-Type %r" % ctype)


def test_http_request_families():
    f = S["families"]
    check(f["finetuned_http_requests_total"]["type"] == "counter", "requests type")
    check(value(f, "finetuned_http_requests_total", route="/v1/datasets", method="POST", status="201") == 1,
          "upload not counted")
    check(value(f, "finetuned_http_requests_total", route="/v1/jobs", method="POST", status="201") == 1,
          "submit not counted")
    check(value(f, "finetuned_http_requests_total", route="/v1/datasets/{id}", method="GET", status="404") == 1,
          "404 not counted under its route pattern")
    # Routes are patterns, never raw paths (bounded cardinality).
    routes = {lab["route"] for _, lab, _ in f["finetuned_http_requests_total"]["samples"]}
    check(not any(re.search(r"(ds|job|mdl)_[0-9a-f]{24}", r) for r in routes), "raw ids in route labels: %r" % routes)
    hist = f["finetuned_http_request_duration_seconds"]
    check(hist["type"] == "histogram", "duration type %r" % hist["type"])
    inf = value(f, "finetuned_http_request_duration_seconds_bucket", route="/v1/jobs", le="+Inf")
    count = value(f, "finetuned_http_request_duration_seconds_count", route="/v1/jobs")
    check(inf == count >= 1, "histogram +Inf %r != count %r" % (inf, count))


def test_client_methods_do_not_mint_labels():
    f = S["families"]
    methods = {lab["method"] for _, lab, _ in f["finetuned_http_requests_total"]["samples"]}
    check("BREW" not in methods, "a client's method became a label value: %r" % methods)
    check(value(f, "finetuned_http_requests_total", route="unmatched", method="OTHER", status="405") == 1,
          "made-up method not counted as OTHER: %r" % methods)


def test_job_families():
    f = S["families"]
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        value(f, "finetuned_jobs", status=status)
    check(value(f, "finetuned_jobs", status="succeeded") == 1, "jobs{succeeded}")
    check(value(f, "finetuned_queue_depth") == 0, "queue depth")
    check(value(f, "finetuned_jobs_running") == 0, "jobs running after the job ended")
    value(f, "finetuned_training_samples_per_second")
    check(value(f, "finetuned_jobs_finished_total", status="succeeded") == 1, "finished total")
    check(f["finetuned_job_duration_seconds"]["type"] == "histogram", "job duration type")
    check(value(f, "finetuned_job_duration_seconds_count") == 1, "job duration count")
    check(value(f, "finetuned_job_duration_seconds_bucket", le="+Inf") == 1, "job duration +Inf")


def test_storage_families():
    f = S["families"]
    check(value(f, "finetuned_datasets") == 1 and value(f, "finetuned_datasets_bytes") == S["ds"]["bytes"],
          "dataset figures")
    model = server.get("/v1/models/" + S["job"]["result_model"]).json()
    check(value(f, "finetuned_models") == 1 and value(f, "finetuned_models_bytes") == model["bytes"],
          "model figures")
    for name in ("process_start_time_seconds", "process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "finetuned_build_info"):
        value(f, name)


def test_running_job_and_throughput():
    """While a job trains: running 1, queue depth 0, throughput above 0.
    batch_size 4: several steps per epoch, as the throughput is sampled
    between steps."""
    r = server.post("/v1/jobs", {"dataset": S["ds"]["id"], "architecture": MLP, "epochs": 100000,
                                 "batch_size": 4})
    check(r.status == 201, "%r" % r)
    job_id = r.json()["id"]
    try:
        def busy():
            f = parse_metrics(server.get("/metrics").body.decode())
            ok = (value(f, "finetuned_jobs_running") == 1 and value(f, "finetuned_jobs", status="running") == 1 and
                  value(f, "finetuned_training_samples_per_second") > 0)
            return f if ok else None
        f = wait_for(busy, timeout=30, what="a running job with throughput in /metrics")
        check(value(f, "finetuned_queue_depth") == 0, "queue depth while running")
    finally:
        server.post("/v1/jobs/%s/cancel" % job_id)
        server.wait_job(job_id, timeout=30)
    f = parse_metrics(server.get("/metrics").body.decode())
    check(value(f, "finetuned_jobs_running") == 0, "running after cancel")
    check(value(f, "finetuned_jobs_finished_total", status="cancelled") == 1, "cancelled not counted")


def log_lines():
    lines = []
    for line in server.log_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_json_request_log_and_request_id():
    r = server.get("/v1/version", headers={"X-Request-Id": "trace-abc.123"})
    check(r.headers.get("X-Request-Id") == "trace-abc.123", "X-Request-Id not echoed: %r" % dict(r.headers))
    r2 = server.get("/v1/version")
    generated = r2.headers.get("X-Request-Id", "")
    check(re.match(r"^req_[0-9a-f]{24}$", generated), "generated request id %r" % generated)

    def logged():
        return [l for l in log_lines() if l.get("event") == "request" and l.get("request_id") == "trace-abc.123"]
    line = wait_for(logged, timeout=30, what="the request's log line")[0]
    for key in ("ts", "method", "route", "status", "ms"):
        check(key in line, "request log line lacks %s: %r" % (key, line))
    check(line["method"] == "GET" and line["route"] == "/v1/version" and line["status"] == "200", "%r" % line)
    float(line["ms"])
    # Every line the server wrote is JSON.
    text = server.log_text().strip().splitlines()
    bad = [l for l in text if not l.startswith("{")]
    check(not bad, "non-JSON log lines with --log-format json: %r" % bad[:3])


def test_job_transitions_logged():
    events = [(l.get("event"), l.get("job")) for l in log_lines()]
    job = S["job"]["id"]
    for event in ("job_queued", "job_started", "job_finished"):
        check((event, job) in events, "no %s log line for %s: %r" % (event, job, events[-20:]))
    finished = [l for l in log_lines() if l.get("event") == "job_finished" and l.get("job") == job][0]
    check(finished.get("outcome") == "succeeded", "%r" % finished)


def teardown():
    if server:
        if server.proc and server.proc.poll() not in (None, 0):
            print("server exited with %s; its log:\n%s" % (server.proc.returncode, server.log_text()[-4000:]))
        server.close()


if __name__ == "__main__":
    main(globals())
