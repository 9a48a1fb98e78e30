#!/usr/bin/python3
"""augment over HTTP: bad augment specs are 422s naming the key (on image
and tabular datasets, and in a phase); a fine-tune on a frozen base says
that augmentation bypasses its feature cache, or that the cache holds K
augmented views (augment.views); and a job with augmentation killed with
kill -9 mid-epoch resumes to the same weights as an uninterrupted run."""
import os

from harness import Server, check, csv_text, expect_error, main, submit, upload_fashion, wait_for
from test_durability import FLAGS, tensors

server = None
S = {}
AUG = {"hflip": True, "crop": {"padding": 4}, "brightness": 0.1, "contrast": 0.1}
BASE = {"input": [1, 28, 28], "layers": [
    {"name": "conv1", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"name": "conv2", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
    {"name": "out", "type": "dense", "units": 10, "activation": "softmax"}]}


def setup():
    global server
    server = Server(*FLAGS)
    S["images"] = upload_fashion(server, 2000)["id"]
    rows = [[i, i % 3, i % 2] for i in range(20)]
    r = server.upload("/v1/datasets", {"file": ("t.csv", csv_text(["a", "b", "label"], rows).encode())})
    check(r.status == 201, r)
    S["table"] = r.json()["id"]


def test_bad_augment_is_refused_naming_the_key():
    arch = {"dataset": S["images"], "architecture": BASE, "epochs": 1}
    table = {"dataset": S["table"], "architecture": {"input": [2], "layers": [
        {"type": "dense", "units": 2, "activation": "softmax"}]}, "epochs": 1}
    cases = [
        (dict(table, augment={"hflip": True}), "augment.hflip", "applies to images"),
        (dict(table, augment={"crop": {"padding": 2}}), "augment.crop", "applies to images"),
        (dict(arch, augment={"brightness": -0.5}), "augment.brightness", "between 0 and 10"),
        (dict(arch, augment={"vflip": True}), "augment.vflip", "unknown field"),
        (dict(arch, augment={"crop": {"padding": 28}}), "augment.crop.padding", "smaller than the image"),
        (dict(arch, augment={"views": 4}), "augment.views", "needs a transform"),
        (dict(arch, augment={"hflip": True, "views": -1}), "augment.views", "between 0 and 64"),
    ]
    for body, param, words in cases:
        err = expect_error(server.post("/v1/jobs", body), 422, param=param)
        check(words in err["message"], "%s: %r" % (param, err))


def base_model():
    if "base" not in S:
        job = server.wait_job(submit(server, {"dataset": S["images"], "architecture": BASE, "epochs": 1,
                                              "seed": 3})["id"])
        check(job["status"] == "succeeded", job)
        S["base"] = job["result_model"]
    return S["base"]


def events_of(job_id):
    return server.get("/v1/jobs/%s/events?limit=100" % job_id).json()["data"]


def test_feature_cache_bypassed_or_holding_views():
    tune = {"dataset": S["images"], "base_model": base_model(), "drop_layers": 1, "head": {"hidden": [16]},
            "epochs": 2, "validation": {"split": 0.2}}
    bypass = server.wait_job(submit(server, dict(tune, augment=dict(AUG, views=0)))["id"])
    views = server.wait_job(submit(server, dict(tune, augment=dict(AUG, views=2)))["id"])
    default = server.wait_job(submit(server, dict(tune, augment=AUG))["id"])
    for job in (bypass, views, default):
        check(job["status"] == "succeeded", job)
    said = [e["message"] for e in events_of(bypass["id"])]
    check(any(m.startswith("Feature cache bypassed because of augment") for m in said), said)
    check(not any(m.startswith("Feature cache:") for m in said), said)
    said = [e["message"] for e in events_of(views["id"])]
    check(any(m.startswith("Feature cache:") and "(2 augmented views of each training image)" in m for m in said),
          said)
    said = [e["message"] for e in events_of(default["id"])]  # views default to 4
    check(any(m.startswith("Feature cache:") and "(4 augmented views of each training image)" in m for m in said),
          said)
    # in a phase: the first phase bypasses, the second (augment: null) caches
    phased = dict(tune, phases=[{"epochs": 1, "augment": dict(AUG, views=0)}, {"epochs": 1, "augment": None}])
    del phased["epochs"]
    job = server.wait_job(submit(server, phased)["id"])
    check(job["status"] == "succeeded", job)
    said = [e["message"] for e in events_of(job["id"])]
    kinds = ["phase" if m.startswith("phase ") else "bypassed" if m.startswith("Feature cache bypassed") else "cache"
             for m in said if m.startswith(("phase ", "Feature cache"))]
    check(kinds == ["phase", "bypassed", "phase", "cache"], said)


def aug_spec():
    return {"dataset": S["images"], "architecture": BASE, "epochs": 3, "batch_size": 32, "seed": 9,
            "validation": {"split": 0.1}, "optimizer": {"type": "adam", "lr": 0.002}, "augment": AUG}


def test_kill9_mid_epoch_resumes_byte_identical():
    jid = submit(server, aug_spec())["id"]
    ckpt = os.path.join(server.data_dir, "checkpoints", jid + ".ckpt")
    wait_for(lambda: (server.get("/v1/jobs/" + jid).json().get("progress") or {}).get("epoch", 0) >= 2
             and os.path.exists(ckpt), timeout=120, interval=0.02, what="epoch 2 under way")
    server.kill9()
    server.start()
    done = server.wait_job(jid)
    check(done["status"] == "succeeded" and done["attempts"] == 2, done)
    said = [e["message"] for e in events_of(jid)]
    check(any("resuming from the last checkpoint" in m for m in said) and not any("starts over" in m for m in said),
          said)
    clean = server.wait_job(submit(server, aug_spec())["id"])
    a, b = (server.get("/v1/models/%s/content" % j["result_model"]).body for j in (done, clean))
    check(tensors(a) == tensors(b), "the resumed job's model differs from an uninterrupted run")


if __name__ == "__main__":
    main(globals())
