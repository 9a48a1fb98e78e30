#!/usr/bin/python3
"""Scale-out under fire: 1 API process and 3 worker processes share one data
dir and one PostgreSQL store; 200 small jobs run while workers and the API
are killed with SIGKILL and restarted, and the store's connections are cut
with pg_terminate_backend. At the end every acknowledged upload is there,
every job ran to exactly one result (one model row, one model file, and the
file loads), and no submit made two jobs. Also: the roles share events,
/metrics, cancels and the data dir; a job outlives cut store connections.
These tests run in the PostgreSQL pass only."""
import json
import os
import random
import subprocess
import threading
import time

from harness import (BINARY, PgCluster, Server, check, csv_text, main, mlp_architecture, pg_database, postgres_only,
                     psql, safetensors_parse, sse_events, start_long_job, upload_fashion, wait_for)

JOBS = 200
WORKERS = 3
LEASE = "2"  # seconds: a killed worker's job is claimed again quickly
SEED = int(os.environ.get("FT_CHAOS_SEED", "15"))

state = {"api": None, "workers": [], "data_dir": None, "kills": 0, "api_kills": 0, "cuts": 0}


def start_api(data_dir):
    return Server("--role", "api", "--lease-seconds", LEASE, "--max-attempts", "100", data_dir=data_dir,
                  store="postgres")


def start_worker(data_dir):
    return Server("--role", "worker", "--lease-seconds", LEASE, "--feature-store-limit", "0",
                  data_dir=data_dir, store="postgres")


def api_call(fn, timeout=60):
    """Call fn(api) until it gets an HTTP answer: the API may be dead for a
    moment (killed, restarting)."""
    deadline = time.time() + timeout
    while True:
        try:
            return fn(state["api"])
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def dataset_csv(rng):
    rows = [[rng.randint(-8, 8) / 4 for _ in range(4)] + [rng.choice("ab")] for _ in range(2000)]
    rows[0][-1], rows[1][-1] = "a", "b"
    return csv_text(["f0", "f1", "f2", "f3", "label"], rows).encode()


def chaos(stop, rng):
    """Every third of a second or so: kill -9 a worker (restarted at once), now and
    then the API, now and then every store connection of the database."""
    conninfo = pg_database(state["data_dir"])
    while not stop.is_set():
        time.sleep(rng.uniform(0.15, 0.5))
        roll = rng.random()
        if roll < 0.6:
            i = rng.randrange(WORKERS)
            w = state["workers"][i]
            w.kill9()
            w.log.close()
            w.start()
            state["kills"] += 1
        elif roll < 0.75:
            api = state["api"]
            api.kill9()
            api.log.close()
            api.start()
            state["api_kills"] += 1
        else:
            cut_store_connections(conninfo)
            state["cuts"] += 1


def cut_store_connections(conninfo):
    """End the service's connections to the database (pg_terminate_backend):
    the number ended. The test's own psql sessions are spared: a cut from
    the chaos thread would otherwise end the main thread's look at the jobs
    (the service names no application, psql names itself)."""
    return psql(conninfo, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                          "AND application_name <> 'psql'")[0][0]


@postgres_only
def test_one_api_three_workers_200_jobs_under_kill9():
    rng = random.Random(SEED)
    api = start_api(None)
    state["api"], state["data_dir"] = api, api.data_dir
    state["workers"] = [start_worker(api.data_dir) for _ in range(WORKERS)]
    started = time.time()
    stop = threading.Event()
    killer = threading.Thread(target=chaos, args=(stop, random.Random(SEED + 1)))
    killer.start()
    datasets, jobs = {}, {}
    try:
        # Uploads while the chaos runs: each 201 must survive.
        for i in range(5):
            data = dataset_csv(rng)
            r = api_call(lambda a: a.upload("/v1/datasets", {"file": ("d%d.csv" % i, data)}))
            if r.status == 201:
                datasets[r.json()["id"]] = data
        check(datasets, "no upload was acknowledged")
        ids = sorted(datasets)
        for n in range(JOBS):
            spec = {"dataset": ids[n % len(ids)], "architecture": mlp_architecture([4], 2, (8,)),
                    "epochs": 8, "batch_size": 16, "seed": n,
                    "metadata": {"n": str(n)}}
            key = "scale-chaos-%d" % n
            # A submit cut off by a kill is sent again with its key: at most
            # one job per key, whatever happened to the first attempt.
            while True:
                r = api_call(lambda a: a.post("/v1/jobs", spec, headers={"Idempotency-Key": key}))
                if r.status in (200, 201):
                    jobs[r.json()["id"]] = n
                    break
                check(r.status >= 500, "submit %d: %r" % (n, r))
                time.sleep(0.1)
        wait_for(lambda: all_terminal(jobs), timeout=150, interval=0.5, what="every job to end")
    finally:
        stop.set()
        killer.join()
    elapsed = time.time() - started
    print("  %d jobs, %d worker kills, %d API kills, %d connection cuts, %.1f s"
          % (len(jobs), state["kills"], state["api_kills"], state["cuts"], elapsed), flush=True)
    check_outcome(jobs, datasets)


