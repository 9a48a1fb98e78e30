"""The feature store: a second job on the same base model, data, cut and
preprocessing takes the frozen layers' outputs from disk instead of running
them, says so in its events, and ends exactly where it would have without
the store."""
import os

from harness import Server, check, cnn_architecture, main, restart_and_sweep, submit, upload_fashion


def pretrained_base(s):
    """A small CNN trained for one epoch: the base model of the jobs below."""
    ds = upload_fashion(s, 300)["id"]
    job = s.wait_job(submit(s, {"dataset": ds, "architecture": cnn_architecture(10), "epochs": 1,
                                "seed": 1})["id"])
    check(job["status"] == "succeeded", job)
    return job["result_model"], ds


def cache_event(s, job_id):
    """The job's feature_cache event data."""
    events = s.get("/v1/jobs/%s/events?limit=100" % job_id).json()["data"]
    found = [e for e in events if (e.get("data") or {}).get("event") == "feature_cache"]
    check(len(found) == 1, "one feature_cache event: %r" % events)
    return found[0]


def run(s, spec):
    job = s.wait_job(submit(s, spec)["id"])
    check(job["status"] == "succeeded", job)
    return job


def spec_for(base, ds, **extra):
    spec = {"dataset": ds, "base_model": base, "drop_layers": 1, "head": {"units": 10}, "epochs": 2,
            "validation": {"split": 0.2}, "seed": 3}
    spec.update(extra)
    return spec


def test_second_job_on_the_same_base_and_data_skips_the_backbone():
    with Server() as s:
        base, ds = pretrained_base(s)
        first = run(s, spec_for(base, ds))
        miss = cache_event(s, first["id"])
        check(miss["data"]["hit"] is False and miss["data"]["stored"] is True, miss)
        check("kept on disk" in miss["message"], miss["message"])
        check(any(n.endswith(".feat") for n in os.listdir(os.path.join(s.data_dir, "features"))),
              "no feature file in DATA_DIR/features")

        # Another head, init and learning rate: the frozen part is the same.
        second = run(s, spec_for(base, ds, init="xavier_uniform", optimizer={"type": "adam", "lr": 0.003}))
        hit = cache_event(s, second["id"])
        check(hit["data"]["hit"] is True and hit["data"]["build_seconds"] == 0, hit)
        check("did not run" in hit["message"] and "saving about" in hit["message"], hit["message"])

        # Other rows (another validation split seed) are another key.
        other = run(s, spec_for(base, ds, seed=4))
        check(cache_event(s, other["id"])["data"]["hit"] is False, "another split reused features")


def learning_curve(s, job_id):
    """Loss and accuracy of every epoch (timings left out)."""
    rows = s.get("/v1/jobs/%s/metrics" % job_id).json()["data"]
    return [{k: v for k, v in r.items() if "loss" in k or "accuracy" in k} for r in rows]


def test_features_from_the_store_train_exactly_like_fresh_ones():
    spec_extra = {"init": "xavier_uniform", "optimizer": {"type": "adam", "lr": 0.003}}
    with Server() as s:
        base, ds = pretrained_base(s)
        run(s, spec_for(base, ds))
        stored = run(s, spec_for(base, ds, **spec_extra))
        check(cache_event(s, stored["id"])["data"]["hit"] is True, "expected a hit")
        model = s.get("/v1/models/%s/content" % base).body
        curve = learning_curve(s, stored["id"])
    with Server("--feature-store-limit", "0") as fresh:
        resp = fresh.upload("/v1/models", {"file": ("base.safetensors", model)})
        check(resp.status == 201, resp)
        ds2 = upload_fashion(fresh, 300)["id"]
        again = run(fresh, spec_for(resp.json()["id"], ds2, **spec_extra))
        check(cache_event(fresh, again["id"])["data"]["hit"] is False, "the store is off")
        check(not os.listdir(os.path.join(fresh.data_dir, "features")), "store off but files written")
        fresh_curve = learning_curve(fresh, again["id"])
    check(len(curve) == 2 and curve == fresh_curve, "the store changed training: %r vs %r" % (curve, fresh_curve))
    check(stored["validation_metrics"] == again["validation_metrics"], "final validation metrics differ")


def test_start_up_sweep_removes_a_crashed_writers_file_and_keeps_features():
    """A writer killed mid-file leaves a temp file in DATA_DIR/features; the
    next start removes it (in a shared data dir only once it is old: it may
    be another live process's) and keeps the complete feature files."""
    s = Server()
    try:
        base, ds = pretrained_base(s)
        run(s, spec_for(base, ds))
        features = os.path.join(s.data_dir, "features")
        kept = sorted(n for n in os.listdir(features) if n.endswith(".feat"))
        check(kept, "no feature file: %r" % os.listdir(features))
        crashed = os.path.join(features, kept[0] + ".tmp.Ab12Cd")
        with open(crashed, "wb") as f:
            f.write(b"FTFEAT01 half")
        s.stop()
        restart_and_sweep(s, features)
        check(not os.path.exists(crashed), "a crashed writer's temp file survived the sweep")
        check(sorted(os.listdir(features)) == kept, "the sweep touched complete features: %r" % os.listdir(features))
        again = run(s, spec_for(base, ds))
        check(cache_event(s, again["id"])["data"]["hit"] is True, "the kept features were not reused")
    finally:
        s.close()


if __name__ == "__main__":
    main(globals())
