#!/usr/bin/python3
"""/v1/jobs against the real service: submit (defaults echoed, defaults
resolved from the data), 422 with the field path for every kind of invalid
spec, warnings and strict mode, failure by divergence, progress while
running, cancel (queued, running, finished), list with ?status= and
pagination, metrics (JSON, CSV), plots, events (JSON and Server-Sent Events,
with resume), Idempotency-Key."""
import re
import threading

from harness import (Server, cancel_and_wait, check, expect_error, mlp_architecture, png_size, main,
                     sse_events, start_long_job, submit, upload_fashion, wait_for)

ID = re.compile(r"^job_[0-9a-f]{24}$")
server = None
S = {}


def setup():
    global server
    server = Server()
    S["train"] = upload_fashion(server, 300)
    S["test"] = upload_fashion(server, 200, split="t10k")
    base_job = submit(server, {"dataset": S["train"]["id"], "epochs": 2,
                               "architecture": mlp_architecture([1, 28, 28], 10, (64, 32))})
    S["base_job"] = server.wait_job(base_job["id"], timeout=180)
    check(S["base_job"]["status"] == "succeeded", "base job: %r" % S["base_job"])
    S["base"] = S["base_job"]["result_model"]
    # A finished fine-tune with a validation split and a test set.
    done = submit(server, {"dataset": S["train"]["id"], "base_model": S["base"], "drop_layers": 2,
                           "head": {"hidden": [16]}, "validation": {"split": 0.2}, "test": S["test"]["id"],
                           "epochs": 3})
    S["done"] = server.wait_job(done["id"], timeout=180)
    check(S["done"]["status"] == "succeeded", "fixture job: %r" % S["done"])
    rows = "\n".join("%g,%g,%g" % (i / 10, (i % 7) / 7, 2 * (i / 10) - (i % 7) / 7) for i in range(40))
    S["reg"] = server.post("/v1/datasets?task=regression", "a,b,y\n" + rows + "\n", content_type="text/csv").json()


def spec(**extra):
    """A valid fine-tune spec on the fixture data, updated with extra."""
    s = {"dataset": S["train"]["id"], "base_model": S["base"], "epochs": 1}
    s.update(extra)
    return s


def get_job(job_id):
    r = server.get("/v1/jobs/" + job_id)
    check(r.status == 200, "%r" % r)
    return r.json()


def test_submit_echoes_defaults():
    r = server.post("/v1/jobs", {"dataset": S["train"]["id"], "base_model": S["base"], "epochs": 2})
    check(r.status == 201, "%r" % r)
    job = r.json()
    check(ID.match(job["id"]) and job["object"] == "job" and job["status"] == "queued", "%r" % job)
    check(job["attempts"] == 0 and job["max_attempts"] == 3 and job["result_model"] is None, "%r" % job)
    check(job["started_at"] is None and job["finished_at"] is None and job["error"] is None, "%r" % job)
    check(job["warnings"] == [] and job["metadata"] == {} and job["name"] is None, "%r" % job)
    s = job["spec"]
    expected = {"dataset": S["train"]["id"], "base_model": S["base"], "epochs": 2, "drop_layers": 1,
                "freeze": "base", "loss": "cross_entropy", "init": "he_normal", "batch_size": 64, "seed": 42,
                "early_stopping": None, "validation": None, "test": None, "strict": False, "metadata": {},
                "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0},
                "head": {"hidden": [], "activation": "relu", "dropout": 0, "output": "softmax", "units": 10}}
    for key, value in expected.items():
        check(s.get(key) == value, "spec.%s = %r, expected %r" % (key, s.get(key), value))
    check(get_job(job["id"])["spec"] == s, "GET echoes the same spec")
    done = server.wait_job(job["id"], timeout=120)
    check(done["status"] == "succeeded" and done["attempts"] == 1, "%r" % done)
    check(done["created_at"] <= done["started_at"] <= done["finished_at"], "timestamps %r" % done)
    check(done["progress"]["epoch"] == 2 and done["progress"]["epochs"] == 2, "progress %r" % done["progress"])
    model = server.get("/v1/models/" + done["result_model"]).json()
    check(model["job"] == job["id"] and model["base_model"] == S["base"] and model["dataset"] == S["train"]["id"],
          "lineage %r" % model)


