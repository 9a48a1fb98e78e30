#!/usr/bin/python3
"""Upload budgets (issue 10, items 3, 4 and 11) against the real service.

Scenarios:
- A ~4 KB tar of 1x1 PNGs with image_size=46000x46000 is refused with 400
  (image_size is capped at 4096 per side), in under 1 s, with flat memory.
- A tar of 1x1 PNGs with a legal image_size=4096x4096, rgb, and enough entries
  to pass the default 4 GiB budget gets 413 with the would-be size and the
  limit, in under 1 s, with flat memory: the entries are counted before any
  image is decoded.
- A gzipped IDX pair whose headers claim 2^32-1 images gets 413 in under 1 s
  with flat memory (refused from the headers).
- --max-dataset-bytes set through FINETUNED_MAX_DATASET_BYTES: a CSV that
  grows past it gets 413 naming the line; a CSV within it is stored.
- `finetuned dataset inspect` applies the same budget (same variable).
- A safetensors dataset whose x is [n, H, W, C] (channels last, as numpy and
  Keras hold images) is refused at upload with a message naming the expected
  [n, C, H, W] and the "layout" metadata; with layout NHWC it loads,
  transposed, as [C, H, W], and the summary records the layout.
- A model file whose conv2d weights are TensorFlow's [kh, kw, in, out] is
  refused at upload (400) with a message saying the layout expected.
- A 1,000-class job (CSV of 2 features, 1 epoch, a test set): the job's JSON
  carries per-class precision/recall and the 20 top confusions instead of a
  10^6-cell matrix, stays under 1 MB and answers GET fast (10 ms expected;
  asserted under 0.25 s for a loaded machine); confusion.png refuses with
  422 too_many_classes before allocating anything k x k. A 3-class job keeps
  its full matrix.
"""
import csv
import io
import gzip
import io
import json
import os
import struct
import subprocess
import tarfile
import tempfile
import time

from harness import (BINARY, Server, check, csv_text, expect_error, png_gray, main, safetensors_parse,
                     submit)

server = None
MB = 1 << 20


def setup():
    global server
    server = Server()


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def bounded(srv, fn, seconds=1.0, growth=50 * MB):
    """Run fn(); check it took under `seconds` and that the server's resident
    memory (now and at its peak) grew by less than `growth` bytes."""
    pid = srv.proc.pid
    rss, hwm = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
    t0 = time.monotonic()
    resp = fn()
    elapsed = time.monotonic() - t0
    check(elapsed < seconds, "took %.2f s" % elapsed)
    d_rss, d_hwm = (status_kb(pid, "VmRSS") - rss) * 1024, (status_kb(pid, "VmHWM") - hwm) * 1024
    check(d_rss < growth and d_hwm < growth, "memory grew: RSS +%d MiB, peak +%d MiB" % (d_rss >> 20, d_hwm >> 20))
    return resp


def png_tar(n, classes=("a", "b")):
    """A tar of n 1x1 grayscale PNGs spread over the class directories."""
    buf = io.BytesIO()
    png = png_gray(1, 1, [128])
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for i in range(n):
            info = tarfile.TarInfo("%s/%d.png" % (classes[i % len(classes)], i))
            info.size = len(png)
            t.addfile(info, io.BytesIO(png))
    return buf.getvalue()[:1024 * (n + 1)]  # header + data block each, then the end blocks (no record padding)


def test_image_size_side_capped():
    data = png_tar(3)
    check(len(data) == 4096, "tar is %d bytes" % len(data))
    resp = bounded(server, lambda: server.upload("/v1/datasets", {"file": ("tiny.tar", data)},
                                                 query="?image_size=46000x46000"))
    err = expect_error(resp, 400, "invalid_option", "image_size")
    check("4096" in err["message"], err["message"])