@postgres_only
def test_a_job_survives_cut_connections():
    """Every store connection of the database cut (pg_terminate_backend) five
    times while a job trains: the pool reconnects, the heartbeat keeps the
    lease, and the job finishes. (A cut inside a transaction, between its
    first statement and its commit, fails that one call: a progress report
    is skipped, a success is retried, a claim is tried again, so the job
    still ends once; no test here can aim at that window.)"""
    with Server("--lease-seconds", "3", store="postgres") as s:
        rng = random.Random(SEED)
        r = s.upload("/v1/datasets", {"file": ("d.csv", dataset_csv(rng))})
        check(r.status == 201, "upload: %r" % r)
        job = s.post("/v1/jobs", {"dataset": r.json()["id"], "architecture": mlp_architecture([4], 2, (64,)),
                                  "epochs": 60, "batch_size": 8}).json()
        wait_for(lambda: s.get("/v1/jobs/" + job["id"]).json()["status"] == "running", what="the job to run")
        for _ in range(5):
            check(cut_store_connections(pg_database(s.data_dir)) >= 1, "no connection was cut")
            time.sleep(0.4)
        done = s.wait_job(job["id"], timeout=120)
        check(done["status"] == "succeeded", "job after the cuts: %r" % done)
        check(len(s.sql("SELECT id FROM models")) == 1, "one model for the one job")
        check(s.get("/readyz").status == 200, "the service is ready")


@postgres_only
def test_roles_share_events_metrics_and_the_data_dir():
    """An API process and a worker process: the API's event stream follows a
    job the worker runs to its end, the API's /metrics counts it, the worker
    serves its probes but not the API, a cancel sent to the API stops the
    worker's job, and an SQLite server is refused on the shared data dir."""
    api = Server("--role", "api", store="postgres")
    worker = Server("--role", "worker", data_dir=api.data_dir, store="postgres")
    try:
        rng = random.Random(SEED)
        ds = api.upload("/v1/datasets", {"file": ("d.csv", dataset_csv(rng))}).json()
        job = api.post("/v1/jobs", {"dataset": ds["id"], "architecture": mlp_architecture([4], 2, (8,)),
                                    "epochs": 3}).json()
        status, _, events = sse_events(api, "/v1/jobs/%s/events" % job["id"], timeout=60)
        check(status == 200 and events and events[-1]["event"] == "end", "stream: %r" % events[-3:])
        check(any("epoch 1" in (e["json"] or {}).get("message", "") for e in events), "no epoch event streamed")
        check(api.get("/v1/jobs/" + job["id"]).json()["status"] == "succeeded", "the worker ran the job")
        metrics = api.get("/metrics").body.decode()
        check('finetuned_jobs{status="succeeded"} 1' in metrics and "finetuned_workers 0" in metrics, metrics[-2000:])
        check("finetuned_jobs_finished_total" in worker.get("/metrics").body.decode(), "worker's /metrics")
        check(worker.get("/healthz").status == 200 and worker.get("/readyz").status == 200, "worker probes")
        check(worker.get("/v1/jobs").status == 404, "a worker does not serve the API")
        # A cancel sent to the API reaches the worker's running job.
        long_job = api.post("/v1/jobs", {"dataset": ds["id"], "architecture": mlp_architecture([4], 2, (256,)),
                                         "epochs": 100000}).json()
        wait_for(lambda: api.get("/v1/jobs/" + long_job["id"]).json()["progress"], what="the long job to run")
        t0 = time.time()
        api.post("/v1/jobs/%s/cancel" % long_job["id"])
        done = api.wait_job(long_job["id"], timeout=30)
        check(done["status"] == "cancelled" and time.time() - t0 < 5, "cancel took %.1f s: %r"
              % (time.time() - t0, done["status"]))
        # The data dir is shared: an SQLite server may not join it.
        r = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", api.data_dir],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "one process owns a data dir" in r.stderr, r.stderr)
    finally:
        worker.close()
        api.close()


