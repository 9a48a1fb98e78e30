#!/usr/bin/python3
"""Budgets of jobs, model inputs and predict requests (issue 10, items 2, 8
and 11) against the real service, each asserting the status, the time taken
and the growth of the server's resident memory (/proc/PID/status):

- A 250-byte spec whose architecture (input [1000], dense 1000000, dense 2)
  does not fit its 2-column CSV dataset is refused (422, the shape mismatch)
  in well under a second without growing the server: the plan builds only a
  layout, never the 4 GB of weights.
- The same architecture on a 1000-column dataset fits the data but not the
  budget (FINETUNED_MAX_JOB_MEMORY=2G): 422 job_too_large naming the estimate
  and the budget, again fast and flat.
- A job queued under a large budget, then a restart with a smaller
  --max-job-memory: the worker plans again before it allocates and fails the
  job with the budget error instead of being OOM-killed.
- A selector that lists a class twice, in dataset, validation or test of a
  job or in evaluate: 422 naming the repeated entry.
- An uploaded model whose input claims 2^32 values per sample, or
  [1, 2^31, 2^31]: refused at upload (400), no overflow.
- A predict body whose rows would need more memory than a request may use:
  413 predict_too_large before any buffer is allocated."""
import json
import struct
import time

from harness import (Server, check, csv_text, expect_error, mlp_architecture, main, start_long_job, submit,
                     upload_fashion, cancel_and_wait)

server = None
S = {}
HUGE = [{"type": "dense", "units": 1000000, "activation": "relu"}, {"type": "dense", "units": 2, "activation": "softmax"}]


