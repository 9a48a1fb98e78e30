#!/usr/bin/python3
"""Load test (issue 7): for DURATION seconds (default 60), at the same time
  - a CNN trains on Fashion-MNIST (one worker),
  - wrk hammers GET /v1/jobs/{id} and GET /v1/jobs (2 threads, 32 connections),
  - SUBMITTERS threads submit small jobs, cancel every tenth and read it back,
while the server's RSS is sampled every second. Afterwards every acknowledged
job must reach a terminal status. Prints the figures and exits non-zero on
any error, lost job or RSS growth above 20% between the first and last
quarters of the run.

usage: bench/load_test.py [DURATION] [SUBMITTERS]      (FT_BUILD selects the build)"""
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, os.environ.get("FT_BUILD", "build"), "finetuned")
FASHION = "/usr/share/datasets/fashion-mnist"
DURATION = int(sys.argv[1]) if len(sys.argv) > 1 else 60
SUBMITTERS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
TERMINAL = ("succeeded", "failed", "cancelled")


def call(port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def multipart(fields):
    boundary = "loadtestboundary%d" % random.getrandbits(32)
    parts = []
    for name, (filename, data) in fields.items():
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode()
                     + data + b"\r\n")
    return b"".join(parts) + ("--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="ft-load-")
    port_file = os.path.join(tmp, "port")
    log = open(os.path.join(tmp, "server.log"), "wb")
    server = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
                               "--data-dir", os.path.join(tmp, "data"), "--workers", "2", "--blas-threads", "1",
                               "--max-connections-per-ip", "256"], stdout=log, stderr=log)
    try:
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            time.sleep(0.05)
        port = int(open(port_file).read())
        return run(port, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def run(port, pid):
    def upload(fields, query=""):
        body, ctype = multipart(fields)
        status, data = call(port, "POST", "/v1/datasets" + query, body, {"Content-Type": ctype})
        assert status == 201, (status, data)
        return json.loads(data)["id"]

    fashion = upload({"images": ("i.gz", open(FASHION + "/train-images-idx3-ubyte.gz", "rb").read()),
                      "labels": ("l.gz", open(FASHION + "/train-labels-idx1-ubyte.gz", "rb").read())})
    rng = random.Random(1)
    rows = "\n".join("%f,%f,%f,%s" % (rng.random(), rng.random(), rng.random(), rng.choice("ab")) for _ in range(200))
    small = upload({"file": ("small.csv", ("x1,x2,x3,y\n" + rows + "\n").encode())})
    json_headers = {"Content-Type": "application/json"}
    cnn = {"input": [1, 28, 28], "layers": [
        {"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
        {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
        {"type": "dense", "units": 64, "activation": "relu"}, {"type": "dense", "units": 10, "activation": "softmax"}]}
    status, data = call(port, "POST", "/v1/jobs", json.dumps(
        {"dataset": fashion, "architecture": cnn, "epochs": 1000, "validation": {"split": 0.05}}), json_headers)
    assert status == 201, (status, data)
    training = json.loads(data)["id"]
    while json.loads(call(port, "GET", "/v1/jobs/" + training)[1])["status"] != "running":
        time.sleep(0.1)

    small_spec = json.dumps({"dataset": small, "epochs": 2, "architecture": {"input": [3], "layers": [
        {"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 2, "activation": "softmax"}]}})
    acknowledged, errors, lock = [], [], threading.Lock()
    stop = threading.Event()

    def submitter(seed):
        r = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while not stop.is_set():
            try:
                conn.request("POST", "/v1/jobs", small_spec, json_headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 201:
                    with lock:
                        errors.append("submit %d %s" % (resp.status, body[:200]))
                    continue
                job = json.loads(body)["id"]
                with lock:
                    acknowledged.append(job)
                n += 1
                if n % 10 == 0:
                    conn.request("POST", "/v1/jobs/%s/cancel" % job)
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status not in (200, 409):  # 409: it had already finished
                        with lock:
                            errors.append("cancel %d" % resp.status)
                conn.request("GET", "/v1/jobs/" + job)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    with lock:
                        errors.append("get %d" % resp.status)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors.append("submitter: %r" % e)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            time.sleep(r.uniform(0.05, 0.15))
        conn.close()

    rss = []

    def sampler():
        while not stop.is_set():
            rss.append(rss_kib(pid))
            stop.wait(1.0)

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(SUBMITTERS)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    wrk = subprocess.run(["wrk", "-t2", "-c32", "-d%ds" % DURATION, "--latency",
                          "-s", os.path.join(ROOT, "bench", "load_test.lua"),
                          "http://127.0.0.1:%d/v1/jobs/%s" % (port, training)],
                         capture_output=True, text=True)
    stop.set()
    for t in threads:
        t.join()
    progress = json.loads(call(port, "GET", "/v1/jobs/" + training)[1])
    call(port, "POST", "/v1/jobs/%s/cancel" % training)

    # Every acknowledged job reaches a terminal status.
    deadline = time.time() + 300
    pending = set(acknowledged) | {training}
    while pending and time.time() < deadline:
        for job in list(pending):
            status, data = call(port, "GET", "/v1/jobs/" + job)
            if status == 200 and json.loads(data)["status"] in TERMINAL:
                pending.discard(job)
        time.sleep(0.5)
    statuses = {}
    for job in acknowledged:
        s = json.loads(call(port, "GET", "/v1/jobs/" + job)[1])["status"]
        statuses[s] = statuses.get(s, 0) + 1

    def field(name):
        for line in wrk.stdout.splitlines():
            if line.strip().startswith(name):
                return line.split()[1]
        return "?"
    non_2xx = 0
    for line in wrk.stdout.splitlines():
        if "Non-2xx" in line:
            non_2xx = int(line.split()[-1])
        if "Socket errors" in line:
            errors.append("wrk: " + line.strip())
    if non_2xx:
        errors.append("wrk: %d non-2xx responses" % non_2xx)
    quarter = max(1, len(rss) // 4)
    first, last = sum(rss[:quarter]) / quarter, sum(rss[-quarter:]) / quarter
    growth = (last - first) / first
    print("duration                   %d s, %d submitters, wrk 2 threads x 32 connections" % (DURATION, SUBMITTERS))
    print("wrk GET /v1/jobs/{id} + /v1/jobs  %s req/s, p50 %s, p99 %s, %d non-2xx" %
          (field("Requests/sec"), field("50%"), field("99%"), non_2xx))
    print("jobs submitted (201)       %d (%.1f/s), final statuses %s, lost %d" %
          (len(acknowledged), len(acknowledged) / DURATION, json.dumps(statuses, sort_keys=True), len(pending)))
    print("training job meanwhile     epoch %s, %.0f samples/s" %
          (progress["progress"]["epoch"], progress["progress"]["samples_per_second"] or 0))
    print("server RSS                 first quarter %.1f MiB, last quarter %.1f MiB (%+.1f%%), max %.1f MiB" %
          (first / 1024, last / 1024, 100 * growth, max(rss) / 1024))
    print("errors                     %d%s" % (len(errors), "".join("\n  " + e for e in errors[:20])))
    ok = not errors and not pending and growth < 0.20
    print("load test: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
