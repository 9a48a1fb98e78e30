#!/usr/bin/python3
"""The dashboard (GET / and /ui/...): the embedded files as served (types,
ETag and 304, the Content-Security-Policy, 404s, public with an API key,
not served by a worker), the sample-image route it uses, and the pages in
a real browser (Debian chromium driven by playwright-core,
tests/browser/dashboard.js) against this live server: every page, the key
asked once with auth on, a 422 beside its field in the New job form, live
progress and cancel, the compare view; no console errors and no request
leaving the origin. Screenshots are kept in <build>/artifacts/ui-<store>/."""
import io
import json
import os
import subprocess

from PIL import Image

from harness import (BUILD, ROOT, STORE, Server, cancel_and_wait, check, expect_error, idx_subset,
                     main, mlp_architecture, start_long_job, submit, upload_fashion, wait_for)

UI_DIR = os.path.join(ROOT, "ui")
SHOTS = os.path.join(ROOT, BUILD, "artifacts", "ui-" + STORE)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
KEY = "ui-test-key-0123456789"
server = None
S = {}


def setup():
    global server
    os.makedirs(SHOTS, exist_ok=True)
    print("screenshots: " + SHOTS, flush=True)
    server = Server()
    S["train"] = upload_fashion(server, 300, name="fashion-300")
    S["test"] = upload_fashion(server, 200, split="t10k", name="fashion-test")
    base = server.wait_job(submit(server, {"dataset": S["train"]["id"], "epochs": 6, "name": "base",
                                           "architecture": mlp_architecture([1, 28, 28], 10, (64, 32))})["id"])
    check(base["status"] == "succeeded", "base job: %r" % base)
    S["base"] = base["result_model"]
    S["jobs"] = []
    for name, extra in (("drop2", {"drop_layers": 2, "head": {"hidden": [16]}}), ("drop1", {"freeze": "none"})):
        job = submit(server, dict({"dataset": S["train"]["id"], "base_model": S["base"], "epochs": 6, "name": name,
                                   "preprocessing": {"standardize": True},
                                   "validation": {"split": 0.2}, "test": S["test"]["id"]}, **extra))
        S["jobs"].append(server.wait_job(job["id"]))
        check(S["jobs"][-1]["status"] == "succeeded", "%r" % S["jobs"][-1])