@postgres_only
def test_shutdown_does_not_wait_for_a_database_that_is_gone():
    """The database goes away while a job trains: SIGTERM still ends the
    process at once, with status 0, instead of after each thread's
    reconnect backoff (20 s for each write at shutdown: the checkpoint's,
    the requeue's). The job stays running under its lease, which the next
    worker settles."""
    cluster = PgCluster()
    psql(cluster.conninfo + " dbname=postgres", "CREATE DATABASE gone")
    s = Server("--store", cluster.conninfo + " dbname=gone", store="postgres")
    try:
        start_long_job(s, upload_fashion(s, 64)["id"])
        cluster.stop()
        s.stop_clean(timeout=12)
        check("stopped" in s.log_text(), s.log_text()[-2000:])
    finally:
        s.close()


def all_terminal(jobs):
    rows = state["api"].sql("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
    return rows[0][0] == 0 and len(jobs) == JOBS


def check_outcome(jobs, datasets):
    api = state["api"]
    check(len(jobs) == JOBS and len(set(jobs.values())) == JOBS, "one job per submit: %d" % len(jobs))
    rows = api.sql("SELECT id, status, result_model, attempts FROM jobs")
    check(len(rows) == JOBS, "%d job rows for %d submits" % (len(rows), JOBS))
    # The kills landed on running jobs, which ran again elsewhere.
    retried = sum(1 for r in rows if r[3] > 1)
    print("  %d jobs needed more than one attempt" % retried, flush=True)
    check(retried > 0, "no kill interrupted a job: the test did not test anything")
    status = {r[0]: r for r in rows}
    models = {r[0]: json.loads(r[1]) for r in api.sql("SELECT id, obj FROM models")}
    by_job = {}
    for mid, obj in models.items():
        by_job.setdefault(obj.get("job"), []).append(mid)
    model_dir = os.path.join(api.data_dir, "models")
    files = set(os.listdir(model_dir))
    for jid in jobs:
        check(jid in status and status[jid][1] == "succeeded", "job %s: %r" % (jid, status.get(jid)))
        mids = by_job.get(jid, [])
        check(len(mids) == 1, "job %s has %d model rows: %r" % (jid, len(mids), mids))
        check(status[jid][2] == mids[0], "job %s's result_model %s is not its model %s" % (jid, status[jid][2], mids))
        name = mids[0] + ".safetensors"
        check(name in files, "model file %s is missing" % name)
        with open(os.path.join(model_dir, name), "rb") as f:
            safetensors_parse(f.read())  # complete: the header and tensors tile the file
    # A model file that no row names is an attempt cut off between its
    # rename and its commit: at most one per kill, and never a second
    # result of a job (the rows above are one per job).
    extra = [f for f in files if f.endswith(".safetensors") and f[:-12] not in models]
    check(len(extra) <= state["kills"], "%d model files without a row after %d kills" % (len(extra), state["kills"]))
    for did in datasets:
        r = api.get("/v1/datasets/" + did)
        check(r.status == 200, "acknowledged dataset %s: %r" % (did, r))
        check(os.path.exists(os.path.join(api.data_dir, "datasets", did + ".safetensors")), "dataset file " + did)
    # A model downloaded through the API loads.
    r = api.get("/v1/models/%s/content" % sorted(models)[0])
    check(r.status == 200, "model download: %r" % r)
    safetensors_parse(r.body)


def teardown():
    for s in [state["api"]] + state["workers"]:
        if s:
            s.close()


if __name__ == "__main__":
    main(globals())
