#!/usr/bin/python3
"""Heavy handlers run off the HTTP threads (issue 10, item 6).

Scenarios, against the real binary:
- Four concurrent evaluations of a 200,000-row dataset: each used to run
  inside an HTTP request thread, so with the default four threads nothing
  else (not even /healthz) was answered until one finished. They now run on
  the request pool (--heavy-threads), and /healthz keeps a p99 under 100 ms
  the whole time; all four still answer 200 with their metrics.
- A full pool answers at once: with one pool thread and no waiting room, a
  second evaluation while one runs gets 503 `server_busy` with Retry-After,
  and once the first is done the next one is accepted again. Job submits,
  uploads and predictions take the same path.
"""
import json
import struct
import threading
import time

from harness import Server, check, expect_error, main, wait_for

ROWS, FEATURES, CLASSES = 200_000, 64, 10


def safetensors_dataset(rows, features, classes):
    """x: U8 [rows, features], y: I64 [rows] (classes in turn)."""
    x = bytes((i * 7 + j * 13) % 251 for i in range(64) for j in range(features)) * (rows // 64)
    x += bytes(((rows // 64) * 64 + i) % 251 for i in range(rows % 64 * features))
    y = b"".join(struct.pack("<q", i % classes) for i in range(rows))
    header = {"x": {"dtype": "U8", "shape": [rows, features], "data_offsets": [0, len(x)]},
              "y": {"dtype": "I64", "shape": [rows], "data_offsets": [len(x), len(x) + len(y)]}}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + x + y


def heavy_requests(server):
    for line in server.get("/metrics").body.decode().splitlines():
        if line.startswith("finetuned_heavy_requests "):
            return int(line.split()[1])
    raise AssertionError("no finetuned_heavy_requests in /metrics")


def trained_model(server, dataset):
    """A small MLP trained for one epoch on 200 rows of the dataset."""
    spec = {"dataset": {"id": dataset, "classes": list(range(CLASSES)), "per_class": 20, "seed": 0},
            "architecture": {"input": [FEATURES], "layers": [
                {"type": "dense", "units": 512, "activation": "relu"},
                {"type": "dense", "units": 512, "activation": "relu"},
                {"type": "dense", "units": CLASSES, "activation": "softmax"}]},
            "epochs": 1}
    r = server.post("/v1/jobs", spec)
    check(r.status == 201, "%r" % r)
    job = server.wait_job(r.json()["id"])
    check(job["status"] == "succeeded", "%r" % job)
    return job["result_model"]


def stop(server):
    """A clean exit (no sanitizer report) with requests having gone through the pool."""
    try:
        server.stop_clean()
    finally:
        server.close()


def setup_server(*flags):
    server = Server(*flags)
    r = server.upload("/v1/datasets?name=big", {"file": ("big.safetensors", safetensors_dataset(ROWS, FEATURES, CLASSES))})
    check(r.status == 201 and r.json()["rows"] == ROWS, "%r" % r)
    dataset = r.json()["id"]
    return server, dataset, trained_model(server, dataset)


def test_evaluations_do_not_stall_healthz():
    server, dataset, model = setup_server()
    try:
        results = []

        def evaluate():
            results.append(server.post("/v1/models/%s/evaluate" % model, {"dataset": dataset}, timeout=300))

        threads = [threading.Thread(target=evaluate) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: heavy_requests(server) > 0, timeout=30, what="the evaluations to start")
        latencies = []
        while any(t.is_alive() for t in threads):
            t0 = time.time()
            check(server.get("/healthz", timeout=10).status == 200, "/healthz")
            latencies.append(time.time() - t0)
            time.sleep(0.01)
        for t in threads:
            t.join()
        check(len(latencies) >= 20, "the evaluations ended too soon to measure (%d samples)" % len(latencies))
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print("healthz: %d samples, p99 %.1f ms, max %.1f ms" % (len(latencies), p99 * 1000, latencies[-1] * 1000))
        check(p99 < 0.1, "/healthz p99 %.0f ms while four evaluations ran (%d samples)" % (p99 * 1000, len(latencies)))
        check([r.status for r in results] == [200] * 4, "evaluations: %r" % results)
        for r in results:
            check(0 <= r.json()["accuracy"] <= 1, "metrics: %r" % r)
    finally:
        stop(server)


def test_full_pool_answers_503_with_retry_after():
    server, dataset, model = setup_server("--heavy-threads", "1", "--heavy-queue", "0")
    try:
        first = []
        t = threading.Thread(target=lambda: first.append(
            server.post("/v1/models/%s/evaluate" % model, {"dataset": dataset}, timeout=300)))
        t.start()
        wait_for(lambda: heavy_requests(server) == 1, timeout=30, what="the first evaluation to run")
        t0 = time.time()
        busy = server.post("/v1/models/%s/evaluate" % model, {"dataset": dataset})
        check(time.time() - t0 < 1, "a full pool answered after %.1f s" % (time.time() - t0))
        expect_error(busy, 503, "server_busy")
        check(busy.headers.get("Retry-After") == "1", "Retry-After: %r" % busy.headers.get("Retry-After"))
        t.join()
        check(first[0].status == 200, "the first evaluation: %r" % first[0])
        check(heavy_requests(server) == 0, "the pool is empty again")
        again = server.post("/v1/models/%s/evaluate" % model, {"dataset": {"id": dataset, "classes": list(range(CLASSES)), "per_class": 5}})
        check(again.status == 200, "accepted again once the pool is free: %r" % again)
    finally:
        stop(server)


if __name__ == "__main__":
    main(globals())
