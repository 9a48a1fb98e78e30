#!/usr/bin/python3
"""Chaos: rounds of a mixed concurrent workload (dataset uploads, job
submits with and without Idempotency-Key, cancels, model uploads and
downloads) against one data dir, each round ended by kill -9 at a random
moment and followed by a restart. After every restart: every acknowledged
upload is there with its bytes intact, every acknowledged job is there, no
job has two result models, PRAGMA integrity_check is ok, and the start-up
sweep left no orphan (temp files, files without a row, rows without a
file). At the end every acknowledged job reaches a terminal status.

CHAOS_ROUNDS sets the number of kills (default 5, the CI form; 25 for the
full run); CHAOS_SEED replays a run's random choices (timing still varies).
"""
import gzip
import hashlib
import http.client
import json
import os
import random
import struct
import threading
import time

from harness import FASHION, STORE, Server, check, cnn_architecture, mlp_architecture, main, safetensors_parse

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "5"))
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time() * 1000) % 1000000)))
THREADS = 4
MAX_BACKLOG = 4          # queued + running jobs above which submitters cancel instead
FLAGS = ("--lease-seconds", "2", "--checkpoint-interval", "1", "--max-attempts", "5")
TERMINAL = ("succeeded", "failed", "cancelled")
# Errors a request can meet when the server dies under it: the outcome is unknown.
NETWORK_ERRORS = (OSError, http.client.HTTPException)


