#!/usr/bin/python3
"""/v1/datasets against the real service: uploads (multipart CSV, IDX pair,
gzipped IDX, raw text/csv body, ?name= / ?label= / ?task= and form fields),
upload errors, list pagination, get, delete and the 409 while a job uses a
dataset."""
import gzip
import re
import sys

from harness import (Server, check, csv_text, expect_error, idx_subset, main, start_long_job,
                     cancel_and_wait, submit, upload_fashion)

server = None
ID = re.compile(r"^ds_[0-9a-f]{24}$")

COLORS_CSV = csv_text(["width", "height", "color"],
                      [[1.5, 2, "red"], [0.5, 1, "green"], [2.5, 3.25, "red"], [1, 1, "blue"], [3, 0.5, "green"],
                       [2, 2, "red"]])
REGRESSION_CSV = csv_text(["x1", "x2", "price"], [[i, i * 0.5, 10.5 + i] for i in range(20)])


def setup():
    global server
    server = Server()


def check_dataset_object(ds):
    check(ID.match(ds["id"]), "dataset id %r" % ds["id"])
    check(ds["object"] == "dataset" and ds["status"] == "ready", "object/status: %r" % ds)
    check(isinstance(ds["created_at"], int) and ds["created_at"] > 1600000000, "created_at %r" % ds["created_at"])
    check(isinstance(ds["bytes"], int) and ds["bytes"] > 0, "bytes %r" % ds.get("bytes"))


def test_upload_multipart_csv():
    r = server.upload("/v1/datasets", {"file": ("colors.csv", COLORS_CSV.encode())})
    check(r.status == 201, "upload: %r" % r)
    ds = r.json()
    check_dataset_object(ds)
    check(ds["name"] == "colors.csv", "name defaults to the file name: %r" % ds["name"])
    check(ds["format"] == "csv" and ds["rows"] == 6 and ds["input_shape"] == [2], "summary: %r" % ds)
    check(ds["task"] == "classification" and ds["label_column"] == "color", "task/label: %r" % ds)
    check(ds["features"] == ["width", "height"], "features %r" % ds["features"])
    # Classes sorted by name, with their counts.
    check(ds["classes"] == [{"name": "blue", "count": 1}, {"name": "green", "count": 2}, {"name": "red", "count": 3}],
          "classes %r" % ds["classes"])
    got = server.get("/v1/datasets/" + ds["id"])
    check(got.status == 200 and got.json() == ds, "GET differs from the upload reply: %r" % got)


def test_upload_query_name_label_task():
    # ?label= picks another column than the last; ?task=regression makes its
    # values targets; ?name= names the dataset.
    r = server.upload("/v1/datasets", {"file": ("prices.csv", REGRESSION_CSV.encode())},
                      query="?label=x2&name=halves&task=regression")
    check(r.status == 201, "upload: %r" % r)
    ds = r.json()
    check(ds["name"] == "halves" and ds["label_column"] == "x2", "name/label: %r" % ds)
    check(ds["features"] == ["x1", "price"], "the other columns are features: %r" % ds["features"])
    check(ds["task"] == "regression" and "classes" not in ds, "task: %r" % ds)
    check(abs(ds["targets"]["max"] - 9.5) < 1e-6, "targets are x2's values: %r" % ds["targets"])
    # A text column cannot be a feature: 422 naming the line and column.
    r = server.upload("/v1/datasets", {"file": ("c.csv", COLORS_CSV.encode())}, query="?label=height")
    err = expect_error(r, 422, code="invalid_dataset")
    check("line 2" in err["message"] and "color" in err["message"], "message names the spot: %r" % err)
    # ?task=classification turns numeric labels into classes.
    rows = csv_text(["a", "y"], [[i, (i % 3) * 10] for i in range(12)])
    ds = server.post("/v1/datasets?task=classification", rows, content_type="text/csv").json()
    check(ds["task"] == "classification" and [c["name"] for c in ds["classes"]] == ["0", "10", "20"], "%r" % ds)
    ds = server.post("/v1/datasets?task=regression", rows, content_type="text/csv").json()
    check(ds["task"] == "regression", "%r" % ds)


def test_upload_raw_body_csv():
    r = server.post("/v1/datasets?name=prices&task=regression", REGRESSION_CSV, content_type="text/csv")
    check(r.status == 201, "raw upload: %r" % r)
    ds = r.json()
    check_dataset_object(ds)
    check(ds["name"] == "prices" and ds["rows"] == 20 and ds["input_shape"] == [2], "%r" % ds)
    check(ds["task"] == "regression" and ds["targets"]["dim"] == 1, "targets %r" % ds.get("targets"))
    check(abs(ds["targets"]["min"] - 10.5) < 1e-6 and abs(ds["targets"]["max"] - 29.5) < 1e-6, "%r" % ds["targets"])
    # Content-Type with parameters is still text/csv.
    r = server.post("/v1/datasets", REGRESSION_CSV, content_type="text/csv; charset=utf-8")
    check(r.status == 201 and r.json()["rows"] == 20, "%r" % r)


