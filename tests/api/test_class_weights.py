"""Class weights on imbalanced data: two short jobs on 200/20/20/20/20 rows
of Fashion-MNIST classes 0-4, one without and one with class_weight
"balanced", tested on the first 500 test rows of those classes. The balanced loss raises the
macro-averaged recall (and the recall of the rare classes); the job's test
and validation metrics carry per-class and macro precision, recall and F1,
and the weights used are in the job's events. Also: a schedule's learning
rate in the metrics JSON and CSV, and evaluate's macro metrics."""
from harness import Server, check, expect_error, fashion_rows, main, submit

COUNTS = {0: 200, 1: 20, 2: 20, 3: 20, 4: 20}
MLP = {"input": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 64, "activation": "relu"},
                                        {"type": "dense", "units": 5, "activation": "softmax"}]}
S = {}


def idx_pair(rows):
    """IDX image and label bytes of [(784 pixel bytes, label)]."""
    n = len(rows).to_bytes(4, "big")
    img = bytes([0, 0, 8, 3]) + n + (28).to_bytes(4, "big") * 2 + b"".join(r[0] for r in rows)
    lab = bytes([0, 0, 8, 1]) + n + bytes(r[1] for r in rows)
    return img, lab


def upload(server, rows, name):
    img, lab = idx_pair(rows)
    r = server.upload("/v1/datasets", {"images": ("images.idx", img), "labels": ("labels.idx", lab)},
                      query="?name=" + name)
    check(r.status == 201, r)
    return r.json()["id"]