class State:
    """What the clients were told (acknowledged) and what they attempted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.violations = []
        self.attempted_uploads = {}   # name -> expected {"files": [sha...], "x": sha, "rows": n}
        self.datasets = {}            # acknowledged: id -> (name, ds object)
        self.jobs = {}                # acknowledged: id -> spec
        self.must_cancel = set()      # jobs a 200 cancel reported as cancelled
        self.idem = {}                # key -> {"body": spec, "id": acknowledged id or None}
        self.model_uploads = {}       # name -> sha256 of the bytes sent
        self.models = {}              # acknowledged model id -> sha256 (uploads) or first download
        self.kills = 0
        self.counter = 0

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)
        print("  violation: " + msg, flush=True)

    def next_n(self):
        with self.lock:
            self.counter += 1
            return self.counter


STATE = State()
SERVER = None
_FASHION = {}


def fashion():
    if not _FASHION:
        with open(os.path.join(FASHION, "train-images-idx3-ubyte.gz"), "rb") as f:
            _FASHION["images"] = gzip.decompress(f.read())
        with open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"), "rb") as f:
            _FASHION["labels"] = gzip.decompress(f.read())
    return _FASHION["images"], _FASHION["labels"]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def idx_upload(rng):
    """A random slice of Fashion-MNIST as (parts, expected)."""
    images, labels = fashion()
    n = rng.randint(100, 1200)
    o = rng.randrange(0, 60000 - n)
    pixels = images[16 + 784 * o:16 + 784 * (o + n)]
    img = images[:4] + n.to_bytes(4, "big") + images[8:16] + pixels
    lab = labels[:4] + n.to_bytes(4, "big") + labels[8 + o:8 + o + n]
    if rng.random() < 0.3:
        img, lab = gzip.compress(img, 1), gzip.compress(lab, 1)
    return ({"images": ("images.idx", img), "labels": ("labels.idx", lab)},
            {"files": [sha(img), sha(lab)], "x": sha(pixels), "rows": n})


def csv_upload(rng):
    """Random numeric features (exact in float32) and text labels."""
    k, n = rng.randint(2, 5), rng.randint(30, 1500)
    rows = [[rng.randint(-12, 12) / 4 for _ in range(k)] + [rng.choice("abc")] for _ in range(n)]
    rows[0][-1], rows[1][-1] = "a", "b"  # at least two classes
    text = ",".join(["f%d" % i for i in range(k)] + ["label"]) + "\n"
    text += "".join(",".join(repr(v) if isinstance(v, float) else v for v in row) + "\n" for row in rows)
    data = text.encode()
    x = b"".join(struct.pack("<%df" % k, *row[:k]) for row in rows)
    return {"file": ("data.csv", data)}, {"files": [sha(data)], "x": sha(x), "rows": n}


def job_spec(rng, ds):
    """A small job on an acknowledged dataset: mostly quick MLPs, some CNNs
    long enough to be running (and checkpointed) when the kill comes."""
    shape, classes = ds["input_shape"], len(ds["classes"])
    if shape == [1, 28, 28] and rng.random() < 0.3:
        arch, epochs = cnn_architecture(classes), rng.randint(3, 8)
    else:
        arch, epochs = mlp_architecture(shape, classes, (rng.choice([8, 16, 32]),)), rng.randint(1, 4)
    spec = {"dataset": ds["id"], "architecture": arch, "epochs": epochs, "batch_size": rng.choice([16, 32, 64]),
            "seed": rng.randint(0, 1000), "metadata": {"chaos": "t%d" % STATE.next_n()}}
    if rng.random() < 0.3:
        spec["validation"] = {"split": 0.2}
    return spec


# ---- the workload ----

def op_upload(s, rng):
    parts, expected = (idx_upload if rng.random() < 0.5 else csv_upload)(rng)
    name = "up-%d" % STATE.next_n()
    with STATE.lock:
        STATE.attempted_uploads[name] = expected
    r = s.upload("/v1/datasets", parts, query="?name=" + name)
    if r.status != 201:
        return STATE.violation("upload %s: %r" % (name, r))
    ds = r.json()
    got = [f["sha256"] for f in ds.get("files", [])]
    if got != expected["files"] or ds.get("rows") != expected["rows"]:
        STATE.violation("upload %s acknowledged with files %r rows %r, sent %r" % (name, got, ds.get("rows"), expected))
    with STATE.lock:
        STATE.datasets[ds["id"]] = (name, ds)


def backlog(s):
    queued = s.get("/v1/jobs?status=queued&limit=100").json()["data"]
    running = s.get("/v1/jobs?status=running&limit=100").json()["data"]
    return queued, len(queued) + len(running)


def op_submit(s, rng, idempotent):
    with STATE.lock:
        datasets = [d for _, d in STATE.datasets.values()]
    if not datasets:
        return op_upload(s, rng)
    queued, active = backlog(s)
    if active >= MAX_BACKLOG:
        return op_cancel(s, rng, [j["id"] for j in queued])
    spec = job_spec(rng, rng.choice(datasets))
    key = "chaos-%d-%d" % (SEED, STATE.next_n()) if idempotent else None
    try:
        r = s.post("/v1/jobs", spec, headers={"Idempotency-Key": key} if key else None)
    except NETWORK_ERRORS:
        if key:  # outcome unknown: a later retry settles it
            with STATE.lock:
                STATE.idem[key] = {"body": spec, "id": None}
        raise
    if r.status != 201:
        return STATE.violation("submit: %r" % r)
    jid = r.json()["id"]
    with STATE.lock:
        STATE.jobs[jid] = spec
        if key:
            STATE.idem[key] = {"body": spec, "id": jid}


def op_retry_idempotent(s, rng):
    """Send an idempotent submit again: an acknowledged one must replay the
    same job; an unacknowledged one is created once or replayed."""
    with STATE.lock:
        keys = list(STATE.idem.items())
    if not keys:
        return op_submit(s, rng, True)
    key, rec = rng.choice(keys)
    acked = rec["id"]
    r = s.post("/v1/jobs", rec["body"], headers={"Idempotency-Key": key})
    if r.status not in (200, 201) or (acked and (r.status != 200 or r.json()["id"] != acked)):
        return STATE.violation("retry of Idempotency-Key %s (acknowledged as %s): %r" % (key, acked, r))
    with STATE.lock:
        rec["id"] = r.json()["id"]
        STATE.jobs[rec["id"]] = rec["body"]


def op_cancel(s, rng, candidates=None):
    if not candidates:
        with STATE.lock:
            candidates = list(STATE.jobs)
    if not candidates:
        return
    jid = rng.choice(candidates)
    r = s.post("/v1/jobs/%s/cancel" % jid)
    if r.status == 200:
        if r.json()["status"] == "cancelled":
            with STATE.lock:
                STATE.must_cancel.add(jid)
                STATE.jobs.setdefault(jid, None)  # listed, so acknowledged too
    elif r.status != 409:  # 409: already over
        STATE.violation("cancel %s: %r" % (jid, r))


def check_model_bytes(mid, body, where):
    try:
        safetensors_parse(body)
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        return STATE.violation("%s: model %s does not parse: %s" % (where, mid, e))
    with STATE.lock:
        known = STATE.models.setdefault(mid, sha(body))
    if known != sha(body):
        STATE.violation("%s: model %s changed: sha256 %s, was %s" % (where, mid, sha(body), known))


def op_model(s, rng):
    """Download a model (and sometimes upload it again as a new model)."""
    models = s.get("/v1/models?limit=100").json()["data"]
    if not models:
        return op_upload(s, rng)
    m = rng.choice(models)
    r = s.get("/v1/models/%s/content" % m["id"])
    if r.status != 200 or len(r.body) != m["bytes"]:
        return STATE.violation("download %s: %r (%d bytes, object says %s)" % (m["id"], r, len(r.body), m["bytes"]))
    check_model_bytes(m["id"], r.body, "download")
    if rng.random() < 0.3:
        name = "mup-%d" % STATE.next_n()
        with STATE.lock:
            STATE.model_uploads[name] = sha(r.body)
        up = s.upload("/v1/models", {"file": ("m.safetensors", r.body)}, query="?name=" + name)
        if up.status != 201:
            return STATE.violation("model upload %s: %r" % (name, up))
        with STATE.lock:
            STATE.models[up.json()["id"]] = sha(r.body)


def client(s, rng, stop):
    ops = [(0.25, op_upload), (0.25, lambda s, rng: op_submit(s, rng, False)),
           (0.12, lambda s, rng: op_submit(s, rng, True)), (0.08, op_retry_idempotent),
           (0.12, op_cancel), (0.18, op_model)]
    while not stop.is_set():
        x, op = rng.random(), ops[-1][1]
        for weight, fn in ops:
            if x < weight:
                op = fn
                break
            x -= weight
        try:
            op(s, rng)
            time.sleep(rng.uniform(0, 0.1))
        except NETWORK_ERRORS:
            if not stop.is_set():
                time.sleep(0.05)  # the server is down (killed mid-request): outcome unknown
        except Exception as e:  # noqa: BLE001 - e.g. a reply that is not the JSON it should be
            STATE.violation("%s: %r" % (getattr(op, "__name__", "op"), e))


# ---- invariants ----

def db_rows(s, *sqls):
    """The rows of each query, all read in one snapshot."""
    return s.sql_snapshot(*sqls)


def check_database(s, where):
    if STORE != "sqlite":
        return  # the checks below are SQLite's own
    result = db_rows(s, "PRAGMA integrity_check")
    if result != [("ok",)]:
        STATE.violation("%s: PRAGMA integrity_check: %r" % (where, result))
    fk = db_rows(s, "PRAGMA foreign_key_check")
    if fk:
        STATE.violation("%s: PRAGMA foreign_key_check: %r" % (where, fk[:5]))


VERIFIED = set()  # datasets whose bytes were checked once (re-checked by sample, and at the end)


def check_datasets(s, where, final=False):
    """Acknowledged uploads are present and intact; every dataset present
    (acknowledged or not) is one the clients sent, byte for byte."""
    with STATE.lock:
        acked = dict(STATE.datasets)
        attempted = dict(STATE.attempted_uploads)
    rows = {i: json.loads(obj) for i, obj in db_rows(s, "SELECT id, obj FROM datasets")}
    for did, (name, _) in acked.items():
        if did not in rows:
            STATE.violation("%s: acknowledged dataset %s (%s) is gone" % (where, did, name))
    old = sorted(VERIFIED & set(rows))
    sample = set(old if final else random.Random(where).sample(old, min(10, len(old))))
    for did, obj in rows.items():
        if did in VERIFIED and did not in sample:
            continue
        VERIFIED.add(did)
        expected = attempted.get(obj.get("name"))
        if expected is None:
            STATE.violation("%s: dataset %s named %r was never uploaded" % (where, did, obj.get("name")))
            continue
        r = s.get("/v1/datasets/" + did)
        got = [f["sha256"] for f in r.json().get("files", [])] if r.status == 200 else r
        if got != expected["files"]:
            STATE.violation("%s: dataset %s file sha256 %r, uploaded %r" % (where, did, got, expected["files"]))
        path = os.path.join(s.data_dir, "datasets", did + ".safetensors")
        try:
            with open(path, "rb") as f:
                _, tensors = safetensors_parse(f.read())
            x = tensors["x"]
            if sha(x[2]) != expected["x"] or x[1][0] != expected["rows"]:
                STATE.violation("%s: dataset %s stored x differs from the upload" % (where, did))
        except Exception as e:  # noqa: BLE001
            STATE.violation("%s: dataset %s stored file unreadable: %s" % (where, did, e))
    return len(rows)


def check_jobs_and_models(s, where, final=False):
    """Acknowledged jobs exist (and, at the end, are terminal with a sane
    outcome); one job -> at most one model, and it is the job's result."""
    with STATE.lock:
        acked = dict(STATE.jobs)
        must_cancel = set(STATE.must_cancel)
        idem = dict(STATE.idem)
        model_uploads = dict(STATE.model_uploads)
    job_rows, model_rows = db_rows(s, "SELECT id, status, result_model, error, metadata FROM jobs",
                                   "SELECT id, obj FROM models")
    jobs = {r[0]: r for r in job_rows}
    models = {i: json.loads(obj) for i, obj in model_rows}
    for jid in acked:
        if jid not in jobs:
            STATE.violation("%s: acknowledged job %s is gone" % (where, jid))
            continue
        status, result_model, error = jobs[jid][1:4]
        if jid in must_cancel and status != "cancelled":
            STATE.violation("%s: job %s was cancelled (200) but is %s" % (where, jid, status))
        if final and status not in TERMINAL:
            STATE.violation("%s: job %s is still %s" % (where, jid, status))
        if status == "failed":
            code = json.loads(error or "{}").get("code")
            if code != "max_attempts_exceeded":
                STATE.violation("%s: job %s failed: %s" % (where, jid, error))
        if status == "succeeded" and result_model not in models:
            STATE.violation("%s: job %s succeeded without its model row (%s)" % (where, jid, result_model))
    # At most one job per submit attempt (the metadata tag) and per key.
    tags = {}
    for jid, row in jobs.items():
        tag = json.loads(row[4] or "{}").get("chaos")
        tags.setdefault(tag, []).append(jid)
    for tag, ids in tags.items():
        if tag is None or len(ids) > 1:
            STATE.violation("%s: jobs %r for one submit (tag %r)" % (where, ids, tag))
    for key, rec in idem.items():
        if rec["id"] and rec["id"] not in jobs:
            STATE.violation("%s: Idempotency-Key %s job %s is gone" % (where, key, rec["id"]))
    # Models: a job's model is its result_model, and no job has two.
    by_job = {}
    for mid, obj in models.items():
        if obj.get("source") == "job":
            by_job.setdefault(obj.get("job"), []).append(mid)
            row = jobs.get(obj.get("job"))
            if not row or row[1] != "succeeded" or row[2] != mid:
                STATE.violation("%s: model %s of job %s is not that job's result (%r)" % (where, mid, obj.get("job"),
                                                                                         row and row[1:3]))
        elif obj.get("name") not in model_uploads:
            STATE.violation("%s: model %s named %r was never uploaded" % (where, mid, obj.get("name")))
        else:
            r = s.get("/v1/models/%s/content" % mid)
            if r.status != 200 or sha(r.body) != model_uploads[obj["name"]]:
                STATE.violation("%s: uploaded model %s content differs: %r" % (where, mid, r))
    for job, mids in by_job.items():
        if len(mids) > 1:
            STATE.violation("%s: job %s has %d result models: %r" % (where, job, len(mids), mids))
    with STATE.lock:
        known = dict(STATE.models)
    for mid, digest in known.items():
        if mid not in models:
            STATE.violation("%s: model %s is gone" % (where, mid))
    if final:
        for mid in models:
            r = s.get("/v1/models/%s/content" % mid)
            if r.status != 200:
                STATE.violation("%s: model %s download: %r" % (where, mid, r))
            else:
                check_model_bytes(mid, r.body, where)
    return len(jobs), len(models)