def test_upload_name_as_form_field():
    r = server.upload("/v1/datasets", {"file": ("colors.csv", COLORS_CSV.encode())},
                      fields={"name": "from-form", "label": "color"})
    check(r.status == 201, "%r" % r)
    check(r.json()["name"] == "from-form" and r.json()["label_column"] == "color", "%r" % r.json())


def test_upload_idx_pair():
    img, lab = idx_subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 300)
    r = server.upload("/v1/datasets", {"images": ("train-images", img), "labels": ("train-labels", lab)},
                      query="?name=fashion300")
    check(r.status == 201, "%r" % r)
    ds = r.json()
    check_dataset_object(ds)
    check(ds["name"] == "fashion300" and ds["format"] == "idx", "%r" % ds)
    check(ds["rows"] == 300 and ds["input_shape"] == [1, 28, 28] and ds["dtype"] == "uint8", "%r" % ds)
    counts = [0] * 10
    for b in lab[8:]:
        counts[b] += 1
    check([c["count"] for c in ds["classes"]] == counts, "class counts %r vs %r" % (ds["classes"], counts))
    check([c["name"] for c in ds["classes"]] == [str(i) for i in range(10)], "class names %r" % ds["classes"])
    check(sorted(f["role"] for f in ds["files"]) == ["images", "labels"], "files %r" % ds["files"])


def test_upload_idx_gzipped():
    img, lab = idx_subset("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 50, classes={1, 3})
    r = server.upload("/v1/datasets", {"images": ("i.gz", gzip.compress(img)), "labels": ("l.gz", gzip.compress(lab))})
    check(r.status == 201, "%r" % r)
    ds = r.json()
    check(ds["rows"] == 50 and ds["compression"] == "gzip", "%r" % ds)
    # IDX labels are class indices: classes 0..3, the absent ones empty.
    check([c["name"] for c in ds["classes"]] == ["0", "1", "2", "3"], "classes %r" % ds["classes"])
    counts = [sum(1 for b in lab[8:] if b == k) for k in range(4)]
    check([c["count"] for c in ds["classes"]] == counts and counts[0] == 0, "counts %r" % ds["classes"])


def test_upload_errors():
    # A non-numeric feature: 422 naming where.
    bad = "a,b,y\n1,2,x\n3,oops,y\n"
    err = expect_error(server.post("/v1/datasets", bad, content_type="text/csv"), 422, code="invalid_dataset")
    check("line 3" in err["message"] or "3" in err["message"], "message names the line: %r" % err["message"])
    expect_error(server.post("/v1/datasets", "", content_type="text/csv"), 422)
    expect_error(server.post("/v1/datasets?task=bogus", REGRESSION_CSV, content_type="text/csv"), 400,
                 code="invalid_option", param="task")
    expect_error(server.post("/v1/datasets?label=nope", REGRESSION_CSV, content_type="text/csv"), 422, param="label")
    img, lab = idx_subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 5)
    expect_error(server.upload("/v1/datasets", {"images": ("i", img)}), 400, code="missing_file", param="labels")
    expect_error(server.upload("/v1/datasets", {"labels": ("l", lab)}), 400, code="missing_file", param="images")
    # Two files, neither named "file": which one?
    expect_error(server.upload("/v1/datasets", {"a": ("a.csv", b"a,b\n1,2\n"), "b": ("b.csv", b"a,b\n1,2\n")}),
                 400, code="missing_file", param="file")
    # Multipart with only a plain field, truncated multipart, no boundary.
    expect_error(server.upload("/v1/datasets", {}, fields={"name": "x"}), 400, code="missing_file")
    truncated = b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,b\n1,2\n'
    expect_error(server.request("POST", "/v1/datasets", truncated, content_type="multipart/form-data; boundary=zz"),
                 400, code="invalid_multipart")
    expect_error(server.request("POST", "/v1/datasets", b"x", content_type="multipart/form-data"), 400,
                 code="invalid_multipart")
    # Wrong content types.
    expect_error(server.post("/v1/datasets", '{"rows": []}', content_type="application/json"), 415,
                 param="Content-Type")
    expect_error(server.post("/v1/datasets", b"\x89PNG", content_type="image/png"), 415)
    # Nothing half-made became visible.
    names = [d["name"] for d in list_all()]
    check("x" not in names, "a failed upload is listed: %r" % names)


def list_all(query=""):
    out, after = [], None
    while True:
        r = server.get("/v1/datasets?limit=100" + query + ("&after=" + after if after else ""))
        check(r.status == 200, "%r" % r)
        page = r.json()
        out += page["data"]
        if not page["has_more"]:
            return out
        after = page["data"][-1]["id"]


