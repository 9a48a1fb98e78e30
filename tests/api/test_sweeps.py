"""Sweeps (POST /v1/sweeps): a grid of job specs over seeds, checked whole
before anything is queued, queued in one transaction, run sharing the
feature store (the backbone once per distinct frozen part, even with two
workers), ranked on a leaderboard whose numbers are the jobs' own, as CSV
and as a chart; cancel; the refusals."""
import csv
import io
import json
import os
import re
import statistics
import subprocess
import tempfile

from harness import ROOT, Server, check, main, png_size, postgres_only, upload_fashion, wait_for
from test_openapi import conforms

ARCH = {"input": [1, 28, 28], "layers": [
    {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 32, "activation": "relu"},
    {"type": "dense", "units": 10, "activation": "softmax"}]}


def base_model(s, ds):
    resp = s.post("/v1/jobs", {"dataset": ds, "architecture": ARCH, "epochs": 1, "seed": 1})
    check(resp.status == 201, resp)
    job = s.wait_job(resp.json()["id"])
    check(job["status"] == "succeeded", job)
    return job["result_model"]


def wait_sweep(s, sweep_id, timeout=120):
    return wait_for(lambda: (lambda w: w if w["status"] != "running" else None)(
        s.get("/v1/sweeps/" + sweep_id).json()), timeout=timeout, what="sweep %s to end" % sweep_id)


def cache_events(s, job_id):
    events = s.get("/v1/jobs/%s/events?limit=100" % job_id).json()["data"]
    return [e["data"] for e in events if (e.get("data") or {}).get("event") == "feature_cache"]