def test_tar_budget_from_entry_count():
    # 100 x 4096x4096 RGB = 4.7 GiB > 4 GiB (the default), from the count alone.
    data = png_tar(100)
    resp = bounded(server, lambda: server.upload("/v1/datasets", {"file": ("many.tar", data)},
                                                 query="?image_size=4096x4096&color=rgb"))
    err = expect_error(resp, 413, "too_large")
    check("100 images of 4096x4096x3" in err["message"] and "4.7 GiB" in err["message"]
          and "limit of 4.0 GiB" in err["message"], err["message"])
    # The same archive at a small size is fine.
    resp = server.upload("/v1/datasets", {"file": ("many.tar", data)}, query="?image_size=8x8")
    check(resp.status == 201 and resp.json()["rows"] == 100, "upload: %r" % resp)


def test_idx_headers_claim_2_32_images():
    images = gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 2**32 - 1, 28, 28) + bytes(784))
    labels = gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 2**32 - 1) + bytes(1))
    resp = bounded(server, lambda: server.upload(
        "/v1/datasets", {"images": ("huge-images.gz", images), "labels": ("huge-labels.gz", labels)}))
    err = expect_error(resp, 413, "too_large")
    check("4294967295 images of 28x28" in err["message"] and "limit of 4.0 GiB" in err["message"], err["message"])


def test_csv_budget_as_it_streams():
    with Server(env={"FINETUNED_MAX_DATASET_BYTES": "1M"}) as small:
        # 2 features + a label: 12 bytes per row stored; 100,000 rows = 1.1 MiB.
        big = csv_text(["a", "b", "label"], [[i % 7, i % 5, i % 2] for i in range(100000)])
        resp = bounded(small, lambda: small.post("/v1/datasets", big, content_type="text/csv"))
        err = expect_error(resp, 413, "too_large")
        check("line 87383" in err["message"] and "limit of 1.0 MiB" in err["message"], err["message"])
        resp = small.post("/v1/datasets", big[:big.index("\n", 200000) + 1], content_type="text/csv")
        check(resp.status == 201, "a CSV within the budget: %r" % resp)


def test_inspect_applies_the_budget():
    with tempfile.NamedTemporaryFile("w", suffix=".csv") as f:
        f.write(csv_text(["a", "b", "label"], [[i, i, i % 2] for i in range(10)]))
        f.flush()
        env = dict(os.environ, FINETUNED_MAX_DATASET_BYTES="100")
        p = subprocess.run([BINARY, "dataset", "inspect", f.name], env=env, capture_output=True, text=True)
        check(p.returncode == 1 and "more than the dataset limit of 100 bytes" in p.stderr, p.stderr)
        env["FINETUNED_MAX_DATASET_BYTES"] = "1K"
        p = subprocess.run([BINARY, "dataset", "inspect", f.name], env=env, capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)


def safetensors_bytes(tensors, metadata=None):
    """A .safetensors file of {name: (dtype, shape, bytes)} in the given order."""
    header, offset = {}, 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(t[2] for t in tensors.values())


def nhwc_images(n=16):
    """n 8x8 RGB images, channels last; class 1 images are bright."""
    x = bytes((200 if i % 2 else 20) + (p % 3) for i in range(n) for p in range(8 * 8 * 3))
    y = struct.pack("<%di" % n, *[i % 2 for i in range(n)])
    return {"x": ("U8", [n, 8, 8, 3], x), "y": ("I32", [n], y)}


def test_nhwc_dataset_refused_or_transposed():
    resp = server.upload("/v1/datasets", {"file": ("nhwc.safetensors", safetensors_bytes(nhwc_images()))})
    err = expect_error(resp, 422, "invalid_dataset")
    check("channels-last (NHWC)" in err["message"] and "[n, C, H, W]" in err["message"]
          and '"layout"' in err["message"], err["message"])
    resp = server.upload("/v1/datasets", {"file": ("nhwc.safetensors",
                                                   safetensors_bytes(nhwc_images(), {"layout": "NHWC"}))})
    check(resp.status == 201, "%r" % resp)
    ds = resp.json()
    check(ds["input_shape"] == [3, 8, 8] and ds["layout"] == "NHWC" and ds["rows"] == 16, "%r" % ds)