def test_list_pagination():
    fresh = Server()
    try:
        empty = fresh.get("/v1/datasets").json()
        check(empty == {"object": "list", "data": [], "has_more": False}, "empty list: %r" % empty)
        ids = []
        for i in range(5):
            r = fresh.post("/v1/datasets?name=d%d" % i, REGRESSION_CSV, content_type="text/csv")
            check(r.status == 201, "%r" % r)
            ids.append(r.json()["id"])
        newest_first = ids[::-1]
        page = fresh.get("/v1/datasets?limit=2").json()
        check(page["object"] == "list" and page["has_more"] is True, "%r" % page)
        check([d["id"] for d in page["data"]] == newest_first[:2], "first page %r" % page)
        page2 = fresh.get("/v1/datasets?limit=2&after=" + page["data"][-1]["id"]).json()
        check([d["id"] for d in page2["data"]] == newest_first[2:4] and page2["has_more"] is True, "%r" % page2)
        page3 = fresh.get("/v1/datasets?limit=2&after=" + page2["data"][-1]["id"]).json()
        check([d["id"] for d in page3["data"]] == newest_first[4:] and page3["has_more"] is False, "%r" % page3)
        exact = fresh.get("/v1/datasets?limit=5").json()
        check(len(exact["data"]) == 5 and exact["has_more"] is False, "limit == count: %r" % exact["has_more"])
        default = fresh.get("/v1/datasets").json()
        check([d["id"] for d in default["data"]] == newest_first, "default limit lists all 5")
        check(default["data"][0]["name"] == "d4", "list items are full objects: %r" % default["data"][0])
        for bad in ("0", "101", "-1", "abc", "", "2x"):
            expect_error(fresh.get("/v1/datasets?limit=" + bad), 400, param="limit")
        expect_error(fresh.get("/v1/datasets?after=ds_000000000000000000000000"), 404, param="after")
        expect_error(fresh.get("/v1/datasets?after=garbage"), 404, param="after")
        fresh.stop_clean()
    finally:
        fresh.close()


def test_get_and_delete():
    ds = server.post("/v1/datasets?name=doomed", REGRESSION_CSV, content_type="text/csv").json()
    r = server.delete("/v1/datasets/" + ds["id"])
    check(r.status == 200, "%r" % r)
    check(r.json() == {"id": ds["id"], "object": "dataset", "deleted": True}, "%r" % r.json())
    expect_error(server.get("/v1/datasets/" + ds["id"]), 404, param="id")
    expect_error(server.delete("/v1/datasets/" + ds["id"]), 404)
    check(ds["id"] not in [d["id"] for d in list_all()], "deleted dataset still listed")
    # A job cannot use it any more.
    arch = {"input": [2], "layers": [{"type": "dense", "units": 1, "activation": "linear"}]}
    expect_error(server.post("/v1/jobs", {"dataset": ds["id"], "architecture": arch}), 422, param="dataset")
    for bad in ("ds_000000000000000000000000", "ds_123", "mdl_000000000000000000000000", "DS_" + "0" * 24, "x"):
        expect_error(server.get("/v1/datasets/" + bad), 404)
        expect_error(server.delete("/v1/datasets/" + bad), 404)


def test_delete_conflict_while_job_uses_it():
    train = upload_fashion(server, 300)
    test = upload_fashion(server, 100, split="t10k")
    running = start_long_job(server, train["id"])
    # The worker is busy: this one stays queued. It names `test` as its test set.
    queued = submit(server, {"dataset": train["id"], "test": test["id"],
                             "architecture": {"input": [1, 28, 28], "layers": [
                                 {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]},
                             "epochs": 1})
    try:
        check(server.get("/v1/jobs/" + queued["id"]).json()["status"] == "queued", "second job should wait")
        err = expect_error(server.delete("/v1/datasets/" + train["id"]), 409, code="conflict")
        check(running["id"] in err["message"] or queued["id"] in err["message"], "names the job: %r" % err)
        err = expect_error(server.delete("/v1/datasets/" + test["id"]), 409, code="conflict")
        check(queued["id"] in err["message"] and "queued" in err["message"], "names the queued job: %r" % err)
        check(server.get("/v1/datasets/" + train["id"]).status == 200, "still there after a 409")
    finally:
        check(cancel_and_wait(server, queued["id"])["status"] == "cancelled", "queued job cancelled")
        check(cancel_and_wait(server, running["id"])["status"] == "cancelled", "running job cancelled")
    # No active job uses them now.
    check(server.delete("/v1/datasets/" + test["id"]).status == 200, "delete after the jobs ended")
    check(server.delete("/v1/datasets/" + train["id"]).status == 200, "delete after the jobs ended")


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report
    # (the suite also runs against the ASan/UBSan build).
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