def test_grid_over_seeds_runs_each_backbone_once_and_ranks_the_variants():
    with Server(workers=2) as s:
        ds = upload_fashion(s, 300)["id"]
        test = upload_fashion(s, 200, split="test")["id"]
        base = base_model(s, ds)
        body = {"name": "transfer", "metric": "test.accuracy", "seeds": [0, 1],
                "spec": {"dataset": ds, "test": test, "base_model": base, "epochs": 2, "batch_size": 32},
                "grid": {"drop_layers": [1, 2], "init": ["he_normal", "zeros"], "freeze": ["base"]}}
        resp = s.post("/v1/sweeps", body)
        check(resp.status == 201, resp)
        sweep = conforms("POST", "/v1/sweeps", resp)
        check(sweep["id"].startswith("swp_") and sweep["progress"]["total"] == 8, sweep)
        jobs = s.get("/v1/jobs?sweep=%s&limit=100" % sweep["id"]).json()["data"]
        check(len(jobs) == 8 and all(j["sweep_id"] == sweep["id"] for j in jobs), jobs)
        check(s.get("/v1/jobs?sweep=swp_000000000000000000000000").json()["data"] == [], "filter leaks")

        done = wait_sweep(s, sweep["id"])
        conforms("GET", "/v1/sweeps/{id}", s.get("/v1/sweeps/" + sweep["id"]))
        conforms("GET", "/v1/jobs", s.get("/v1/jobs?sweep=" + sweep["id"]))
        check(done["status"] == "completed" and done["progress"] == {"total": 8, "done": 8}, done)
        check(isinstance(done["completed_at"], int), done)
        jobs = {j["id"]: s.get("/v1/jobs/" + j["id"]).json() for j in jobs}
        check(all(j["status"] == "succeeded" for j in jobs.values()), jobs)

        # The backbone ran once per distinct frozen part (drop 1, drop 2):
        # every other job of the same cut waited for it and read its features.
        misses = {}
        for job in jobs.values():
            events = cache_events(s, job["id"])
            check(len(events) == 1, "one feature_cache event per job: %r" % events)
            if not events[0]["hit"]:
                misses.setdefault(job["spec"]["drop_layers"], []).append(job["id"])
        check(sorted(misses) == [1, 2] and all(len(v) == 1 for v in misses.values()),
              "the backbone ran more than once per frozen part: %r" % misses)

        board = done["leaderboard"]
        check(len(board) == 4 and [r["rank"] for r in board] == [1, 2, 3, 4], board)
        means = [r["mean"] for r in board]
        check(means == sorted(means, reverse=True), "not best first: %r" % means)
        for row in board:
            values = [jobs[j["id"]]["test_metrics"]["accuracy"] for j in row["jobs"]]
            check(sorted(j["seed"] for j in row["jobs"]) == [0, 1], row)
            check(all(jobs[j["id"]]["spec"]["seed"] == j["seed"] for j in row["jobs"]), row)
            check(all(jobs[j["id"]]["spec"][k] == v for j in row["jobs"] for k, v in row["values"].items()), row)
            check(row["n"] == 2 and abs(row["mean"] - statistics.mean(values)) < 1e-9, (row, values))
            check(abs(row["std"] - statistics.stdev(values)) < 1e-9, (row, values))
            check(row["min"] == min(values) and row["max"] == max(values), (row, values))
            seconds = sum(jobs[j["id"]]["train_seconds"] for j in row["jobs"])
            check(abs(row["seconds_total"] - seconds) < 1e-6, (row, seconds))
            check(all(j["url"] == "/v1/jobs/" + j["id"] for j in row["jobs"]), row)

        resp = s.get("/v1/sweeps/%s/results.csv" % sweep["id"])
        check(resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv"), resp)
        rows = list(csv.DictReader(io.StringIO(resp.body.decode())))
        check(len(rows) == 4, rows)
        for row, entry in zip(rows, board):
            check(int(row["rank"]) == entry["rank"] and int(row["drop_layers"]) == entry["values"]["drop_layers"], row)
            check(row["init"] == entry["values"]["init"] and abs(float(row["mean"]) - entry["mean"]) < 1e-5, row)
            check(row["jobs"].split() == [j["id"] for j in entry["jobs"]], row)

        resp = s.get("/v1/sweeps/%s/chart.png" % sweep["id"])
        check(resp.status == 200 and resp.headers["Content-Type"] == "image/png", resp)
        from PIL import Image
        image = Image.open(io.BytesIO(resp.body))
        image.load()
        check(image.size == (900, 500), image.size)

        conforms("GET", "/v1/sweeps/{id}/results.csv", s.get("/v1/sweeps/%s/results.csv" % sweep["id"]))
        listed = conforms("GET", "/v1/sweeps", s.get("/v1/sweeps"))["data"]
        check([w["id"] for w in listed] == [sweep["id"]] and "leaderboard" not in listed[0], listed)


@postgres_only
def test_worker_processes_on_one_data_dir_run_a_frozen_part_once():
    """An API process and two worker processes sharing the data dir and the
    database: the sweep's jobs, all on one frozen part, are claimed by both
    at once, and the backbone still runs once."""
    api = Server("--role", "api", store="postgres")
    workers = [Server("--role", "worker", data_dir=api.data_dir, store="postgres") for _ in range(2)]
    try:
        ds = upload_fashion(api, 300)["id"]
        base = base_model(api, ds)
        resp = api.post("/v1/sweeps", {"spec": {"dataset": ds, "test": ds, "base_model": base, "epochs": 1},
                                       "grid": {"init": ["he_normal", "zeros", "xavier_uniform"]}, "seeds": [0, 1]})
        check(resp.status == 201, resp)
        done = wait_sweep(api, resp.json()["id"])
        check(done["status"] == "completed" and all(r["n"] == 2 for r in done["leaderboard"]), done)
        misses = [j["id"] for r in done["leaderboard"] for j in r["jobs"] if not cache_events(api, j["id"])[0]["hit"]]
        check(len(misses) == 1, "the backbone ran %d times for one frozen part" % len(misses))
    finally:
        for w in workers:
            w.close()
        api.close()


def test_refusals_queue_nothing():
    with Server("--max-sweep-jobs", "4") as s:
        ds = upload_fashion(s, 50)["id"]
        spec = {"dataset": ds, "test": ds, "architecture": ARCH, "epochs": 1}

        def refused(body, param, *words):
            resp = s.post("/v1/sweeps", body)
            check(resp.status == 422, resp)
            error = conforms("POST", "/v1/sweeps", resp)["error"]
            check(error["param"] == param and all(w in error["message"] for w in words), error)

        refused({"spec": spec, "grid": {}}, "grid", "at least one")
        refused({"spec": spec}, "grid", "at least one")
        refused({"spec": spec, "grid": {"epochs": []}}, "grid.epochs", "non-empty")
        refused({"spec": spec, "grid": {"seed": [1, 2]}}, "grid.seed", "seeds")
        refused({"spec": dict(spec, webhook={"url": "https://example.com/h"}), "grid": {"epochs": [1]}},
                "spec.webhook", "POST /v1/webhooks")
        refused({"spec": spec, "grid": {"webhook.url": ["https://example.com/h"]}}, "grid.webhook.url", "webhook")
        refused({"spec": spec, "grid": {"epochs": [1, 2, 3]}, "seeds": [0, 1]}, "grid", "--max-sweep-jobs")
        refused({"spec": spec, "grid": {"epochs": [1]}, "metric": "test.speed"}, "metric", "accuracy")
        refused({"spec": dict(spec, test=None), "grid": {"epochs": [1]}}, "metric", "needs a test set")
        # A key the job spec does not know, and a bad value: named with the
        # variant, and nothing of the sweep is queued.
        refused({"spec": spec, "grid": {"dropp_layers": [1]}}, "dropp_layers", "variant 1 of 1", "dropp_layers=1")
        refused({"spec": spec, "grid": {"epochs": [1, 0]}, "seeds": [3]}, "epochs", "variant 2 of 2", "epochs=0")
        refused({"spec": spec, "grid": {"optimizer.lr": [0.1, -1]}}, "optimizer.lr", "variant 2 of 2")
        check(s.get("/v1/jobs").json()["data"] == [] and s.get("/v1/sweeps").json()["data"] == [],
              "a refused sweep queued something")

        # A dotted key sets a nested field; the rest of the object stays.
        resp = s.post("/v1/sweeps", {"spec": dict(spec, optimizer={"type": "sgd", "momentum": 0.5}),
                                     "grid": {"optimizer.lr": [0.1, 0.01]}, "metric": "test.loss"})
        check(resp.status == 201, resp)
        sweep = resp.json()
        check(sweep["higher_is_better"] is False and sweep["seeds"] == [42], sweep)
        jobs = [s.get(j["url"]).json() for row in sweep["leaderboard"] for j in row["jobs"]]
        check(sorted(j["spec"]["optimizer"]["lr"] for j in jobs) == [0.01, 0.1], jobs)
        check(all(j["spec"]["optimizer"]["momentum"] == 0.5 for j in jobs), jobs)
        done = wait_sweep(s, sweep["id"])
        losses = [r["mean"] for r in done["leaderboard"]]
        check(losses == sorted(losses), "a loss ranks lowest first: %r" % losses)
        unknown = s.get("/v1/sweeps/swp_000000000000000000000000")
        check(unknown.status == 404 and conforms("GET", "/v1/sweeps/{id}", unknown), unknown)


def test_idempotency_key_replays_the_sweep():
    """A retried create with the same Idempotency-Key and body gets the
    sweep it made (200, Idempotent-Replayed) and queues nothing more; the
    key with another body is a 409 that queues nothing."""
    with Server() as s:
        ds = upload_fashion(s, 50)["id"]
        body = {"spec": {"dataset": ds, "test": ds, "architecture": ARCH, "epochs": 1}, "grid": {"batch_size": [16, 32]}}
        key = {"Idempotency-Key": "nightly-2026-12-03"}
        first = s.post("/v1/sweeps", body, headers=key)
        check(first.status == 201 and "Idempotent-Replayed" not in first.headers, first)
        again = s.post("/v1/sweeps", body, headers=key)
        check(again.status == 200 and again.headers.get("Idempotent-Replayed") == "true", again)
        check(conforms("POST", "/v1/sweeps", again)["id"] == first.json()["id"], (first.json(), again.json()))
        other = s.post("/v1/sweeps", dict(body, seeds=[7]), headers=key)
        check(other.status == 409, other)
        error = conforms("POST", "/v1/sweeps", other)["error"]
        check(error["param"] == "Idempotency-Key" and first.json()["id"] in error["message"], error)
        bad = s.post("/v1/sweeps", body, headers={"Idempotency-Key": "k" * 256})
        check(bad.status == 400 and bad.json()["error"]["code"] == "invalid_idempotency_key", bad)
        check(len(s.get("/v1/sweeps").json()["data"]) == 1 and len(s.get("/v1/jobs").json()["data"]) == 2,
              "a replay or a refusal queued something")
        # Sweeps and jobs keep their keys apart: the same key submits a job.
        job = s.post("/v1/jobs", body["spec"], headers=key)
        check(job.status == 201, job)
        wait_sweep(s, first.json()["id"])


def test_cancel_stops_queued_and_running_jobs():
    with Server() as s:
        ds = upload_fashion(s, 50)["id"]
        resp = s.post("/v1/sweeps", {"spec": {"dataset": ds, "test": ds, "architecture": ARCH, "epochs": 100000},
                                     "grid": {"batch_size": [16, 32]}, "seeds": [0, 1]})
        check(resp.status == 201, resp)
        sweep = resp.json()
        ids = [j["id"] for row in sweep["leaderboard"] for j in row["jobs"]]
        wait_for(lambda: any(s.get("/v1/jobs/" + i).json()["status"] == "running" for i in ids), timeout=60,
                 what="a job of the sweep running")
        resp = s.post("/v1/sweeps/%s/cancel" % sweep["id"])
        check(resp.status == 200 and conforms("POST", "/v1/sweeps/{id}/cancel", resp)["cancelled_at"], resp)
        check(all(s.wait_job(i, timeout=60)["status"] == "cancelled" for i in ids), "a job was not cancelled")
        done = wait_sweep(s, sweep["id"])
        check(done["status"] == "cancelled" and done["completed_at"] is not None, done)
        check(all(r["n"] == 0 and r["mean"] is None for r in done["leaderboard"]), done["leaderboard"])
        check(s.get("/v1/sweeps/%s/chart.png" % sweep["id"]).status == 200, "chart of an empty board")


def test_readme_sweeps_section_runs_as_written():
    """README's Sweeps blocks, in one bash with -euo pipefail, with the
    datasets and base model it says come from the tour."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    start, end = readme.index("<!-- sweeps:start -->"), readme.index("<!-- sweeps:end -->")
    script = "\n".join(re.findall(r"```sh\n(.*?)```", readme[start:end], re.S))
    with Server() as s:
        ds = upload_fashion(s, 200)["id"]
        test = upload_fashion(s, 100, split="test")["id"]
        base = base_model(s, ds)
        work = tempfile.mkdtemp(prefix="ft-sweeps-readme-", dir=s.tmp)
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True, text=True,
                           env=dict(os.environ, FT=s.url, DS=ds, TEST=test, BASE=base), timeout=300)
        check(p.returncode == 0, "the Sweeps blocks failed (exit %d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
        lines = p.stdout.splitlines()
        rows = [json.loads(line) for line in lines if line.startswith("{")]
        check([r["rank"] for r in rows] == [1, 2, 3, 4] and all(r["n"] == 2 for r in rows), p.stdout)
        check(any(line.startswith("rank,") for line in lines) and len(lines) == 4 + 1 + 4, p.stdout)
        with open(os.path.join(work, "sweep.png"), "rb") as f:
            check(png_size(f.read()) == (900, 500), "sweep.png")


if __name__ == "__main__":
    main(globals())