def orphans(s):
    """Files the sweep should have removed, and rows without their file."""
    found = set()
    d = s.data_dir
    for name in os.listdir(os.path.join(d, "tmp")):
        found.add("tmp/" + name)
    datasets, models, active = ({r[0] for r in rows} for rows in db_rows(
        s, "SELECT id FROM datasets", "SELECT id FROM models",
        "SELECT id FROM jobs WHERE status IN ('queued', 'running')"))
    for sub, ids, suffix in (("datasets", datasets, ".safetensors"), ("models", models, ".safetensors"),
                             ("checkpoints", active, ".ckpt")):
        names = set(os.listdir(os.path.join(d, sub)))
        for name in names:
            if not name.endswith(suffix) or name[:-len(suffix)] not in ids:
                found.add(sub + "/" + name)
        if sub != "checkpoints":
            for i in ids:
                if i + suffix not in names:
                    found.add("row without file: %s/%s" % (sub, i + suffix))
    return found


def check_orphans(s, where):
    """Workers may be mid-write (a model file just before its row commits,
    a checkpoint being replaced): only what persists is an orphan. In a
    shared data dir (PostgreSQL) the start-up sweep leaves young orphans to
    a later start (server/app/startup.c says why): only a row without its
    file is wrong there."""
    first = orphans(s)
    if STORE != "sqlite":
        first = {o for o in first if o.startswith("row without file")}
    deadline = time.time() + 10
    while first and time.time() < deadline:
        time.sleep(0.5)
        first &= orphans(s)
    if first:
        STATE.violation("%s: orphans after the start-up sweep: %r" % (where, sorted(first)))