def test_defaults_resolved_from_the_data():
    # Three selected classes: the head gets three units, relabelled in order.
    job = submit(server, spec(dataset={"id": S["train"]["id"], "classes": [5, 6, 7], "per_class": 20},
                              drop_layers=2, batch_size=16))
    check(job["spec"]["head"]["units"] == 3, "head.units %r" % job["spec"]["head"])
    done = server.wait_job(job["id"], timeout=120)
    check(done["status"] == "succeeded", "%r" % done)
    check(server.get("/v1/models/" + done["result_model"]).json()["classes"] == ["5", "6", "7"], "classes")
    # A sigmoid head defaults to binary_cross_entropy; a regression dataset to a linear head and mse.
    check(submit(server, spec(head={"output": "sigmoid"}))["spec"]["loss"] == "binary_cross_entropy", "bce")
    reg = submit(server, {"dataset": S["reg"]["id"], "architecture": mlp_architecture([2], 1, (4,), "linear")})
    check(reg["spec"]["loss"] == "mse" and reg["spec"]["epochs"] == 10, "regression defaults %r" % reg["spec"])
    check(submit(server, spec(optimizer={"type": "adam"}))["spec"]["optimizer"]["lr"] == 0.001, "adam lr default")


def test_invalid_specs_422_with_field_path():
    other = upload_fashion(server, 60, classes={0, 1, 2})
    arch = mlp_architecture([1, 28, 28], 10, (8,))
    cases = [
        (spec(bogus=1), "bogus"),
        (spec(head={"units": 10, "colour": "red"}), "head.colour"),
        (spec(optimizer={"lr": 0.1, "betas": [1, 2]}), "optimizer.betas"),
        (spec(batch_size=0), "batch_size"),
        (spec(batch_size=1.5), "batch_size"),
        (spec(epochs=-1), "epochs"),
        (spec(epochs="3"), "epochs"),
        (spec(optimizer={"lr": "x"}), "optimizer.lr"),
        (spec(optimizer={"lr": -0.1}), "optimizer.lr"),
        (spec(optimizer={"type": "rmsprop"}), "optimizer.type"),
        (spec(seed=-1), "seed"),
        (spec(strict="yes"), "strict"),
        (spec(drop_layers=10), "drop_layers"),
        (spec(drop_layers=-1), "drop_layers"),
        (spec(drop_layers="2"), "drop_layers"),
        (spec(cut_after="no_such_layer"), "cut_after"),
        (spec(freeze="some"), "freeze"),
        (spec(freeze={"trainable_last": 99}), "freeze.trainable_last"),
        (spec(head={"units": 3}), "head.units"),
        (spec(head={"hidden": [0]}), "head.hidden[0]"),
        (spec(head={"output": "relu"}), "head.output"),
        (spec(head={"dropout": 1.5}), "head.dropout"),
        (spec(loss="mse"), "loss"),
        (spec(loss="binary_cross_entropy"), "loss"),
        (spec(loss="hinge"), "loss"),
        (spec(init="ones"), "init"),
        (spec(init={"type": "normal", "std": -1}), "init.std"),
        (spec(dataset="ds_000000000000000000000000"), "dataset"),
        (spec(dataset="ds_nothex"), "dataset"),
        (spec(dataset="/etc/passwd"), "dataset"),
        (spec(dataset={"path": "/etc/passwd"}), "dataset"),
        (spec(dataset={"images": "/a", "labels": "/b"}), "dataset"),
        (spec(dataset={"id": S["train"]["id"], "classes": [99]}), "dataset.classes[0]"),
        (spec(dataset={"id": S["train"]["id"], "per_class": 100000}), "dataset.per_class"),
        (spec(dataset=None), "dataset"),
        ({"base_model": S["base"], "epochs": 1}, "dataset"),
        (spec(base_model="mdl_000000000000000000000000"), "base_model"),
        (spec(base_model="mdl_x"), "base_model"),
        (spec(base_model=None), "architecture"),  # no base model: then an architecture is needed
        (spec(architecture=arch), "architecture"),
        ({"dataset": S["train"]["id"], "architecture": mlp_architecture([2], 10)}, "architecture.input"),
        ({"dataset": S["train"]["id"], "architecture": arch, "drop_layers": 1}, "drop_layers"),
        (spec(validation={"split": 1.5}), "validation.split"),
        (spec(validation={"split": 0.1, "extra": 1}), "validation.extra"),
        (spec(test=other["id"]), "test"),
        (spec(validation=other["id"]), "validation"),
        (spec(dataset={"id": S["train"]["id"], "classes": [0, 1]}, test=S["test"]["id"]), "test"),
        (spec(test=S["reg"]["id"]), "test"),
        (spec(test="ds_000000000000000000000000"), "test"),
        (spec(early_stopping={"patience": 2}), "early_stopping.metric"),
        (spec(early_stopping={"patience": 0}, validation={"split": 0.2}), "early_stopping.patience"),
        (spec(early_stopping={"metric": "val_f1"}, validation={"split": 0.2}), "early_stopping.metric"),
        (spec(early_stopping={"metric": 3}, validation={"split": 0.2}), "early_stopping.metric"),
        (spec(class_weight={"no_such_class": 2.0}), "class_weight.no_such_class"),
        (spec(class_weight={"10": 2.0}), "class_weight.10"),
        (spec(dataset={"id": S["train"]["id"], "classes": [0, 1]}, head={"units": 2}, class_weight={"2": 2.0}),
         "class_weight.2"),
        ({"dataset": S["reg"]["id"], "architecture": mlp_architecture([2], 1, output="linear"), "epochs": 1,
          "class_weight": "balanced"}, "class_weight"),
        (spec(lr_schedule="reduce_on_plateau"), "lr_schedule.metric"),
        (spec(lr_schedule={"type": "cosine", "warmup_epochs": 5}, epochs=5), "lr_schedule.warmup_epochs"),
        (spec(label_smoothing=0.1, head={"output": "sigmoid"}), "label_smoothing"),
        (spec(metadata=[1]), "metadata"),
        (spec(name=7), "name"),
    ]
    before = len(server.get("/v1/jobs?limit=100").json()["data"])
    for body, param in cases:
        r = server.post("/v1/jobs", body)
        try:
            expect_error(r, 422, param=param)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (sorted(set(body) - {"epochs"}) or body, e))
    expect_error(server.post("/v1/jobs", [1, 2]), 422)
    expect_error(server.post("/v1/jobs", "3", content_type="application/json"), 422)
    after = len(server.get("/v1/jobs?limit=100").json()["data"])
    check(before == after, "a rejected spec created a job (%d -> %d)" % (before, after))


