"""Issue 5 in make test: the Fashion-MNIST transfer demo (a smaller
pretraining set, two seeds) through the real service, one sweep asserting
the product's thesis on the means over seeds: dropping the last hidden layer
beats keeping it, all-zero init of a new hidden layer fails, a full
fine-tune stays with the frozen base. Also the warnings that teach. (The
two-phase variant and from-scratch training are in test_phases.py and
test_jobs_api.py.)"""
import json
import os
import subprocess

from harness import ROOT, Server, check, idx_subset, main

SERVER = None


def server():
    global SERVER
    if SERVER is None:
        SERVER = Server()
    return SERVER


def test_demo_ordering():
    s = server()
    out = os.path.join(s.tmp, "demo")
    env = dict(os.environ, OUT=out, PRETRAIN_PER_CLASS="2000", SEEDS="0,1")
    run = subprocess.run([os.path.join(ROOT, "examples", "fashion_transfer.sh"), s.url], env=env,
                         capture_output=True, text=True, timeout=900)
    check(run.returncode == 0, "demo failed:\n%s\n%s" % (run.stdout, run.stderr))
    print(run.stdout)
    results = {r["key"]: r for r in json.load(open(os.path.join(out, "results.json")))}
    check(len(results) == 12, sorted(results))
    for key, r in results.items():
        check(r["n"] == 2 and r["min"] <= r["mean"] <= r["max"] and r["std"] is not None, (key, r))
    acc = {k: r["mean"] for k, r in results.items()}
    best = acc["drop2-he_normal-base"]
    check(best >= 0.92, "drop 2 frozen he: %.3f < 0.92" % best)
    check(acc["drop1-he_normal-base"] <= best - 0.03, "drop 1 is not 3 points below drop 2: %r" % acc)
    check(acc["drop1-zeros-base"] <= best - 0.03, "drop 1 zeros is not 3 points below drop 2: %r" % acc)
    check(acc["drop2-zeros-base"] <= 0.25, "zeros init on a new hidden layer learned: %.3f" % acc["drop2-zeros-base"])
    check(abs(acc["drop2-he_normal-none"] - best) <= 0.03, "full fine-tune far from frozen: %r" % acc)
    # Two phases (frozen, then conv2 up at lr 1e-4) stay near the frozen base.
    check(abs(acc["drop2-he_normal-phases"] - best) <= 0.03, "two phases far from frozen: %r" % acc)
    with open(os.path.join(out, "sweep.png"), "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "the sweep's chart is not a PNG")
    with open(os.path.join(out, "results.csv")) as f:
        check(len(f.read().splitlines()) == 13, "results.csv: a header and 12 variants")
    check("+-" in run.stdout and "drop 2, he_normal, frozen base" in run.stdout, run.stdout)
    # The zeros variant carries the warning that explains why it fails, and
    # the drop-1 variants the advice to drop the last hidden layer too.
    codes = {k: {w["code"] for w in r["warnings"]} for k, r in results.items()}
    check("zeros_init_hidden" in codes["drop2-zeros-base"], codes)
    check("zeros_init_hidden" not in codes["drop1-zeros-base"], "no hidden layer, no symmetry problem: %r" % codes)
    check("kept_last_hidden_layer" in codes["drop1-he_normal-base"], codes)
    check("kept_last_hidden_layer" not in codes["drop2-he_normal-base"], codes)


def small_dataset(s):
    images, labels = idx_subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 300)
    return s.upload("/v1/datasets", {"images": ("i", images), "labels": ("l", labels)}).json()["id"]


MLP = {"input": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 16, "activation": "relu"},
                                        {"type": "dense", "units": 10, "activation": "softmax"}]}


def test_warning_zeros_init_explains_symmetry():
    s = server()
    ds = small_dataset(s)
    job = s.post("/v1/jobs", {"dataset": ds, "architecture": MLP, "init": "zeros", "epochs": 1}).json()
    w = [x for x in job["warnings"] if x["code"] == "zeros_init_hidden"]
    check(len(w) == 1 and w[0]["param"] == "init" and w[0]["level"] == "warning", job["warnings"])
    check("identical" in w[0]["message"] and "gradient" in w[0]["message"], w[0]["message"])
    strict = s.post("/v1/jobs", {"dataset": ds, "architecture": MLP, "init": "zeros", "epochs": 1, "strict": True})
    check(strict.status == 422 and strict.json()["error"]["param"] == "init", strict)


def test_warning_learning_rate_range():
    s = server()
    ds = small_dataset(s)
    for lr, warned in ((1e-7, True), (5.0, True), (1e-6, False), (1.0, False), (0.01, False)):
        job = s.post("/v1/jobs", {"dataset": ds, "architecture": MLP, "epochs": 1,
                                  "optimizer": {"type": "sgd", "lr": lr}}).json()
        codes = [w["code"] for w in job["warnings"]]
        check(("learning_rate_range" in codes) == warned, "lr %g: %r" % (lr, codes))
        if warned:
            w = [x for x in job["warnings"] if x["code"] == "learning_rate_range"][0]
            check(w["param"] == "optimizer.lr" and "[1e-6, 1]" in w["message"], w)


def test_kept_last_hidden_layer_is_an_info_event():
    s = server()
    ds = small_dataset(s)
    base_job = s.post("/v1/jobs", {"dataset": {"id": ds, "classes": [0, 1, 2, 3, 4]},
                                   "architecture": dict(MLP, layers=MLP["layers"][:2] + [
                                       {"type": "dense", "units": 5, "activation": "softmax"}]),
                                   "epochs": 1}).json()
    base = s.wait_job(base_job["id"])["result_model"]
    job = s.post("/v1/jobs", {"dataset": {"id": ds, "classes": [5, 6, 7, 8, 9]}, "base_model": base,
                              "drop_layers": 1, "epochs": 1}).json()
    info = [x for x in job["warnings"] if x["code"] == "kept_last_hidden_layer"]
    check(len(info) == 1 and info[0]["level"] == "info" and "drop_layers=2" in info[0]["message"], job["warnings"])
    done = s.wait_job(job["id"])
    events = s.get("/v1/jobs/%s/events" % job["id"]).json()["data"]
    check(any(e["level"] == "info" and "drop_layers=2" in e["message"] for e in events), events)
    # Same classes as the base: the kept layer was trained for them, no advice.
    same = s.post("/v1/jobs", {"dataset": {"id": ds, "classes": [0, 1, 2, 3, 4]}, "base_model": base,
                               "drop_layers": 1, "epochs": 1}).json()
    check(not [x for x in same["warnings"] if x["code"] == "kept_last_hidden_layer"], same["warnings"])
    check(done["status"] == "succeeded", done)


def teardown():
    if SERVER:
        SERVER.close()


if __name__ == "__main__":
    main(globals())
