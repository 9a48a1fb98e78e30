#!/usr/bin/python3
"""/v1/models against the real service: a model trained by a job (lineage,
layer table), list pagination, download (bytes, Content-Disposition, a valid
safetensors file) and upload back (multipart and raw), predict with JSON rows
and with a PNG image, evaluate on a dataset and on a selector, delete (and the
409 while a job uses a model as its base)."""
import re
import sys

from harness import (Server, cancel_and_wait, check, expect_error, fashion_rows, mlp_architecture,
                     png_gray, main, safetensors_parse, start_long_job, submit, upload_fashion)

ID = re.compile(r"^mdl_[0-9a-f]{24}$")
server = None
S = {}  # shared fixtures: datasets, the trained model and its job


def setup():
    global server
    server = Server()
    S["train"] = upload_fashion(server, 300)
    S["test"] = upload_fashion(server, 200, split="t10k")
    job = submit(server, {"dataset": S["train"]["id"], "test": S["test"]["id"],
                          "architecture": mlp_architecture([1, 28, 28], 10, (32,)), "epochs": 3, "name": "mlp"})
    S["job"] = server.wait_job(job["id"], timeout=180)
    check(S["job"]["status"] == "succeeded", "fixture job: %r" % S["job"])
    S["model"] = S["job"]["result_model"]
    S["content"] = server.get("/v1/models/%s/content" % S["model"]).body
    rows = "\n".join("%g,%g,%g" % (i / 10, (i % 7) / 7, 2 * (i / 10) - (i % 7) / 7) for i in range(40))
    S["reg"] = server.post("/v1/datasets?task=regression", "a,b,y\n" + rows + "\n", content_type="text/csv").json()
    job = submit(server, {"dataset": S["reg"]["id"], "architecture": mlp_architecture([2], 1, (), output="linear"),
                          "epochs": 2})
    S["reg_model"] = server.wait_job(job["id"], timeout=180)["result_model"]


def test_model_object_and_lineage():
    r = server.get("/v1/models/" + S["model"])
    check(r.status == 200, "%r" % r)
    m = r.json()
    check(ID.match(m["id"]) and m["object"] == "model", "%r" % m)
    check(m["source"] == "job" and m["job"] == S["job"]["id"] and m["dataset"] == S["train"]["id"], "lineage %r" % m)
    check(m["base_model"] is None and m["name"] == "mlp", "base_model/name %r" % m)
    check(m["input_shape"] == [1, 28, 28] and m["output_shape"] == [10], "shapes %r" % m)
    check(m["task"] == "classification" and m["output_activation"] == "softmax", "%r" % m)
    check(m["classes"] == [str(i) for i in range(10)], "classes %r" % m["classes"])
    check([(l["index"], l["type"]) for l in m["layers"]] == [(0, "flatten"), (1, "dense"), (2, "dense")],
          "layer table %r" % m["layers"])
    check([l["output_shape"] for l in m["layers"]] == [[784], [32], [10]], "output shapes %r" % m["layers"])
    check([l["params"] for l in m["layers"]] == [0, 784 * 32 + 32, 32 * 10 + 10], "params %r" % m["layers"])
    check(m["params"] == sum(l["params"] for l in m["layers"]), "total params")
    check(all({"index", "name", "type", "output_shape", "params", "trainable"} <= set(l) for l in m["layers"]),
          "layer keys")
    check(m["bytes"] == len(S["content"]), "bytes %r vs %d" % (m["bytes"], len(S["content"])))


def test_content_download():
    r = server.get("/v1/models/%s/content" % S["model"])
    check(r.status == 200 and r.headers["Content-Type"] == "application/octet-stream", "%r" % r)
    check(r.headers["Content-Disposition"] == 'attachment; filename="%s.safetensors"' % S["model"],
          "Content-Disposition %r" % r.headers["Content-Disposition"])
    check(int(r.headers["Content-Length"]) == len(r.body), "Content-Length")
    meta, tensors = safetensors_parse(r.body)
    check(meta.get("job") == S["job"]["id"] and meta.get("dataset") == S["train"]["id"], "metadata %r" % meta)
    check({n: (t[0], t[1]) for n, t in tensors.items()} == {
        "dense_1.weight": ("F32", [32, 784]), "dense_1.bias": ("F32", [32]),
        "dense_2.weight": ("F32", [10, 32]), "dense_2.bias": ("F32", [10])}, "tensors %r" % list(tensors))
    check(r.body == S["content"], "two downloads differ")


