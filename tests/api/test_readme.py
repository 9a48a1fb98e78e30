#!/usr/bin/python3
"""README.md is part of the product: its tour runs as written, against a live
server, and what it says about commands, flags and make targets is true."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

from harness import BINARY, BUILD, ROOT, PgCluster, Server, check, png_size, postgres_only, main

README = open(os.path.join(ROOT, "README.md")).read()
tour_output = None
tour_dir = None


def sh_blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def tour_script():
    start, end = README.index("<!-- tour:start -->"), README.index("<!-- tour:end -->")
    blocks = sh_blocks(README[start:end])
    check(len(blocks) >= 4, "the tour has %d sh blocks" % len(blocks))
    return "\n".join(blocks)


def test_tour_runs_as_written():
    """Every block, in order, in one bash with -euo pipefail, from a directory
    that looks like the repository root (examples/ and build/)."""
    global tour_output, tour_dir
    tour_dir = tempfile.mkdtemp(prefix="ft-readme-")
    os.symlink(os.path.join(ROOT, "examples"), os.path.join(tour_dir, "examples"))
    os.symlink(os.path.dirname(BINARY), os.path.join(tour_dir, "build"))
    with Server() as server:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", tour_script()], cwd=tour_dir,
                           env=dict(os.environ, FT=server.url), capture_output=True, text=True, timeout=900)
        tour_output = p.stdout
        check(p.returncode == 0, "the tour failed (exit %d):\nstdout:\n%s\nstderr:\n%s"
              % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))


def test_tour_results():
    check(tour_output is not None, "the tour did not run")
    lines = tour_output.splitlines()
    check(lines[0] == '{"status":"ok"}', "healthz: %r" % lines[0])
    train = json.loads(next(line for line in lines if '"rows":60000' in line))
    check(train["input_shape"] == [1, 28, 28] and len(train["classes"]) == 10, "%r" % train)
    check("event: end" in tour_output and '"status":"succeeded"' in tour_output, "SSE stream did not end well")
    check(any("Feature cache" in line for line in lines), "no feature-cache event in the tour")
    job = json.loads(next(line for line in lines if line.startswith('{"status":"succeeded","attempts"')))
    check(job["accuracy"] >= 0.90, "fine-tuned test accuracy %r" % job["accuracy"])
    check(job["warnings"] == [], "warnings %r" % job["warnings"])
    check(lines[[i for i, line in enumerate(lines) if line.startswith("epoch,")][0]]
          .startswith("epoch,train_loss,train_accuracy"), "metrics CSV header")
    prediction = json.loads(next(line for line in lines if line.startswith('{"class"')))
    check(prediction["class"] == "7" and prediction["probability"] > 0.5,
          "the sneaker was predicted as %r" % prediction)
    evaluation = json.loads(next(line for line in lines if line.startswith('{"rows":5000')))
    check(abs(evaluation["accuracy"] - job["accuracy"]) < 1e-9, "evaluate %r vs the job's test metrics %r"
          % (evaluation, job))
    for name, size in (("metrics.png", (900, 500)), ("confusion.png", None)):
        with open(os.path.join(tour_dir, name), "rb") as f:
            w, h = png_size(f.read())
        check(size is None or (w, h) == size, "%s is %dx%d" % (name, w, h))
    check(os.path.getsize(os.path.join(tour_dir, "finetuned.safetensors")) > 100000, "model download")
    check("head_output" in tour_output and "conv1" in tour_output, "inspect printed no layer table")


@postgres_only
def test_scale_out_runs_as_written():
    """The Scale out blocks, in order, in one bash: a database on a
    throwaway cluster (PGHOST), one API and two workers on a shared data
    dir, a job submitted to the API and trained by a worker. The API trains
    nothing, so the job ran in a worker process."""
    start, end = README.index("<!-- scaleout:start -->"), README.index("<!-- scaleout:end -->")
    blocks = sh_blocks(README[start:end])
    check(len(blocks) == 3, "the Scale out section has %d sh blocks" % len(blocks))
    cluster = dict(kv.split("=", 1) for kv in PgCluster.conninfo_shared().split())
    work = tempfile.mkdtemp(prefix="ft-scaleout-")
    os.symlink(os.path.dirname(BINARY), os.path.join(work, "build"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        api = "127.0.0.1:%d" % s.getsockname()[1]
    db = "ft_scaleout_%d" % os.getpid()
    script = "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + "\n".join(blocks).replace(
        "createdb finetuned", "createdb " + db).replace("dbname=finetuned", "dbname=" + db)
    env = dict(os.environ, PGHOST=cluster["host"], PGPORT=cluster["port"], PGUSER=cluster["user"], API=api,
               DATA=os.path.join(work, "shared-data"))
    try:
        p = subprocess.run(["timeout", "120", "bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                           capture_output=True, text=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check(p.returncode == 0, "the Scale out blocks failed (exit %d):\nstdout:\n%s\nstderr:\n%s"
          % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    check(p.stdout.strip().splitlines()[-1] == '{"status":"succeeded","attempts":1}', p.stdout)
    check("role=api" in p.stderr and p.stderr.count("role=worker") == 2, p.stderr[-3000:])
    check("job_started" in p.stderr, "no worker said it started the job")


def test_two_commands_name_real_things():
    blocks = sh_blocks(README[:README.index("<!-- tour:start -->")])
    check(blocks[0].strip() == "sudo deploy/install-deps.sh && make && build/finetuned serve", blocks[0])
    check(blocks[1].strip() == "sudo deploy/install-deps.sh --test && make test", blocks[1])
    check(os.access(os.path.join(ROOT, "deploy/install-deps.sh"), os.X_OK), "install-deps.sh is not executable")
    ci = open(os.path.join(ROOT, ".ci/run")).read()
    check("deploy/install-deps.sh --test" in ci and "make -j2 test" in ci, ".ci/run does not run README's command")


def test_make_targets_exist():
    makefile = open(os.path.join(ROOT, "Makefile")).read() + open(os.path.join(ROOT, "tests/fuzz/fuzz.mk")).read()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    mentioned = set(re.findall(r"`make ([a-z][a-z-]*)", README)) | set(re.findall(r"^make ([a-z][a-z-]*)", README, re.M))
    check(mentioned, "README mentions no make target")
    check(mentioned <= targets, "README mentions make targets that do not exist: %r" % (mentioned - targets))


def test_configuration_table_matches_the_binary():
    """Every flag `serve --help` prints is in README's table with its variable,
    and the table names no flag the binary does not have."""
    help_text = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True).stdout + \
        subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True).stderr
    flags = dict(re.findall(r"^\s+(--[a-z-]+)\s+(FINETUNED_[A-Z_]+)", help_text, re.M))
    check(len(flags) >= 15, "could not read serve --help:\n" + help_text)
    section = README[README.index("## Configuration"):README.index("## Command line")]
    for flag in flags:
        check("`%s`" % flag in section, "README's configuration table lacks %s" % flag)
    for flag in re.findall(r"`(--[a-z-]+)`", section):
        check(flag in flags, "README's configuration table names %s, which serve does not know" % flag)
    check("FINETUNED_API_KEY" in section and "FINETUNED_LISTEN" in section, "variables missing")


def test_links_point_at_files():
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        path = os.path.normpath(os.path.join(ROOT, target))
        check(os.path.exists(path), "README links to %s, which does not exist" % target)


def setup():
    print("(binary: %s, build %s)" % (BINARY, BUILD))


if __name__ == "__main__":
    main(globals())