def check_all(s, where, final=False):
    check_database(s, where)
    check_orphans(s, where)
    ndatasets = check_datasets(s, where, final)
    njobs, nmodels = check_jobs_and_models(s, where, final)
    return ndatasets, njobs, nmodels


# ---- the tests ----

def long_job(s, ds):
    """A job that trains until cancelled; returns its id once its first
    checkpoint is on disk."""
    jid = s.post("/v1/jobs", {"dataset": ds, "architecture": cnn_architecture(10), "epochs": 100000,
                              "batch_size": 32}).json()["id"]
    ckpt = os.path.join(s.data_dir, "checkpoints", jid + ".ckpt")
    deadline = time.time() + 60
    while not os.path.exists(ckpt):
        check(time.time() < deadline, "no checkpoint for %s" % jid)
        time.sleep(0.05)
    return jid, ckpt


def wait_gone(path, what, timeout=15):
    deadline = time.time() + timeout
    while os.path.exists(path) and time.time() < deadline:
        time.sleep(0.1)
    check(not os.path.exists(path), "%s: %s is still on disk" % (what, os.path.basename(path)))


def test_jobs_ended_by_a_claim_or_a_cancel_leave_no_checkpoint():
    """A checkpoint outlives its job only until the job is over, including
    jobs that end without a worker: a dead worker's job that ran out of
    attempts or whose cancel was requested (settled by the next claim), and
    a queued job (requeued at shutdown) cancelled before it ran again."""
    with Server("--lease-seconds", "3", "--checkpoint-interval", "1", "--max-attempts", "1", workers=2) as s:
        r = s.upload("/v1/datasets", idx_upload(random.Random(1))[0])
        check(r.status == 201, r)
        ds = r.json()["id"]
        # Out of attempts after a kill -9: failed by the claim.
        jid, ckpt = long_job(s, ds)
        s.kill9()
        s.start()
        check(os.path.exists(ckpt), "the start-up sweep removed the checkpoint of a job that may resume")
        job = s.wait_job(jid, timeout=30)
        check(job["status"] == "failed" and job["error"]["code"] == "max_attempts_exceeded", job)
        wait_gone(ckpt, "a job failed after its worker died")
        s.stop()
        s.flags[s.flags.index("--max-attempts") + 1] = "3"
        s.start()
        # Cancel requested while its dead worker's lease runs: cancelled by the claim.
        jid, ckpt = long_job(s, ds)
        s.kill9()
        s.start()
        r = s.post("/v1/jobs/%s/cancel" % jid)
        check(r.status == 200 and r.json()["status"] == "running" and r.json()["cancel_requested"], r)
        job = s.wait_job(jid, timeout=30)
        check(job["status"] == "cancelled", job)
        wait_gone(ckpt, "a job cancelled after its worker died")
        # Two jobs requeued by SIGTERM with their checkpoints; one worker
        # takes the first, the second is cancelled while queued.
        first, _ = long_job(s, ds)
        second, ckpt = long_job(s, ds)
        check(s.stop() == 0, "SIGTERM exit")
        s.workers = 1
        s.start()
        r = s.post("/v1/jobs/%s/cancel" % second)
        check(r.status == 200 and r.json()["status"] == "cancelled", r)
        wait_gone(ckpt, "a queued job cancelled")
        s.post("/v1/jobs/%s/cancel" % first)
        s.wait_job(first, timeout=30)
        s.stop_clean()