def rss_kb(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def timed(fn):
    """(result, seconds, RSS growth in MB) of fn() on the module's server."""
    before = rss_kb(server)
    t0 = time.time()
    out = fn()
    return out, time.time() - t0, (rss_kb(server) - before) / 1024


def upload_csv(srv, columns, rows):
    header = ["f%d" % i for i in range(columns)] + ["label"]
    body = csv_text(header, [[(r * 7 + c) % 5 for c in range(columns)] + ["ab"[r % 2]] for r in range(rows)])
    resp = srv.post("/v1/datasets", body, content_type="text/csv")
    check(resp.status == 201, "CSV upload: %r" % resp)
    return resp.json()


def setup():
    global server
    server = Server(env={"FINETUNED_MAX_JOB_MEMORY": "2G"})
    S["narrow"] = upload_csv(server, 2, 20)
    S["wide"] = upload_csv(server, 1000, 8)
    S["fashion"] = upload_fashion(server, 100)


def test_shape_mismatch_is_refused_before_anything_is_built():
    """2-column CSV, architecture input [1000] -> dense 1000000 -> dense 2:
    422 on architecture.input in < 1 s, RSS growth < 50 MB."""
    spec = {"dataset": S["narrow"]["id"], "architecture": {"input": [1000], "layers": HUGE}}
    check(len(json.dumps(spec)) < 300, "the scenario is a small spec")
    resp, secs, grown = timed(lambda: server.post("/v1/jobs", spec))
    err = expect_error(resp, 422, param="architecture.input")
    check("[2]" in err["message"] and "[1000]" in err["message"], err["message"])
    check(secs < 1.0, "took %.2f s" % secs)
    check(grown < 50, "RSS grew by %.0f MB" % grown)


def test_shape_consistent_huge_job_is_refused_by_the_budget():
    """1000-column CSV with the same architecture: the shapes fit, the ~12 GiB
    estimate does not fit the 2 GiB budget: 422 job_too_large, < 1 s, flat RSS."""
    spec = {"dataset": S["wide"]["id"], "architecture": {"input": [1000], "layers": HUGE}}
    resp, secs, grown = timed(lambda: server.post("/v1/jobs", spec))
    err = expect_error(resp, 422, code="job_too_large")
    check("2.0 GiB budget" in err["message"] and "needs an estimated" in err["message"], err["message"])
    estimate = float(err["message"].split("needs an estimated ")[1].split(" GiB")[0])
    # 1e9 floats of weights, gradients and one optimiser slot (SGD momentum) is 11.2 GiB.
    check(11 < estimate < 13, err["message"])
    spec["optimizer"] = {"type": "adam"}
    err = expect_error(server.post("/v1/jobs", spec), 422, code="job_too_large")
    check("optimizer state 7.5 GiB" in err["message"], "Adam keeps two moments: %r" % err["message"])
    check(secs < 1.0, "took %.2f s" % secs)
    check(grown < 50, "RSS grew by %.0f MB" % grown)


def test_batch_size_drives_the_activation_estimate():
    """A small model with a batch too big for the budget points at batch_size."""
    spec = {"dataset": S["wide"]["id"], "batch_size": 65536,
            "architecture": mlp_architecture([1000], 2, hidden=(8192,))}
    expect_error(server.post("/v1/jobs", spec), 422, code="job_too_large", param="batch_size")
    spec["batch_size"] = 8
    check(server.post("/v1/jobs", spec).status == 201, "the same job with a small batch fits")


def test_duplicate_selector_classes_are_refused():
    """classes [1, 1] in dataset, validation and test of a job, and in
    evaluate: 422 with param naming the repeated entry."""
    ds = S["fashion"]["id"]
    arch = mlp_architecture([1, 28, 28], 2)
    sel = {"id": ds, "classes": [1, 1]}
    expect_error(server.post("/v1/jobs", {"dataset": sel, "architecture": arch}), 422, param="dataset.classes[1]")
    ok = {"id": ds, "classes": [0, 1]}
    expect_error(server.post("/v1/jobs", {"dataset": ok, "validation": sel, "architecture": arch}), 422,
                 param="validation.classes[1]")
    expect_error(server.post("/v1/jobs", {"dataset": ok, "test": {"id": ds, "classes": ["T-shirt/top", "Trouser",
                                                                                          "T-shirt/top"]},
                                          "architecture": arch}), 422, param="test.classes[2]")
    job = server.wait_job(submit(server, {"dataset": ok, "architecture": arch, "epochs": 1})["id"], timeout=120)
    check(job["status"] == "succeeded", "fixture job: %r" % job)
    resp = server.post("/v1/models/%s/evaluate" % job["result_model"], {"dataset": sel})
    expect_error(resp, 422, param="dataset.classes[1]")


def safetensors_model(architecture, tensors):
    """A finetuned model file: F32 zero tensors {name: shape} and the architecture."""
    header, offset = {"__metadata__": {"format": "finetuned.model.v1", "architecture": json.dumps(architecture)}}, 0
    for name, shape in tensors.items():
        size = 4
        for d in shape:
            size *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"\0" * offset


def test_uploaded_model_inputs_are_bounded():
    """Inputs of 2^32 values per sample (flatten would wrap to 0 in an int)
    or [1, 2^31, 2^31] are refused at upload in < 1 s with flat RSS."""
    for shape in ([65536, 65536, 1], [1, 2 ** 31, 2 ** 31]):
        arch = {"input": shape, "layers": [{"type": "flatten", "name": "f"},
                                           {"type": "dense", "units": 2, "name": "out"}]}
        data = safetensors_model(arch, {"out.weight": [2, 0], "out.bias": [2]})
        resp, secs, grown = timed(lambda: server.upload("/v1/models", {"file": ("big.safetensors", data)}))
        err = expect_error(resp, 400, code="invalid_model")
        check("input" in err["message"], err["message"])
        check(secs < 1.0 and grown < 50, "%.2f s, %.0f MB" % (secs, grown))


def test_predict_rows_have_a_memory_budget():
    """A conv model whose activations take ~64 MB per row: 8 rows of a JSON
    predict are refused with 413 predict_too_large before anything is
    allocated; one row still works."""
    arch = {"input": [1, 512, 512], "layers": [
        {"type": "conv2d", "name": "c", "filters": 64, "kernel": 3, "padding": 1, "activation": "relu"},
        {"type": "global_avgpool2d", "name": "g"}, {"type": "dense", "name": "out", "units": 2}]}
    data = safetensors_model(arch, {"c.weight": [64, 1, 3, 3], "c.bias": [64], "out.weight": [2, 64],
                                    "out.bias": [2]})
    big = Server("--max-json-bytes", "16M")
    try:
        resp = big.upload("/v1/models", {"file": ("conv.safetensors", data)})
        check(resp.status == 201, "upload: %r" % resp)
        mdl = resp.json()["id"]
        row = "[" + ",".join(["0"] * (512 * 512)) + "]"
        body = '{"inputs": [' + ",".join([row] * 8) + "]}"
        t0 = time.time()
        resp = big.post("/v1/models/%s/predict" % mdl, body, content_type="application/json")
        expect_error(resp, 413, code="predict_too_large", param="inputs")
        check(time.time() - t0 < 5, "took %.2f s" % (time.time() - t0))
        resp = big.post("/v1/models/%s/predict" % mdl, '{"inputs": [%s]}' % row, content_type="application/json")
        check(resp.status == 200, "one row: %r" % resp)
    finally:
        big.close()


def test_worker_rechecks_the_budget_after_a_restart():
    """A job queued under a large budget; the service restarts with
    --max-job-memory 4M: the worker fails the job with the budget error
    before it loads anything, and the service stays up."""
    srv = Server()
    try:
        ds = upload_fashion(srv, 100)
        long_job = start_long_job(srv, ds["id"])
        queued = submit(srv, {"dataset": ds["id"], "architecture": mlp_architecture([1, 28, 28], 10, (1024,))})
        check(srv.get("/v1/jobs/" + queued["id"]).json()["status"] == "queued", "the worker is busy")
        srv.stop()
        srv.flags = ["--max-job-memory", "4M"]
        srv.start()
        job = srv.wait_job(queued["id"], timeout=120)
        check(job["status"] == "failed", "job: %r" % job)
        check(job["error"]["code"] == "too_big" and "4.0 MiB budget" in job["error"]["message"], job["error"])
        check(srv.get("/healthz").status == 200, "the service is up")
        cancel_and_wait(srv, long_job["id"])
    finally:
        srv.close()


if __name__ == "__main__":
    main(globals())