def test_model_with_tensorflow_conv_layout_refused():
    ds = server.upload("/v1/datasets", {"file": ("nhwc.safetensors",
                                                 safetensors_bytes(nhwc_images(), {"layout": "NHWC"}))}).json()
    arch = {"input": [3, 8, 8], "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "activation": "relu"},
        {"type": "flatten"}, {"type": "dense", "units": 2, "activation": "softmax"}]}
    job = server.wait_job(submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 1})["id"])
    check(job["status"] == "succeeded", "%r" % job)
    content = server.get("/v1/models/%s/content" % job["result_model"]).body
    meta, tensors = safetensors_parse(content)
    name, (dtype, shape, data) = next((k, v) for k, v in tensors.items() if len(v[1]) == 4)
    check(shape == [4, 3, 3, 3], "conv weight %r" % shape)
    # Reorder [out, in, kh, kw] -> [kh, kw, in, out], as a Keras export holds it.
    w = struct.unpack("<108f", data)
    tf = [w[((o * 3 + i) * 3 + a) * 3 + b] for a in range(3) for b in range(3) for i in range(3) for o in range(4)]
    tensors[name] = (dtype, [3, 3, 3, 4], struct.pack("<108f", *tf))
    resp = server.upload("/v1/models", {"file": ("keras.safetensors", safetensors_bytes(tensors, meta))})
    err = expect_error(resp, 400, "invalid_model", "file")
    check("[out, in, kh, kw]" in err["message"] and "[3,3,3,4]" in err["message"], err["message"])
    check(server.upload("/v1/models", {"file": ("torch.safetensors", content)}).status == 201, "the original loads")


def test_thousand_class_job_json_is_bounded():
    rows = [[i % 13, i % 7, "c%d" % (i % 1000)] for i in range(2000)]
    ds = server.post("/v1/datasets", csv_text(["a", "b", "label"], rows), content_type="text/csv").json()
    check(len(ds["classes"]) == 1000, "classes %d" % len(ds["classes"]))
    arch = {"input": [2], "layers": [{"type": "dense", "units": 1000, "activation": "softmax"}]}
    job = submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 1, "test": ds["id"]})
    job = server.wait_job(job["id"], timeout=120)
    check(job["status"] == "succeeded", "%r" % job)
    best = 1.0
    for _ in range(5):
        t0 = time.monotonic()
        resp = server.get("/v1/jobs/" + job["id"])
        best = min(best, time.monotonic() - t0)
    check(resp.status == 200 and len(resp.body) < MB, "GET: %d bytes" % len(resp.body))
    check(best < 0.05, "GET took %.3f s" % best)
    print("1000-class job: GET %d bytes in %.1f ms (best of 5)" % (len(resp.body), best * 1000))
    cm = resp.json()["test_metrics"]["confusion_matrix"]
    check("matrix" not in cm and cm["classes"] == 1000 and len(cm["labels"]) == 1000, "%r" % list(cm))
    check(len(cm["per_class"]) == 1000 and sum(c["support"] for c in cm["per_class"]) == 2000, "per_class")
    top = cm["top_confusions"]
    check(0 < len(top) <= 20 and all(t["true"] != t["predicted"] for t in top), "top %r" % top[:3])
    check([t["count"] for t in top] == sorted((t["count"] for t in top), reverse=True), "top is sorted")
    resp = bounded(server, lambda: server.get("/v1/jobs/%s/confusion.png" % job["id"]))
    expect_error(resp, 422, "too_many_classes")
    # The whole matrix downloads as CSV, and agrees with the summary.
    resp = server.get("/v1/jobs/%s/confusion.csv" % job["id"])
    check(resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv"), "%r" % resp)
    table = list(csv.reader(io.StringIO(resp.body.decode())))
    check(len(table) == 1001 and table[0][0] == "true\\predicted" and table[0][1:] == cm["labels"], "CSV head")
    counts = [[int(x) for x in row[1:]] for row in table[1:]]
    check([row[0] for row in table[1:]] == cm["labels"] and all(len(row) == 1000 for row in counts), "CSV rows")
    check([sum(row) for row in counts] == [c["support"] for c in cm["per_class"]], "row sums are the supports")
    for t in top:
        i, j = cm["labels"].index(t["true"]), cm["labels"].index(t["predicted"])
        check(counts[i][j] == t["count"], "top confusion %r vs CSV %d" % (t, counts[i][j]))


def test_small_job_keeps_full_matrix():
    rows = [[i % 5, i % 3, "abc"[i % 3]] for i in range(60)]
    ds = server.post("/v1/datasets", csv_text(["a", "b", "label"], rows), content_type="text/csv").json()
    arch = {"input": [2], "layers": [{"type": "dense", "units": 3, "activation": "softmax"}]}
    job = server.wait_job(submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 1,
                                          "test": ds["id"]})["id"])
    cm = job["test_metrics"]["confusion_matrix"]
    check(cm["labels"] == ["a", "b", "c"] and sum(map(sum, cm["matrix"])) == 60 and "per_class" not in cm, "%r" % cm)
    check(server.get("/v1/jobs/%s/confusion.png" % job["id"]).status == 200, "confusion.png")
    table = list(csv.reader(io.StringIO(server.get("/v1/jobs/%s/confusion.csv" % job["id"]).body.decode())))
    check(table[0] == ["true\\predicted", "a", "b", "c"] and [row[0] for row in table[1:]] == ["a", "b", "c"], "%r" % table)
    check([[int(x) for x in row[1:]] for row in table[1:]] == cm["matrix"], "CSV %r != JSON %r" % (table, cm["matrix"]))
    # The same from evaluate, for any model and dataset.
    ev = server.post("/v1/models/%s/evaluate?format=csv" % job["result_model"], {"dataset": ds["id"]})
    check(ev.status == 200 and list(csv.reader(io.StringIO(ev.body.decode()))) == table, "evaluate CSV %r" % ev)
    expect_error(server.post("/v1/models/%s/evaluate?format=xml" % job["result_model"], {"dataset": ds["id"]}),
                 400, "invalid_format")