def browser(scenario, srv=None, **cfg):
    """Run one scenario of tests/browser/dashboard.js; its result, after
    checking that it passed."""
    cfg = dict(cfg, url=(srv or server).url, shots=SHOTS)
    proc = subprocess.run(["node", os.path.join(ROOT, "tests", "browser", "dashboard.js"), scenario, json.dumps(cfg)],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    check(lines, "no result from the browser: %s" % proc.stderr[-2000:])
    out = json.loads(lines[-1])
    check(out["ok"], "%s: %s\nconsole: %r" % (scenario, out["error"], out["console"]))
    check(out["requests"], "requests were recorded")
    return out["result"]


def test_files_served_as_built():
    names = sorted(os.listdir(UI_DIR))
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for name in names:
        r = server.get("/ui/" + name)
        with open(os.path.join(UI_DIR, name), "rb") as f:
            check(r.status == 200 and r.body == f.read(), "/ui/%s: %r" % (name, r))
        check(r.headers["Content-Type"].startswith(types[os.path.splitext(name)[1]]), "%s: %r" % (name, r.headers))
        check(r.headers["Content-Security-Policy"] == CSP, r.headers["Content-Security-Policy"])
        check(r.headers["X-Content-Type-Options"] == "nosniff", "nosniff")
        check(r.headers["Cache-Control"] == "no-cache", "revalidated: %r" % r.headers["Cache-Control"])
    index = server.get("/")
    check(index.status == 200 and index.body == server.get("/ui/index.html").body, "GET / is index.html")
    check(b"<script type=\"module\" src=\"/ui/app.js\">" in index.body, "the script is a file, not inline")


def test_etag_and_not_modified():
    r = server.get("/ui/app.js")
    etag = r.headers["ETag"]
    check(etag.startswith('"') and etag.endswith('"') and len(etag) == 18, etag)
    again = server.get("/ui/app.js", headers={"If-None-Match": etag})
    check(again.status == 304 and again.body == b"" and again.headers["ETag"] == etag, "%r" % again)
    other = server.get("/ui/app.js", headers={"If-None-Match": '"0000000000000000"'})
    check(other.status == 200 and other.body == r.body, "a stale tag gets the file")
    check(server.get("/ui/style.css").headers["ETag"] != etag, "each file its own tag")


def test_unknown_ui_paths_404():
    for path in ("/ui/nope.js", "/ui/", "/ui", "/ui/app.js/x", "/ui/..%2fMakefile", "/index.html"):
        expect_error(server.get(path), 404)
    expect_error(server.post("/", {}), 405)
    check(server.request("HEAD", "/").status == 200, "HEAD /")


def test_no_reference_to_another_origin():
    """Nothing in ui/ names another host: the page loads and calls only this server."""
    for name in os.listdir(UI_DIR):
        with open(os.path.join(UI_DIR, name), encoding="utf-8") as f:
            text = f.read()
        for bad in ("http://", "https://", "//cdn", "@import", "<script>", " style=\"", "eval("):
            check(bad not in text or (name == "icon.svg" and bad == "http://"), "%s has %r" % (name, bad))


def test_public_with_auth_and_not_on_workers():
    with Server("--api-key", KEY) as authed:
        check(authed.get("/").status == 200 and authed.get("/ui/app.js").status == 200, "the page needs no key")
        expect_error(authed.get("/v1/jobs"), 401)
        expect_error(authed.get("/v1/datasets/%s/samples/0.png" % S["train"]["id"]), 401)
        authed.stop_clean()
    if STORE == "postgres":
        with Server("--role", "worker") as worker:
            expect_error(worker.get("/"), 404)
            check(worker.get("/healthz").status == 200, "a worker's probes")
            worker.stop_clean()


def test_sample_images():
    ds = S["train"]["id"]
    img, _ = idx_subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 300)
    for row in (0, 7, 299):
        r = server.get("/v1/datasets/%s/samples/%d.png" % (ds, row))
        check(r.status == 200 and r.headers["Content-Type"] == "image/png", "%r" % r)
        png = Image.open(io.BytesIO(r.body)).convert("L")
        check(png.size == (28, 28), "%r" % (png.size,))
        check(png.tobytes() == img[16 + 784 * row:16 + 784 * (row + 1)], "row %d's pixels" % row)
    expect_error(server.get("/v1/datasets/%s/samples/300.png" % ds), 404, param="file")
    for bad in ("x.png", "1.jpg", "-1.png", "1.png.png", "01234567890.png"):
        expect_error(server.get("/v1/datasets/%s/samples/%s" % (ds, bad)), 404, param="file")
    expect_error(server.get("/v1/datasets/ds_000000000000000000000000/samples/0.png"), 404)
    table = server.post("/v1/datasets", "a,b,label\n1,2,x\n3,4,y\n", content_type="text/csv").json()
    expect_error(server.get("/v1/datasets/%s/samples/0.png" % table["id"]), 404, param="id")


def test_browser_pages():
    done = S["jobs"][0]
    model = server.get("/v1/models/" + done["result_model"]).json()
    out = browser("pages", dataset=S["train"]["id"], model=model["id"], base=S["base"], job=done["id"],
                  layers=len(model["layers"]))
    rows = server.get("/v1/jobs/%s/metrics" % done["id"]).json()["data"]
    best = max(rows, key=lambda r: r["val_accuracy"])
    check(out["best_epoch"] == best["epoch"], "best epoch %r, expected %r" % (out["best_epoch"], best["epoch"]))