def test_chaos_kill9_rounds():
    global SERVER
    print("chaos: seed %d (CHAOS_SEED=%d replays it), %d rounds" % (SEED, SEED, ROUNDS), flush=True)
    rng = random.Random(SEED)
    SERVER = Server(*FLAGS, workers=2)
    s = SERVER
    started = time.time()
    for rnd in range(1, ROUNDS + 1):
        stop = threading.Event()
        clients = [threading.Thread(target=client, args=(s, random.Random(rng.random()), stop), daemon=True)
                   for _ in range(THREADS)]
        for t in clients:
            t.start()
        # Mostly mid-workload; now and then right after start-up.
        delay = rng.uniform(0.02, 0.3) if rng.random() < 0.15 else rng.uniform(0.5, 3.5)
        time.sleep(delay)
        s.kill9()
        STATE.kills += 1
        stop.set()
        for t in clients:
            t.join(timeout=60)
            check(not t.is_alive(), "a client thread hung after the kill")
        s.start()
        before = len(STATE.violations)
        nds, njobs, nmodels = check_all(s, "round %d" % rnd)
        print("round %d: killed after %.2f s; %d datasets, %d jobs, %d models; %d violations" %
              (rnd, delay, nds, njobs, nmodels, len(STATE.violations) - before), flush=True)
    print("chaos: %d rounds in %.1f s" % (ROUNDS, time.time() - started), flush=True)
    check(not STATE.violations, "%d invariant violations (see above)" % len(STATE.violations))