def test_warnings_and_strict():
    zeros = spec(drop_layers=2, head={"hidden": [16]}, init="zeros")
    job = submit(server, zeros)
    codes = {w["code"]: w for w in job["warnings"]}
    check("zeros_init_hidden" in codes, "warnings %r" % job["warnings"])
    w = codes["zeros_init_hidden"]
    check(w["level"] == "warning" and w["param"] == "init" and "zeros" in w["message"], "%r" % w)
    check(get_job(job["id"])["warnings"] == job["warnings"], "warnings stored on the job")
    err = expect_error(server.post("/v1/jobs", dict(zeros, strict=True)), 422, param="init")
    check("strict" in err["message"], "%r" % err)
    # Zeros on the output layer alone is fine (no hidden layer): no warning.
    plain = submit(server, spec(init="zeros"))
    check(not [w for w in plain["warnings"] if w["code"] == "zeros_init_hidden"], "%r" % plain["warnings"])
    check(submit(server, spec(init="zeros", strict=True))["status"] == "queued", "strict without warnings")
    # A learning rate far out of range is another warning.
    lr = submit(server, spec(optimizer={"lr": 50}))
    check([w for w in lr["warnings"] if w["param"] == "optimizer.lr"], "%r" % lr["warnings"])
    expect_error(server.post("/v1/jobs", spec(optimizer={"lr": 50}, strict=True)), 422, param="optimizer.lr")