def test_upload_roundtrip():
    r = server.upload("/v1/models", {"file": ("mine.safetensors", S["content"])}, query="?name=copy")
    check(r.status == 201, "%r" % r)
    up = r.json()
    check(ID.match(up["id"]) and up["id"] != S["model"], "new id %r" % up["id"])
    check(up["source"] == "upload" and up["job"] is None and up["name"] == "copy", "%r" % up)
    orig = server.get("/v1/models/" + S["model"]).json()
    for key in ("layers", "classes", "input_shape", "output_shape", "params", "trainable_params", "task"):
        check(up[key] == orig[key], "%s differs after upload: %r vs %r" % (key, up[key], orig[key]))
    check(server.get("/v1/models/" + up["id"]).json() == up, "GET equals the upload reply")
    back = server.get("/v1/models/%s/content" % up["id"])
    check(back.status == 200 and back.body == S["content"], "bytes round-trip")
    # Raw body upload; the name defaults to the multipart file name otherwise.
    raw = server.post("/v1/models", S["content"], content_type="application/octet-stream")
    check(raw.status == 201 and raw.json()["name"] is None, "%r" % raw)
    named = server.upload("/v1/models", {"file": ("named.safetensors", S["content"])})
    check(named.json()["name"] == "named.safetensors", "%r" % named.json())
    # The uploaded copy predicts exactly like the original.
    row = [list(fashion_rows("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 1)[0][0])]
    a = server.post("/v1/models/%s/predict" % S["model"], {"inputs": row}).json()["data"]
    b = server.post("/v1/models/%s/predict" % up["id"], {"inputs": row}).json()["data"]
    check(a == b, "predictions differ: %r vs %r" % (a, b))


def test_upload_errors():
    expect_error(server.upload("/v1/models", {"file": ("x.safetensors", b"garbage")}), 400, code="invalid_model",
                 param="file")
    broken = bytearray(S["content"])
    broken[0:8] = (10 ** 9).to_bytes(8, "little")  # header length beyond the file
    expect_error(server.post("/v1/models", bytes(broken), content_type="application/octet-stream"), 400,
                 code="invalid_model")
    expect_error(server.post("/v1/models", S["content"][:-10], content_type="application/octet-stream"), 400,
                 code="invalid_model")
    expect_error(server.post("/v1/models", "{}", content_type="application/json"), 415, param="Content-Type")
    expect_error(server.upload("/v1/models", {"a": ("a", b"1"), "b": ("b", b"2")}), 400, code="missing_file")


def test_list_pagination():
    all_ids, after = [], None
    while True:
        r = server.get("/v1/models?limit=1" + ("&after=" + after if after else ""))
        check(r.status == 200, "%r" % r)
        page = r.json()
        check(page["object"] == "list" and len(page["data"]) <= 1, "%r" % page)
        all_ids += [m["id"] for m in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    big = server.get("/v1/models?limit=100").json()
    check(all_ids == [m["id"] for m in big["data"]] and not big["has_more"], "paging == one big page")
    check(len(all_ids) == len(set(all_ids)) and S["model"] in all_ids and S["reg_model"] in all_ids, "%r" % all_ids)
    created = [m["created_at"] for m in big["data"]]
    check(created == sorted(created, reverse=True), "newest first")
    expect_error(server.get("/v1/models?limit=0"), 400, param="limit")
    expect_error(server.get("/v1/models?limit=x"), 400, param="limit")
    expect_error(server.get("/v1/models?after=mdl_000000000000000000000000"), 404, param="after")


def check_classification(pred, classes):
    check(pred["class"] in classes and classes[pred["index"]] == pred["class"], "class/index %r" % pred)
    probs = pred["probabilities"]
    check(sorted(probs) == sorted(classes), "one probability per class: %r" % probs)
    check(abs(sum(probs.values()) - 1) < 1e-4, "probabilities sum to %r" % sum(probs.values()))
    check(all(0 <= p <= 1 for p in probs.values()), "probabilities in [0, 1]")
    check(max(probs, key=probs.get) == pred["class"], "class is the argmax")
    check(abs(probs[pred["class"]] - pred["probability"]) < 1e-6, "probability of the class")


def test_predict_json_rows():
    rows = fashion_rows("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 3)
    r = server.post("/v1/models/%s/predict" % S["model"], {"inputs": [list(p) for p, _ in rows]})
    check(r.status == 200, "%r" % r)
    out = r.json()
    check(out["object"] == "list" and out["model"] == S["model"] and len(out["data"]) == 3, "%r" % out)
    classes = [str(i) for i in range(10)]
    for pred in out["data"]:
        check_classification(pred, classes)
    # {"input": row} is one row; a nested [1][28][28] row is flattened.
    nested = [[list(rows[0][0][y * 28:(y + 1) * 28]) for y in range(28)]]
    one = server.post("/v1/models/%s/predict" % S["model"], {"input": nested}).json()
    check(len(one["data"]) == 1 and one["data"][0] == out["data"][0], "single input %r" % one)
    # Regression models return values.
    reg = server.post("/v1/models/%s/predict" % S["reg_model"], {"inputs": [[0.5, 0.25], [1, 0]]})
    check(reg.status == 200 and len(reg.json()["data"]) == 2, "%r" % reg)
    check(all(set(p) == {"values"} and len(p["values"]) == 1 for p in reg.json()["data"]), "%r" % reg.json())


def test_predict_png():
    pixels, _ = fashion_rows("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 2)[1]
    r = server.post("/v1/models/%s/predict" % S["model"], png_gray(28, 28, pixels), content_type="image/png")
    check(r.status == 200, "%r" % r)
    out = r.json()
    check(len(out["data"]) == 1, "%r" % out)
    check_classification(out["data"][0], [str(i) for i in range(10)])
    # The PNG goes through the same preprocessing as JSON rows of its pixels.
    as_json = server.post("/v1/models/%s/predict" % S["model"], {"inputs": [list(pixels)]}).json()
    for k, p in out["data"][0]["probabilities"].items():
        check(abs(p - as_json["data"][0]["probabilities"][k]) < 1e-5, "PNG vs JSON differ at %s" % k)


def test_predict_errors():
    url = "/v1/models/%s/predict" % S["model"]
    expect_error(server.post(url, {"inputs": [[1, 2, 3]]}), 422, param="inputs[0]")
    expect_error(server.post(url, {"inputs": [[0] * 784, [0] * 783]}), 422, param="inputs[1]")
    expect_error(server.post(url, {"inputs": [[0] * 783 + ["x"]]}), 422, param="inputs[0]")
    expect_error(server.post(url, {"inputs": []}), 422, param="inputs")
    expect_error(server.post(url, {"rows": [[0] * 784]}), 422, param="inputs")
    expect_error(server.post(url, "{nope", content_type="application/json"), 400, code="invalid_json")
    expect_error(server.post(url, "1,2,3", content_type="text/csv"), 415, param="Content-Type")
    expect_error(server.post(url, b"\x89PNG\r\n\x1a\nbroken", content_type="image/png"), 400, code="invalid_image")
    # An image for a model that takes rows of numbers.
    expect_error(server.post("/v1/models/%s/predict" % S["reg_model"], png_gray(2, 1, b"\x00\xff"),
                             content_type="image/png"), 415)
    expect_error(server.post("/v1/models/mdl_000000000000000000000000/predict", {"inputs": [[0] * 784]}), 404)


def check_evaluation(ev, rows):
    check(ev["object"] == "evaluation" and ev["model"] == S["model"], "%r" % ev)
    check(ev["rows"] == rows and ev["loss_function"] == "cross_entropy", "rows %r" % ev)
    cm = ev["confusion_matrix"]
    check(cm["labels"] == [str(i) for i in range(10)] and len(cm["matrix"]) == 10, "%r" % cm)
    check(all(len(row) == 10 for row in cm["matrix"]), "square matrix")
    total = sum(map(sum, cm["matrix"]))
    check(total == rows, "matrix sums to %d, not %d rows" % (total, rows))
    correct = sum(cm["matrix"][i][i] for i in range(10))
    check(abs(ev["accuracy"] - correct / rows) < 1e-9, "accuracy %r vs trace %d/%d" % (ev["accuracy"], correct, rows))
    check(ev["loss"] > 0, "loss %r" % ev["loss"])


def test_evaluate_dataset():
    r = server.post("/v1/models/%s/evaluate" % S["model"], {"dataset": S["test"]["id"]})
    check(r.status == 200, "%r" % r)
    ev = r.json()
    check_evaluation(ev, 200)
    check(ev["dataset"] == S["test"]["id"], "%r" % ev)
    # Same model, same data: the job's own test metrics.
    tm = S["job"]["test_metrics"]
    check(tm["confusion_matrix"] == ev["confusion_matrix"], "confusion differs from the job's test metrics")
    check(abs(tm["accuracy"] - ev["accuracy"]) < 1e-9 and abs(tm["loss"] - ev["loss"]) < 1e-5, "%r vs %r" % (tm, ev))
    # Per-class rows of the matrix add up to the dataset's class counts.
    counts = [c["count"] for c in S["test"]["classes"]]
    check([sum(row) for row in ev["confusion_matrix"]["matrix"]] == counts, "row sums vs class counts")


def test_evaluate_selector():
    r = server.post("/v1/models/%s/evaluate" % S["model"],
                    {"dataset": {"id": S["test"]["id"], "per_class": 5, "seed": 3}})
    check(r.status == 200, "%r" % r)
    ev = r.json()
    check_evaluation(ev, 50)
    check([sum(row) for row in ev["confusion_matrix"]["matrix"]] == [5] * 10, "5 rows of each class")


def test_evaluate_errors():
    url = "/v1/models/%s/evaluate" % S["model"]
    expect_error(server.post(url, {"dataset": "ds_000000000000000000000000"}), 422, param="dataset")
    expect_error(server.post(url, {"dataset": "/etc/passwd"}), 422, param="dataset")
    expect_error(server.post(url, {}), 422, param="dataset")
    expect_error(server.post(url, {"dataset": S["test"]["id"], "extra": 1}), 422, code="unknown_field", param="extra")
    expect_error(server.post(url, {"dataset": S["test"]["id"], "loss": "nope"}), 422, param="loss")
    expect_error(server.post(url, {"dataset": S["test"]["id"], "loss": "mse"}), 422, param="loss")
    expect_error(server.post(url, {"dataset": {"id": S["test"]["id"], "classes": [99]}}), 422,
                 param="dataset.classes[0]")
    # Two classes selected for a ten-class model; rows of another shape.
    expect_error(server.post(url, {"dataset": {"id": S["test"]["id"], "classes": [0, 1]}}), 422, param="dataset")
    expect_error(server.post(url, {"dataset": S["reg"]["id"]}), 422, param="dataset")
    expect_error(server.post(url, "x", content_type="text/plain"), 415)
    expect_error(server.post(url, "[1,", content_type="application/json"), 400, code="invalid_json")
    expect_error(server.post("/v1/models/mdl_000000000000000000000000/evaluate", {"dataset": S["test"]["id"]}), 404)


def test_delete():
    up = server.upload("/v1/models", {"file": ("m.safetensors", S["content"])}).json()
    r = server.delete("/v1/models/" + up["id"])
    check(r.status == 200 and r.json() == {"id": up["id"], "object": "model", "deleted": True}, "%r" % r)
    expect_error(server.get("/v1/models/" + up["id"]), 404)
    expect_error(server.get("/v1/models/%s/content" % up["id"]), 404)
    expect_error(server.post("/v1/models/%s/predict" % up["id"], {"inputs": [[0] * 784]}), 404)
    expect_error(server.delete("/v1/models/" + up["id"]), 404)
    check(up["id"] not in [m["id"] for m in server.get("/v1/models?limit=100").json()["data"]], "still listed")
    for bad in ("mdl_000000000000000000000000", "mdl_1", "ds_000000000000000000000000"):
        expect_error(server.get("/v1/models/" + bad), 404)
        expect_error(server.get("/v1/models/%s/content" % bad), 404)
        expect_error(server.delete("/v1/models/" + bad), 404)


def test_delete_conflict_while_base_of_a_job():
    base = server.upload("/v1/models", {"file": ("base.safetensors", S["content"])}).json()
    busy = start_long_job(server, S["train"]["id"])
    # Waits behind the long job: queued, with `base` as its base model.
    queued = submit(server, {"dataset": S["train"]["id"], "base_model": base["id"], "drop_layers": 1, "epochs": 1})
    try:
        check(queued["status"] == "queued" and queued["spec"]["base_model"] == base["id"], "%r" % queued)
        err = expect_error(server.delete("/v1/models/" + base["id"]), 409, code="conflict")
        check(queued["id"] in err["message"], "names the job: %r" % err["message"])
        check(server.get("/v1/models/" + base["id"]).status == 200, "still there after the 409")
    finally:
        cancel_and_wait(server, queued["id"])
        cancel_and_wait(server, busy["id"])
    check(server.delete("/v1/models/" + base["id"]).status == 200, "delete once the job is cancelled")


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report
    # (the suite also runs against the ASan/UBSan build).
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