def test_chaos_all_jobs_finish():
    """After the last restart, with workers running: every acknowledged job
    reaches a terminal status; then the final invariants and a clean stop."""
    s = SERVER
    check(s is not None, "the rounds did not run")
    try:
        deadline = time.time() + 300
        with STATE.lock:
            pending = set(STATE.jobs)
        while pending and time.time() < deadline:
            rows = dict(db_rows(s, "SELECT id, status FROM jobs"))
            pending = {j for j in pending if rows.get(j) not in TERMINAL}
            time.sleep(0.3)
        before = len(STATE.violations)
        if pending:
            STATE.violation("jobs not terminal after 300 s: %r" % sorted(pending)[:10])
        ndatasets, njobs, nmodels = check_all(s, "final", final=True)
        statuses = db_rows(s, "SELECT status, count(*) FROM jobs GROUP BY status")
        resumed = db_rows(s, "SELECT count(*) FROM jobs WHERE attempts > 1")[0][0]
        s.stop_clean()
        check_database(s, "after a clean stop")
        print("final: %d datasets (%d uploads attempted), %d models, jobs by status %r, %d run more than once" %
              (ndatasets, len(STATE.attempted_uploads), nmodels, dict(statuses), resumed), flush=True)
        print("chaos: %d kills survived, %d uploads, %d jobs checked, %d invariant violations" %
              (STATE.kills, len(STATE.datasets), len(STATE.jobs), len(STATE.violations)), flush=True)
        check(len(STATE.violations) == before, "%d violations in the final state" % (len(STATE.violations) - before))
        check(not STATE.violations, "%d invariant violations" % len(STATE.violations))
    finally:
        if STATE.violations and os.environ.get("CHAOS_KEEP"):
            s.stop()
            print("chaos: kept the data dir and server log in %s" % s.tmp, flush=True)
        else:
            s.close()


if __name__ == "__main__":
    main(globals())