def test_failure_by_divergence():
    job = submit(server, {"dataset": S["reg"]["id"], "architecture": mlp_architecture([2], 1, (), "linear"),
                          "loss": "mse", "optimizer": {"lr": 1000}, "batch_size": 8, "epochs": 30})
    done = server.wait_job(job["id"], timeout=120)
    check(done["status"] == "failed", "expected failed: %r" % done)
    err = done["error"]
    check(isinstance(err, dict) and set(err) == {"message", "code", "param"}, "error object %r" % err)
    check("diverg" in err["message"] and err["param"] == "optimizer.lr" and err["code"], "%r" % err)
    check(done["result_model"] is None and done["finished_at"] is not None, "%r" % done)
    check(done["attempts"] == 1, "a deterministic failure is not retried: %r" % done["attempts"])
    check(any(w["code"] == "learning_rate_range" for w in done["warnings"]), "%r" % done["warnings"])
    expect_error(server.post("/v1/jobs/%s/cancel" % job["id"]), 409, param="status")


def test_deep_and_duplicate_json():
    for body in ("[" * 10000 + "]" * 10000, '{"a":' * 10000 + "1" + "}" * 10000,
                 '{"dataset": "x", "metadata": ' + '{"a":' * 5000 + "1" + "}" * 5001):
        expect_error(server.post("/v1/jobs", body, content_type="application/json"), 400, code="invalid_json")
    err = expect_error(server.post("/v1/jobs", '{"epochs": 1, "epochs": 2}', content_type="application/json"),
                       400, code="invalid_json")
    check("duplicate" in err["message"], "%r" % err)
    expect_error(server.post("/v1/jobs", '{"dataset": "x",}', content_type="application/json"), 400)
    expect_error(server.post("/v1/jobs", '{"dataset": NaN}', content_type="application/json"), 400)
    expect_error(server.post("/v1/jobs", b'{"dataset": "\xff"}', content_type="application/json"), 400)
    expect_error(server.post("/v1/jobs", "", content_type="application/json"), 400, code="missing_body")
    check(server.get("/healthz").status == 200, "server still up")


def test_progress_while_running_then_cancel():
    job = start_long_job(server, S["train"]["id"])
    p = job["progress"]
    check(set(p) >= {"epoch", "epochs", "step", "samples_per_second", "eta_seconds"}, "progress %r" % p)
    check(p["epochs"] == 100000 and 0 <= p["epoch"] <= 100000, "%r" % p)
    check(isinstance(p["step"], int) and p["step"] >= 0, "%r" % p)
    check(p["samples_per_second"] > 0 and p["eta_seconds"] > 0, "%r" % p)
    check(job["started_at"] is not None and job["attempts"] == 1, "%r" % job)
    # Progress moves on.
    wait_for(lambda: get_job(job["id"])["progress"]["epoch"] > p["epoch"], timeout=60, what="the next epoch")
    rows = server.get("/v1/jobs/%s/metrics" % job["id"]).json()["data"]
    check(len(rows) >= 1 and rows[0]["epoch"] == 1, "metrics so far %r" % rows[:2])
    check(get_job(job["id"])["metrics"]["epoch"] >= 1, "latest metrics on the job")
    png = server.get("/v1/jobs/%s/metrics.png" % job["id"])
    check(png.status == 200 and png_size(png.body), "metrics.png while running: %r" % png)
    expect_error(server.get("/v1/jobs/%s/confusion.png" % job["id"]), 409)
    # Cancel: the reply says so, and the job stops within a few seconds.
    r = server.post("/v1/jobs/%s/cancel" % job["id"])
    check(r.status == 200, "%r" % r)
    body = r.json()
    check(body["id"] == job["id"] and (body["cancel_requested"] or body["status"] == "cancelled"), "%r" % body)
    done = server.wait_job(job["id"], timeout=15)
    check(done["status"] == "cancelled" and done["result_model"] is None, "%r" % done)
    check(done["finished_at"] is not None, "finished_at %r" % done["finished_at"])
    expect_error(server.post("/v1/jobs/%s/cancel" % job["id"]), 409, code="conflict", param="status")
    # It is not picked up again.
    check(get_job(job["id"])["status"] == "cancelled", "still cancelled")


