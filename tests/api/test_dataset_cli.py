#!/usr/bin/python3
"""`finetuned dataset inspect` end to end: summaries on stdout, errors with
their location on stderr, exit codes, IDX auto-pairing, --save.

Prints PASS/FAIL lines; exits non-zero on any failure. The binary is
$FT_BUILD/finetuned (default build/). Needs no network: the data comes from
the repository, dataset-fashion-mnist and python3-sklearn."""
import json
import os
import subprocess
import sys
import tempfile

from harness import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("FT_BUILD", "build"), "finetuned")
BAD = os.path.join(ROOT, "tests", "data", "datasets", "bad")
SKLEARN = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
FMNIST = "/usr/share/datasets/fashion-mnist"
PROG = "finetuned dataset inspect: "


def run(*args):
    p = subprocess.run([BIN, "dataset", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def documents(text):
    """The JSON objects of a stream of (indented or compact) JSON documents."""
    dec, pos, out = json.JSONDecoder(), 0, []
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        obj, pos = dec.raw_decode(text, pos)
        out.append(obj)
    return out


def check(name, cond, detail=""):
    """One named check, with its own PASS/FAIL line; a failure also ends its test."""
    print(("PASS " if cond else "FAIL ") + name)
    if not cond:
        raise AssertionError("%s: %s" % (name, str(detail)[:2000]))


def test_sklearn():
    rc, out, err = run("inspect", os.path.join(SKLEARN, "iris.csv"), os.path.join(SKLEARN, "wine_data.csv"))
    docs = documents(out) if rc == 0 else []
    ok = (rc == 0 and len(docs) == 2 and docs[0]["rows"] == 150 and
          [c["name"] for c in docs[0]["classes"]] == ["setosa", "versicolor", "virginica"] and
          docs[1]["rows"] == 178 and docs[0]["files"][0]["bytes"] == 2734)
    check("cli_sklearn_iris_wine", ok, err or out[:500])
    rc, out, err = run("inspect", "--compact", "--label", "CRIM", os.path.join(SKLEARN, "boston_house_prices.csv"))
    doc = documents(out)[0] if rc == 0 else {}
    check("cli_label_option", rc == 0 and out.count("\n") == 1 and doc.get("label_column") == "CRIM" and
          doc.get("task") == "regression" and "MEDV" in doc.get("features", []), err or out)


def test_fashion_mnist_pairs():
    files = sorted(os.path.join(FMNIST, f) for f in os.listdir(FMNIST))
    rc, out, err = run("inspect", "--compact", *files)
    docs = documents(out) if rc == 0 else []
    rows = sorted(d["rows"] for d in docs)
    check("cli_idx_autopair", rc == 0 and rows == [10000, 60000] and
          all(d["format"] == "idx" and len(d["files"]) == 2 for d in docs), err or out[:500])
    rc, out, err = run("inspect", "--images", os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"),
                       "--labels", os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"))
    check("cli_idx_flags", rc == 0 and documents(out)[0]["input_shape"] == [1, 28, 28], err)
    rc, out, err = run("inspect", os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))
    check("cli_idx_unpaired", rc == 1 and out == "" and
          err == PROG + os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz") +
          ": an IDX images file needs its labels file (give both, or --images and --labels)\n", err)


def test_png_tar_and_save():
    with tempfile.TemporaryDirectory() as tmp:
        tar = os.path.join(tmp, "fm.tar.gz")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "ingest", "make_png_tar.py"),
                        os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"),
                        os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), tar, "200"], check=True)
        stored = os.path.join(tmp, "stored.safetensors")
        rc, out, err = run("inspect", "--image-size", "14x14", "--color", "rgb", "--save", stored, tar)
        doc = documents(out)[0] if rc == 0 else {}
        check("cli_png_tar", rc == 0 and doc["rows"] == 200 and doc["input_shape"] == [3, 14, 14] and
              doc["compression"] == "gzip" and len(doc["classes"]) == 10, err or out[:500])
        rc, out2, err = run("inspect", stored)
        again = documents(out2)[0] if rc == 0 else {}
        check("cli_save_reinspect", rc == 0 and again["rows"] == 200 and again["input_shape"] == [3, 14, 14] and
              again["format"] == "safetensors" and
              [c["name"] for c in again["classes"]] == [c["name"] for c in doc["classes"]], err)
        os.chmod(tmp, 0o500)  # unwritable directory: saving fails, cleanly
        rc, out, err = run("inspect", "--save", os.path.join(tmp, "x.safetensors"), stored)
        os.chmod(tmp, 0o700)
        if os.geteuid() != 0:  # root writes anyway
            check("cli_save_error", rc == 1 and "cannot create" in err, err)


def expected_errors():
    """Single-file cases of the bad-file corpus whose options the CLI has."""
    flags = {"label": "--label", "task": "--task"}
    with open(os.path.join(BAD, "EXPECTED")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, opts, code, msg = line.rstrip("\n").split("\t", 3)
            if "+" in name:
                continue
            args = []
            if opts != "-":
                kv = [o.split("=", 1) for o in opts.split(",")]
                if any(k not in flags for k, _ in kv):
                    continue
                for k, v in kv:
                    args += [flags[k], v]
            yield name, args, msg


def test_error_messages():
    count = 0
    for name, args, msg in expected_errors():
        if name.endswith("-ubyte"):
            continue  # a lone IDX file is paired (or refused) by the CLI itself
        path = os.path.join(BAD, name)
        rc, out, err = run("inspect", *args, path)
        want = PROG + path + msg[len(name):] + "\n"
        check("cli_error " + name, rc == 1 and out == "" and err == want, "got %r\nwanted %r" % (err, want))
        count += 1
    check("cli_error_cases_found", count > 50, count)


def test_usage_and_mixed():
    rc, out, err = run()
    check("cli_usage_no_args", rc == 2 and "usage:" in err)
    rc, out, err = run("inspect", "--help")
    check("cli_help", rc == 0 and "--image-size" in out)
    rc, out, err = run("inspect", "--bogus", "x.csv")
    check("cli_unknown_option", rc == 2 and "unknown option '--bogus'" in err, err)
    rc, out, err = run("inspect", "--image-size", "28x", "x.tar")
    check("cli_bad_image_size", rc == 2 and err.startswith(PROG + "--image-size: image_size must be"), err)
    rc, out, err = run("inspect", "--images", "a")
    check("cli_images_without_labels", rc == 2, err)
    good, bad = os.path.join(SKLEARN, "iris.csv"), os.path.join(BAD, "nan.csv")
    rc, out, err = run("inspect", "--compact", good, bad, "/nonexistent.csv")
    check("cli_mixed_good_and_bad", rc == 1 and len(documents(out)) == 1 and err.count("\n") == 2 and
          "cannot open /nonexistent.csv: No such file or directory" in err, err)


def setup():
    if not os.access(BIN, os.X_OK):
        raise RuntimeError("no binary at %s" % BIN)


if __name__ == "__main__":
    main(globals())