def test_confusion_csv_errors():
    """confusion.csv: 404 for a job without a test set, 409 before the job
    has succeeded, 410 once its test dataset is gone."""
    rows = [[i % 5, i % 3, "abc"[i % 3]] for i in range(60)]
    ds = server.post("/v1/datasets", csv_text(["a", "b", "label"], rows), content_type="text/csv").json()
    test = server.post("/v1/datasets", csv_text(["a", "b", "label"], rows), content_type="text/csv").json()
    arch = {"input": [2], "layers": [{"type": "dense", "units": 3, "activation": "softmax"}]}
    plain = server.wait_job(submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 1})["id"])
    expect_error(server.get("/v1/jobs/%s/confusion.csv" % plain["id"]), 404, "no_confusion_matrix")
    long = submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 100000, "test": test["id"]})
    expect_error(server.get("/v1/jobs/%s/confusion.csv" % long["id"]), 409, "not_ready")
    server.post("/v1/jobs/%s/cancel" % long["id"])
    server.wait_job(long["id"])
    tested = server.wait_job(submit(server, {"dataset": ds["id"], "architecture": arch, "epochs": 1,
                                             "test": {"id": test["id"], "classes": ["c", "a", "b"]}})["id"])
    table = list(csv.reader(io.StringIO(server.get("/v1/jobs/%s/confusion.csv" % tested["id"]).body.decode())))
    check(table[0] == ["true\\predicted", "c", "a", "b"], "a selector's classes, in its order: %r" % table)
    check(server.delete("/v1/datasets/" + test["id"]).status in (200, 204), "delete the test set")
    expect_error(server.get("/v1/jobs/%s/confusion.csv" % tested["id"]), 410, "gone")


if __name__ == "__main__":
    main(globals())