def setup():
    server = S["server"] = Server()
    left = dict(COUNTS)
    train = []
    for row in fashion_rows("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 3000, classes=list(COUNTS)):
        if left[row[1]]:
            train.append(row)
            left[row[1]] -= 1
    check(not any(left.values()), "not enough rows: %r" % left)
    test = fashion_rows("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 500, classes=list(COUNTS))
    S["train"] = upload(server, train, "imbalanced")
    S["test"] = upload(server, test, "test")


def job(class_weight, **extra):
    spec = {"dataset": S["train"], "test": S["test"], "architecture": MLP, "epochs": 8, "batch_size": 32,
            "optimizer": {"type": "adam", "lr": 0.001}, "seed": 1, "class_weight": class_weight}
    spec.update(extra)
    done = S["server"].wait_job(submit(S["server"], spec)["id"], timeout=600)
    check(done["status"] == "succeeded", done)
    return done


def test_balanced_weights_raise_macro_recall():
    plain, weighted = job(None), job("balanced")
    a, b = plain["test_metrics"], weighted["test_metrics"]
    for m in (a, b):
        check(set(m) >= {"accuracy", "macro_recall", "macro_precision", "macro_f1", "per_class"}, sorted(m))
        check([c["label"] for c in m["per_class"]] == ["0", "1", "2", "3", "4"], m["per_class"])
        check(sum(c["support"] for c in m["per_class"]) == 500 and min(c["support"] for c in m["per_class"]) > 80,
              m["per_class"])
        # macro recall is the mean of the per-class recalls (every class is in the test set)
        recalls = [c["recall"] for c in m["per_class"]]
        check(abs(m["macro_recall"] - sum(recalls) / 5) < 1e-9, m)
        # per-class recall is the confusion matrix's diagonal over its row
        matrix = m["confusion_matrix"]["matrix"]
        check(all(abs(recalls[i] - matrix[i][i] / sum(matrix[i])) < 1e-9 for i in range(5)), matrix)
    print("macro recall without class weights %.4f, balanced %.4f (accuracy %.3f -> %.3f)"
          % (a["macro_recall"], b["macro_recall"], a["accuracy"], b["accuracy"]))
    print("per-class recall without: %s; balanced: %s"
          % ([round(c["recall"], 3) for c in a["per_class"]], [round(c["recall"], 3) for c in b["per_class"]]))
    check(b["macro_recall"] > a["macro_recall"] + 0.03, "balanced %.4f vs %.4f" % (b["macro_recall"], a["macro_recall"]))
    rare = lambda m: sum(c["recall"] for c in m["per_class"][1:]) / 4
    check(rare(b) > rare(a), "rare classes' recall %.3f vs %.3f" % (rare(b), rare(a)))
    check(weighted["spec"]["class_weight"] == "balanced" and plain["spec"]["class_weight"] is None, weighted["spec"])
    # the weights the loss used: n / (k * count) over the 280 training rows
    events = S["server"].get("/v1/jobs/%s/events?limit=100" % weighted["id"]).json()["data"]
    found = [e["data"]["weights"] for e in events if (e.get("data") or {}).get("event") == "class_weight"]
    want = {str(c): 280 / (5 * n) for c, n in COUNTS.items()}
    check(len(found) == 1 and all(abs(found[0][k] - w) < 1e-6 for k, w in want.items()), found)


def test_weights_by_name_smoothing_clipping_and_a_schedule():
    done = job({"0": 0.5, "3": 4.0}, label_smoothing=0.1, grad_clip_norm=1.0, validation={"split": 0.25},
               lr_schedule={"type": "cosine", "warmup_epochs": 2, "min_lr": 0.0001})
    check(done["spec"]["lr_schedule"] == {"type": "cosine", "warmup_epochs": 2, "min_lr": 0.0001}, done["spec"])
    check(done["spec"]["label_smoothing"] == 0.1 and done["spec"]["grad_clip_norm"] == 1.0, done["spec"])
    rows = S["server"].get("/v1/jobs/%s/metrics" % done["id"]).json()["data"]
    lrs = [r["lr"] for r in rows]
    # warmup 0.001 / 3, 2 * 0.001 / 3, then cosine from 0.001 to 0.0001 over 6 epochs
    check(abs(lrs[0] - 0.001 / 3) < 1e-12 and abs(lrs[1] - 0.002 / 3) < 1e-12 and lrs[2] == 0.001, lrs)
    check(all(x > y for x, y in zip(lrs[2:], lrs[3:])) and lrs[-1] > 0.0001, lrs)
    csv = S["server"].get("/v1/jobs/%s/metrics?format=csv" % done["id"]).body.decode().strip().split("\n")
    col = csv[0].split(",").index("lr")
    check([float(line.split(",")[col]) for line in csv[1:]] == [float("%.9g" % x) for x in lrs], csv)
    v = done["validation_metrics"]
    check(len(v["per_class"]) == 5 and 0 < v["macro_recall"] <= 1 and 0 < v["macro_f1"] <= 1, v)
    png = S["server"].get("/v1/jobs/%s/metrics.png" % done["id"])
    check(png.status == 200 and png.body[:8] == b"\x89PNG\r\n\x1a\n", png)
    # evaluate reports the same per-class metrics as the job's test
    ev = S["server"].post("/v1/models/%s/evaluate" % done["result_model"], {"dataset": S["test"]}).json()
    t = done["test_metrics"]
    check(abs(ev["macro_recall"] - t["macro_recall"]) < 1e-12 and ev["per_class"] == t["per_class"], ev)


def test_class_weight_errors_name_the_field():
    base = {"dataset": S["train"], "architecture": MLP, "epochs": 1}
    cases = [({"class_weight": {"cat": 2.0}}, "class_weight.cat"),
             ({"class_weight": {"5": 2.0}}, "class_weight.5"),
             ({"class_weight": {"1": -2.0}}, "class_weight.1"),
             ({"class_weight": "uniform"}, "class_weight"),
             # classes 3 and 4 selected: "3" names the first, "1" is the second's index, "7" neither
             ({"dataset": {"id": S["train"], "classes": [3, 4]}, "class_weight": {"3": 1.0, "1": 1.0, "7": 2.0},
               "architecture": dict(MLP, layers=MLP["layers"][:2] + [dict(MLP["layers"][2], units=2)])},
              "class_weight.7"),
             ({"label_smoothing": 1.0}, "label_smoothing"),
             ({"grad_clip_norm": -1}, "grad_clip_norm"),
             ({"lr_schedule": {"type": "reduce_on_plateau"}}, "lr_schedule.metric")]
    for extra, param in cases:
        spec = dict(base)
        spec.update(extra)
        expect_error(S["server"].post("/v1/jobs", spec), 422, param=param)


def teardown():
    if "server" in S:  # setup may have failed before starting it
        S["server"].close()


if __name__ == "__main__":
    main(globals())