def test_browser_new_job_422_beside_the_field():
    spec = {"dataset": S["train"]["id"], "base_model": S["base"], "drop_layers": 2, "epochs": 1,
            "optimizer": {"lr": -1}}
    api = server.post("/v1/jobs", spec)
    expect_error(api, 422, param="optimizer.lr")
    out = browser("newjob", dataset=S["train"]["id"], base=S["base"], expect=[[422, "/v1/jobs$"]])
    check(out["message"] == api.json()["error"]["message"], "the API's words: %r" % out["message"])
    job = server.get("/v1/jobs/" + out["job"]).json()
    check(job["spec"]["optimizer"]["lr"] == 0.05 and job["spec"]["drop_layers"] == 2 and job["spec"]["epochs"] == 1
          and job["spec"]["freeze"] == {"trainable_last": 1} and job["spec"]["dataset"] == S["train"]["id"],
          "the form's spec: %r" % job["spec"])
    server.wait_job(job["id"])


def test_browser_live_progress_and_cancel():
    running = start_long_job(server, S["train"]["id"])
    try:
        browser("live", running=running["id"])
    finally:
        done = cancel_and_wait(server, running["id"])
    check(done["status"] == "cancelled", "%r" % done["status"])


def test_browser_compare():
    ids = [j["id"] for j in S["jobs"]]
    out = browser("compare", jobs=ids)
    fields = {row[0]: row[1:] for row in out["rows"]}
    check(fields.get("drop_layers") == ["2", "1"] and fields.get("freeze") == ['"base"', '"none"'],
          "spec differences: %r" % out["rows"])
    check("epochs" not in fields and "dataset" not in fields, "only differences: %r" % out["rows"])


def test_browser_sweep_leaderboard():
    """A real sweep (2 variants x 2 seeds) on the Sweeps page: the rows and
    links are the API's leaderboard, best first."""
    spec = {"dataset": S["train"]["id"], "base_model": S["base"], "epochs": 2, "test": S["test"]["id"]}
    resp = server.post("/v1/sweeps", {"spec": spec, "grid": {"drop_layers": [1, 2]}, "seeds": [0, 1], "name": "ui"})
    check(resp.status == 201, "%r" % resp)
    sweep = resp.json()
    wait_for(lambda: server.get("/v1/sweeps/" + sweep["id"]).json()["status"] == "completed", timeout=120,
             what="the sweep")
    board = server.get("/v1/sweeps/" + sweep["id"]).json()["leaderboard"]
    out = browser("sweeps", sweep=sweep["id"])
    check(out["heads"] == ["rank", "drop_layers", "mean ± std", "min", "max", "n", "time (mean)", "jobs"], out["heads"])
    check([r[1] for r in out["rows"]] == [str(row["values"]["drop_layers"]) for row in board], "%r" % out["rows"])
    for shown, row in zip(out["rows"], board):
        near = lambda text, v: abs(float(text) - v) <= 5e-4 * max(1.0, abs(v))  # 4 significant digits
        check(shown[5] == "2" and near(shown[3], row["min"]) and near(shown[4], row["max"]), "%r vs %r" % (shown, row))
    check(out["links"] == ["#/jobs/" + j["id"] for row in board for j in row["jobs"]], "%r" % out["links"])


def test_browser_screenshot():
    out = browser("screenshot", job=S["jobs"][0]["id"])
    check(os.path.getsize(out["shots"][0]) > 10000, "a real screenshot")
    print("dashboard screenshot: " + out["shots"][0], flush=True)


def test_browser_auth_asks_once():
    """Last: the same server restarted with an API key."""
    server.stop_clean()
    server.log.close()
    server.flags = ["--api-key", KEY]
    server.start()
    browser("auth", key=KEY, job=S["jobs"][0]["id"], expect=[[401, "/v1/"]])


def test_shutdown_is_clean():
    # Last: SIGTERM ends the server with status 0 and no sanitizer report
    # (the suite also runs against the ASan/UBSan build).
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