def test_cancel_queued():
    busy = start_long_job(server, S["train"]["id"])
    try:
        queued = submit(server, spec())
        check(get_job(queued["id"])["status"] == "queued", "waits behind the running job")
        r = server.post("/v1/jobs/%s/cancel" % queued["id"])
        check(r.status == 200 and r.json()["status"] == "cancelled", "queued -> cancelled at once: %r" % r)
        job = get_job(queued["id"])
        check(job["status"] == "cancelled" and job["attempts"] == 0 and job["started_at"] is None, "%r" % job)
        check(job["finished_at"] is not None, "%r" % job)
        expect_error(server.post("/v1/jobs/%s/cancel" % queued["id"]), 409, param="status")
    finally:
        check(cancel_and_wait(server, busy["id"])["status"] == "cancelled", "long job cancelled")
    # The worker is free again, and never ran the cancelled job.
    after = server.wait_job(submit(server, spec())["id"], timeout=120)
    check(after["status"] == "succeeded", "%r" % after)
    check(get_job(queued["id"])["attempts"] == 0, "the cancelled job never ran")


def test_cancel_finished_job_409():
    expect_error(server.post("/v1/jobs/%s/cancel" % S["done"]["id"]), 409, code="conflict", param="status")
    check(get_job(S["done"]["id"])["status"] == "succeeded", "unchanged")


def all_jobs(query=""):
    r = server.get("/v1/jobs?limit=100" + query)
    check(r.status == 200 and not r.json()["has_more"], "%r" % r)
    return r.json()["data"]


def test_list_status_filter_and_pagination():
    full = all_jobs()
    check(len(full) >= 10, "enough jobs to page through: %d" % len(full))
    created = [j["created_at"] for j in full]
    check(created == sorted(created, reverse=True), "newest first")
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        got = [j["id"] for j in all_jobs("&status=" + status)]
        check(all(get_job(i)["status"] == status or status in ("queued", "running") for i in got),
              "?status=%s returned others" % status)
        if status in ("succeeded", "failed", "cancelled"):  # terminal: stable between the two calls
            want = [j["id"] for j in full if j["status"] == status]
            check(got == want, "?status=%s: %r vs %r" % (status, got, want))
    check(len(all_jobs("&status=failed")) >= 1 and len(all_jobs("&status=cancelled")) >= 2, "statuses seen")
    # Page through with limit=3 and through the filtered list with limit=1.
    for query, expect in (("", [j["id"] for j in full]),
                          ("&status=succeeded", [j["id"] for j in full if j["status"] == "succeeded"])):
        ids, after = [], None
        while True:
            r = server.get("/v1/jobs?limit=%d%s%s" % (3 if not query else 1, query,
                                                      "&after=" + after if after else ""))
            check(r.status == 200, "%r" % r)
            page = r.json()
            ids += [j["id"] for j in page["data"]]
            if not page["has_more"]:
                break
            after = page["data"][-1]["id"]
        check(ids == expect, "pages%s differ from one list" % query)
    expect_error(server.get("/v1/jobs?status=done"), 400, param="status")
    expect_error(server.get("/v1/jobs?limit=0"), 400, param="limit")
    expect_error(server.get("/v1/jobs?limit=1000"), 400, param="limit")
    expect_error(server.get("/v1/jobs?after=job_000000000000000000000000"), 404, param="after")


