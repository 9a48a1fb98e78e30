#!/usr/bin/python3
"""Concurrency: 50 jobs submitted at once from 50 threads all run exactly
once with two workers; two workers training side by side produce the same
models, tensor for tensor, as one worker running the same jobs in turn."""
import threading

from harness import (Server, check, cnn_architecture, idx_subset, mlp_architecture, main,
                     safetensors_parse, submit, upload_fashion, wait_for)


def test_fifty_concurrent_jobs_run_exactly_once():
    with Server(workers=2) as s:
        ds = upload_fashion(s, 100)["id"]
        replies, lock = [], threading.Lock()
        go = threading.Barrier(50)

        def post(i):
            go.wait()
            r = s.post("/v1/jobs", {"dataset": ds, "architecture": mlp_architecture([1, 28, 28], 10, (8,)),
                                    "epochs": 1, "batch_size": 32, "seed": i, "metadata": {"i": i}}, timeout=120)
            with lock:
                replies.append(r)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(sorted(r.status for r in replies) == [201] * 50, "statuses %r" % sorted(r.status for r in replies))
        ids = {r.json()["id"] for r in replies}
        check(len(ids) == 50, "distinct job ids: %d" % len(ids))
        jobs = [s.wait_job(i, timeout=240) for i in sorted(ids)]
        check(all(j["status"] == "succeeded" for j in jobs), "all succeeded: %r" % {j["status"] for j in jobs})
        check(all(j["attempts"] == 1 for j in jobs), "one attempt each: %r" % [j["attempts"] for j in jobs])
        results = {j["result_model"] for j in jobs}
        check(None not in results and len(results) == 50, "one distinct model per job")
        # The model store holds exactly one model per job, with its lineage.
        models = s.get("/v1/models?limit=100").json()
        check(not models["has_more"] and len(models["data"]) == 50, "%d models" % len(models["data"]))
        by_job = {m["job"]: m["id"] for m in models["data"]}
        check(by_job == {j["id"]: j["result_model"] for j in jobs}, "model.job matches job.result_model")
        # Each job started once.
        for j in jobs:
            events = s.get("/v1/jobs/%s/events?limit=100" % j["id"]).json()["data"]
            starts = [e for e in events if e["message"].startswith("attempt")]
            check(len(starts) == 1 and starts[0]["message"].startswith("attempt 1 started"), "%r" % starts)
        check('finetuned_jobs{status="succeeded"} 50' in s.get("/metrics").body.decode(), "store counts 50")
        seeds = sorted(j["spec"]["seed"] for j in jobs)
        check(seeds == list(range(50)), "each submitted spec ran once: %r" % seeds)
        s.stop_clean()


def specs(train_id, base_id):
    """Two different jobs, each long enough (about a second or more) to overlap."""
    return [
        {"dataset": train_id, "architecture": cnn_architecture(10), "epochs": 40, "seed": 7, "batch_size": 32,
         "init": "xavier_uniform"},
        {"dataset": train_id, "base_model": base_id, "drop_layers": 1, "freeze": "none",
         "head": {"hidden": [16]}, "validation": {"split": 0.1}, "epochs": 40, "seed": 11, "batch_size": 32,
         "optimizer": {"type": "adam", "lr": 0.002}},
    ]


def tensors_of(server, model_id):
    body = server.get("/v1/models/%s/content" % model_id).body
    meta, tensors = safetensors_parse(body)
    return meta, tensors


def upload_pair(server, img, lab):
    r = server.upload("/v1/datasets", {"images": ("i", img), "labels": ("l", lab)})
    check(r.status == 201, "%r" % r)
    return r.json()["id"]


def test_two_workers_same_models_as_one():
    img, lab = idx_subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 800)
    # Two workers, both jobs at once.
    with Server(workers=2) as s2:
        train = upload_pair(s2, img, lab)
        base_job = s2.wait_job(submit(s2, {"dataset": train, "architecture": cnn_architecture(10), "epochs": 1,
                                           "seed": 3})["id"])
        check(base_job["status"] == "succeeded", "%r" % base_job)
        base_bytes = s2.get("/v1/models/%s/content" % base_job["result_model"]).body
        jobs = [submit(s2, sp)["id"] for sp in specs(train, base_job["result_model"])]
        # Both must be seen running at the same moment.
        wait_for(lambda: len(s2.get("/v1/jobs?status=running").json()["data"]) == 2 or
                 any(s2.get("/v1/jobs/" + j).json()["status"] not in ("queued", "running") for j in jobs),
                 timeout=120, interval=0.01, what="the two jobs to run")
        running = [j["id"] for j in s2.get("/v1/jobs?status=running").json()["data"]]
        check(sorted(running) == sorted(jobs), "both jobs ran at once (saw %r)" % running)
        parallel = [s2.wait_job(j, timeout=240) for j in jobs]
        check(all(j["status"] == "succeeded" for j in parallel), "%r" % [j["error"] for j in parallel])
        par_models = [tensors_of(s2, j["result_model"]) for j in parallel]
        par_metrics = [s2.get("/v1/jobs/%s/metrics" % j["id"]).json()["data"] for j in parallel]
        s2.stop_clean()
    # One worker, the same jobs one after the other (same data, same base bytes).
    with Server(workers=1) as s1:
        train = upload_pair(s1, img, lab)
        base = s1.post("/v1/models", base_bytes, content_type="application/octet-stream").json()["id"]
        serial = []
        for sp in specs(train, base):
            serial.append(s1.wait_job(submit(s1, sp)["id"], timeout=240))
        check(all(j["status"] == "succeeded" for j in serial), "%r" % [j["error"] for j in serial])
        ser_models = [tensors_of(s1, j["result_model"]) for j in serial]
        ser_metrics = [s1.get("/v1/jobs/%s/metrics" % j["id"]).json()["data"] for j in serial]
        s1.stop_clean()
    for k, ((pmeta, pt), (smeta, st)) in enumerate(zip(par_models, ser_models)):
        check(pmeta.get("job") != smeta.get("job"), "different jobs, so the metadata differs")
        check(sorted(pt) == sorted(st), "job %d: tensor names %r vs %r" % (k, sorted(pt), sorted(st)))
        for name in pt:
            check(pt[name][:2] == st[name][:2], "job %d %s: dtype/shape differ" % (k, name))
            check(pt[name][2] == st[name][2], "job %d: tensor %s differs between 2 workers and 1" % (k, name))
    for k, (a, b) in enumerate(zip(par_metrics, ser_metrics)):
        la = [row["train_loss"] for row in a]
        lb = [row["train_loss"] for row in b]
        check(la == lb, "job %d: loss curves differ: %r vs %r" % (k, la[:3], lb[:3]))


if __name__ == "__main__":
    main(globals())