def test_test_and_validation_metrics():
    job = S["done"]
    tm, vm = job["test_metrics"], job["validation_metrics"]
    check(tm["rows"] == 200 and vm["rows"] == 60, "rows %r / %r" % (tm["rows"], vm["rows"]))
    for m in (tm, vm):
        matrix = m["confusion_matrix"]["matrix"]
        check(m["confusion_matrix"]["labels"] == [str(i) for i in range(10)], "labels")
        check(sum(map(sum, matrix)) == m["rows"], "matrix sums to the rows")
        check(abs(m["accuracy"] - sum(matrix[i][i] for i in range(10)) / m["rows"]) < 1e-9, "accuracy = trace")
    check(job["epochs_completed"] == 3 and job["stopped_early"] is False, "%r" % job)
    check(job["feature_cache"] is True, "frozen base: the feature cache is used: %r" % job["feature_cache"])


def test_metrics_json_and_csv():
    job = S["done"]
    r = server.get("/v1/jobs/%s/metrics" % job["id"])
    check(r.status == 200, "%r" % r)
    page = r.json()
    check(page["object"] == "list" and page["has_more"] is False, "%r" % page)
    rows = page["data"]
    check([row["epoch"] for row in rows] == [1, 2, 3], "one row per epoch: %r" % rows)
    keys = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_recall", "seconds",
            "samples_per_second", "lr"]
    check(all(set(keys) <= set(row) for row in rows), "keys %r" % rows[0])
    check(job["metrics"]["epoch"] == 3 and abs(job["metrics"]["val_loss"] - rows[-1]["val_loss"]) < 1e-9,
          "latest metrics on the job")
    check(server.get("/v1/jobs/%s/metrics?format=json" % job["id"]).json() == page, "format=json")
    csv = server.get("/v1/jobs/%s/metrics?format=csv" % job["id"])
    check(csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv"), "%r" % csv)
    lines = csv.body.decode().strip().split("\n")
    check(lines[0] == ",".join(keys), "CSV header %r" % lines[0])
    check(len(lines) == 1 + 3, "header + one row per epoch: %r" % lines)
    for line, row in zip(lines[1:], rows):
        values = line.split(",")
        check(len(values) == len(keys) and int(values[0]) == row["epoch"], "%r" % line)
        for k, v in zip(keys[1:], values[1:]):
            check(abs(float(v) - row[k]) <= 1e-5 * max(1, abs(row[k])), "%s: %s vs %r" % (k, v, row[k]))
    expect_error(server.get("/v1/jobs/%s/metrics?format=xml" % job["id"]), 400, param="format")


def test_plots():
    job = S["done"]
    r = server.get("/v1/jobs/%s/metrics.png" % job["id"])
    check(r.status == 200 and r.headers["Content-Type"] == "image/png", "%r" % r)
    w, h = png_size(r.body)
    check(w > 100 and h > 100, "size %dx%d" % (w, h))
    r = server.get("/v1/jobs/%s/confusion.png" % job["id"])
    check(r.status == 200 and r.headers["Content-Type"] == "image/png" and png_size(r.body), "%r" % r)
    # No test or validation set: no confusion matrix.
    expect_error(server.get("/v1/jobs/%s/confusion.png" % S["base_job"]["id"]), 404, code="no_confusion_matrix")
    # A regression job has none either.
    reg = server.wait_job(submit(server, {"dataset": S["reg"]["id"], "validation": {"split": 0.25}, "epochs": 2,
                                          "architecture": mlp_architecture([2], 1, (4,), "linear")})["id"])
    check(reg["status"] == "succeeded", "%r" % reg)
    expect_error(server.get("/v1/jobs/%s/confusion.png" % reg["id"]), 404, code="no_confusion_matrix")
    check(png_size(server.get("/v1/jobs/%s/metrics.png" % reg["id"]).body), "regression curves")
    # Not finished yet: 409.
    busy = start_long_job(server, S["train"]["id"])
    queued = submit(server, spec(test=S["test"]["id"]))
    try:
        expect_error(server.get("/v1/jobs/%s/confusion.png" % queued["id"]), 409, code="not_ready")
        expect_error(server.get("/v1/jobs/%s/confusion.png" % busy["id"]), 409, code="not_ready")
    finally:
        cancel_and_wait(server, queued["id"])
        cancel_and_wait(server, busy["id"])


def test_events_json():
    job = S["done"]
    r = server.get("/v1/jobs/%s/events" % job["id"])
    check(r.status == 200, "%r" % r)
    page = r.json()
    events = page["data"]
    check(page["object"] == "list" and page["has_more"] is False, "%r" % page)
    check([e["seq"] for e in events] == list(range(1, len(events) + 1)), "seqs %r" % [e["seq"] for e in events])
    check(all(e["object"] == "job.event" and e["level"] in ("info", "warning", "error") for e in events), "%r" % events)
    check(events[0]["message"].startswith("attempt 1 started"), "%r" % events[0])
    epochs = [e["data"]["epoch"] for e in events if e["data"] and "train_loss" in e["data"]]
    check(epochs == [1, 2, 3], "one event per epoch: %r" % epochs)
    first = server.get("/v1/jobs/%s/events?limit=2" % job["id"]).json()
    check([e["seq"] for e in first["data"]] == [1, 2] and first["has_more"] is True, "%r" % first)
    rest = server.get("/v1/jobs/%s/events?after=2" % job["id"]).json()
    check(rest["data"] == events[2:], "after=2")
    check(server.get("/v1/jobs/%s/events?after=%d" % (job["id"], len(events))).json()["data"] == [], "after=last")
    expect_error(server.get("/v1/jobs/%s/events?after=x" % job["id"]), 400, param="after")
    expect_error(server.get("/v1/jobs/%s/events?after=-1" % job["id"]), 400, param="after")
    expect_error(server.get("/v1/jobs/%s/events?limit=0" % job["id"]), 400, param="limit")


def same_json(a, b):
    """Equal JSON values, numbers to 1e-9 relative (the two encodings print
    floats with different precision)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1, abs(a), abs(b))
    return a == b


def test_events_sse_finished_job():
    job = S["done"]
    listed = server.get("/v1/jobs/%s/events?limit=100" % job["id"]).json()["data"]
    status, headers, events = sse_events(server, "/v1/jobs/%s/events" % job["id"], timeout=60)
    check(status == 200 and headers["Content-Type"].startswith("text/event-stream"), "%r" % headers)
    check(events and events[-1]["event"] == "end", "ends with event: end: %r" % events[-1:])
    check(events[-1]["json"] == {"job": job["id"], "status": "succeeded"}, "%r" % events[-1])
    data = events[:-1]
    ids = [int(e["id"]) for e in data]
    check(ids == sorted(set(ids)) and ids == [e["json"]["seq"] for e in data], "ids increase and match seq: %r" % ids)
    check(len(data) == len(listed) and all(same_json(e["json"], l) for e, l in zip(data, listed)),
          "the stream carries the same events as the list")
    # Resume after event 2, by header and by query.
    for hdrs, query in (({"Last-Event-ID": "2"}, ""), ({}, "?after=2")):
        _, _, resumed = sse_events(server, "/v1/jobs/%s/events%s" % (job["id"], query), headers=hdrs, timeout=60)
        check([int(e["id"]) for e in resumed[:-1]] == ids[2:], "resume %r %r" % (hdrs, query))
        check(resumed[-1]["event"] == "end", "resumed stream ends")
    status, _, body = sse_events(server, "/v1/jobs/job_000000000000000000000000/events")
    check(status == 404 and body[0]["error"]["code"] == "not_found", "%r" % body)


def test_events_sse_follows_running_job():
    job = submit(server, {"dataset": S["train"]["id"], "epochs": 100000,
                          "architecture": {"input": [1, 28, 28], "layers": [
                              {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"},
                              {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
                              {"type": "dense", "units": 10, "activation": "softmax"}]}})
    cancelled = threading.Event()

    def on_event(ev):
        # Cancel once two epochs have streamed in live.
        if not cancelled.is_set() and ev["json"] and (ev["json"].get("data") or {}).get("epoch", 0) >= 2:
            cancelled.set()
            server.post("/v1/jobs/%s/cancel" % job["id"])

    status, _, events = sse_events(server, "/v1/jobs/%s/events" % job["id"], timeout=120, on_event=on_event)
    check(status == 200 and cancelled.is_set(), "epoch events streamed before the end")
    check(events[-1]["event"] == "end" and events[-1]["json"]["status"] == "cancelled", "%r" % events[-1])
    ids = [int(e["id"]) for e in events[:-1]]
    check(ids == list(range(1, len(ids) + 1)), "ids increase by one: %r" % ids[:20])
    check(get_job(job["id"])["status"] == "cancelled", "job cancelled")


def test_idempotency_key():
    body = spec(metadata={"tag": "idem-1"})
    first = server.post("/v1/jobs", body, headers={"Idempotency-Key": "key-1"})
    check(first.status == 201, "%r" % first)
    again = server.post("/v1/jobs", body, headers={"Idempotency-Key": "key-1"})
    check(again.status == 200 and again.headers["Idempotent-Replayed"] == "true", "%r %r" % (again, again.headers))
    check(again.json()["id"] == first.json()["id"], "same job")
    # Same key, another body: 409 naming the header.
    expect_error(server.post("/v1/jobs", spec(metadata={"tag": "idem-1"}, epochs=2),
                             headers={"Idempotency-Key": "key-1"}), 409, code="conflict", param="Idempotency-Key")
    # Another key, or none: a new job.
    other = server.post("/v1/jobs", body, headers={"Idempotency-Key": "key-2"})
    check(other.status == 201 and other.json()["id"] != first.json()["id"], "%r" % other)
    check(server.post("/v1/jobs", body).status == 201, "no key: always a new job")
    expect_error(server.post("/v1/jobs", body, headers={"Idempotency-Key": "k" * 256}), 400,
                 param="Idempotency-Key")
    # Concurrent submits with one key create one job.
    replies = []
    lock = threading.Lock()

    def post():
        r = server.post("/v1/jobs", spec(metadata={"tag": "idem-race"}), headers={"Idempotency-Key": "race"})
        with lock:
            replies.append(r)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in replies)
    check(statuses == [200] * 7 + [201], "one 201, the rest replays: %r" % statuses)
    check(len({r.json()["id"] for r in replies}) == 1, "all replies name one job")
    tags = [j["metadata"].get("tag") for j in all_jobs()]
    check(tags.count("idem-race") == 1 and tags.count("idem-1") == 3, "jobs created: %r" % tags)


def test_unknown_and_malformed_job_ids():
    for job_id in ("job_000000000000000000000000", "job_123", "ds_000000000000000000000000", "JOB_" + "0" * 24):
        for method, suffix in (("GET", ""), ("POST", "/cancel"), ("GET", "/events"), ("GET", "/metrics"),
                               ("GET", "/metrics.png"), ("GET", "/confusion.png")):
            expect_error(server.request(method, "/v1/jobs/" + job_id + suffix), 404)


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report
    # (the suite also runs against the ASan/UBSan build).
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
