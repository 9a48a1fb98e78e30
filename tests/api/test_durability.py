"""Durability: kill -9 during training resumes from the checkpoint and ends
with the same model as an uninterrupted run; kill -9 during an upload leaves
nothing half-written; SIGTERM checkpoints and requeues a running job."""
import ctypes
import http.client
import json
import os
import signal
import socket
import struct
import time

from harness import Server, check, idx_subset, main, restart_and_sweep

SYS_TGKILL = 234  # x86-64

CNN = {"input": [1, 28, 28], "layers": [
    {"name": "conv1", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"name": "conv2", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
    {"name": "hidden", "type": "dense", "units": 64, "activation": "relu"},
    {"type": "dropout", "rate": 0.2},
    {"name": "out", "type": "dense", "units": 10, "activation": "softmax"}]}

FLAGS = ("--checkpoint-interval", "1", "--lease-seconds", "2")


def upload_fashion(server, rows):
    images, labels = idx_subset("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", rows)
    resp = server.upload("/v1/datasets", {"images": ("img.idx", images), "labels": ("lab.idx", labels)})
    check(resp.status == 201, resp)
    return resp.json()["id"]


def job_spec(dataset):
    # reduce_on_plateau's state (best, bad epochs, lr) and the class weights travel in the checkpoint
    return {"dataset": dataset, "architecture": CNN, "epochs": 4, "batch_size": 32,
            "validation": {"split": 0.1}, "optimizer": {"type": "adam", "lr": 0.002}, "seed": 7,
            "lr_schedule": {"type": "reduce_on_plateau", "metric": "val_accuracy", "patience": 0, "factor": 0.5,
                            "threshold": 0.5},
            "class_weight": "balanced", "label_smoothing": 0.05, "grad_clip_norm": 5.0}


def tensors(blob):
    """name -> raw bytes of each tensor of a safetensors file."""
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    base = 8 + hlen
    return {name: blob[base + t["data_offsets"][0]:base + t["data_offsets"][1]]
            for name, t in header.items() if name != "__metadata__"}


def wait_for(predicate, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_kill9_during_training_resumes_from_checkpoint():
    server = Server(*FLAGS)
    try:
        ds = upload_fashion(server, 3000)
        job = server.post("/v1/jobs", job_spec(ds)).json()
        jid = job["id"]
        # Kill once the first epoch is done and a later one is under way.
        # (The epoch's metric row and its progress are separate writes: the
        # row may be there while the progress is not yet.)
        wait_for(lambda: len(server.get("/v1/jobs/%s/metrics" % jid).json()["data"]) >= 1
                 and (server.get("/v1/jobs/" + jid).json()["progress"] or {}).get("epoch", 0) >= 2,
                 what="epoch 2 to start")
        server.kill9()
        ckpt = os.path.join(server.data_dir, "checkpoints", jid + ".ckpt")
        check(os.path.exists(ckpt), "no checkpoint was written before the kill")
        server.start()
        done = server.wait_job(jid, timeout=300)
        check(done["status"] == "succeeded", done)
        check(done["attempts"] == 2, "attempts %r" % done["attempts"])
        events = [e["message"] for e in server.get("/v1/jobs/%s/events?limit=100" % jid).json()["data"]]
        check(any("resuming from the last checkpoint" in m for m in events), events)
        # Epoch 1 finished before the kill: the resumed attempt must not redo it.
        check(sum(m.startswith("epoch 1 done") for m in events) == 1, events)
        check(not os.path.exists(ckpt), "the checkpoint outlived its job")
        # The same spec without interruption gives the same weights.
        again = server.post("/v1/jobs", job_spec(ds)).json()
        clean = server.wait_job(again["id"], timeout=300)
        a = server.get("/v1/models/%s/content" % done["result_model"]).body
        b = server.get("/v1/models/%s/content" % clean["result_model"]).body
        check(tensors(a) == tensors(b), "the resumed job's model differs from an uninterrupted run")
        lrs = [[r["lr"] for r in server.get("/v1/jobs/%s/metrics" % j).json()["data"]] for j in (jid, again["id"])]
        check(lrs[0] == lrs[1] and len(set(lrs[0])) > 1, "learning rates %r" % lrs)
        check(len(server.get("/v1/models").json()["data"]) == 2, "a job produced two models")
    finally:
        server.close()


def test_kill9_during_upload_leaves_nothing():
    server = Server(*FLAGS)
    try:
        # Start a 50 MB raw upload, send a part of it, and kill the server.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("POST", "/v1/datasets?name=half")
        conn.putheader("Content-Type", "text/csv")
        conn.putheader("Content-Length", str(50 << 20))
        conn.endheaders()
        conn.send(b"a,b,label\n" + b"1,2,x\n" * 200000)
        tmp = os.path.join(server.data_dir, "tmp")
        wait_for(lambda: os.listdir(tmp), what="the upload's temp file")
        server.kill9()
        conn.close()
        check(os.listdir(tmp), "expected the crash to leave a temp file for the sweep")
        restart_and_sweep(server, tmp)
        check(server.get("/v1/datasets").json()["data"] == [], "a half upload is visible")
        check(os.listdir(tmp) == [], "orphan temp files after the start-up sweep: %r" % os.listdir(tmp))
        check(os.listdir(os.path.join(server.data_dir, "datasets")) == [], "orphan dataset files")
        # A stored file whose row never committed is swept too.
        orphan = os.path.join(server.data_dir, "datasets", "ds_" + "ab" * 12 + ".safetensors")
        with open(orphan, "wb") as f:
            f.write(b"x")
        server.stop()
        restart_and_sweep(server, orphan)
        check(not os.path.exists(orphan), "a dataset file without a row survived the sweep")
    finally:
        server.close()


def test_sigterm_checkpoints_and_requeues():
    server = Server(*FLAGS)
    try:
        ds = upload_fashion(server, 3000)
        jid = server.post("/v1/jobs", job_spec(ds)).json()["id"]
        wait_for(lambda: (server.get("/v1/jobs/" + jid).json().get("progress") or {}).get("step", 0) > 5,
                 what="the job to train")
        started = time.time()
        code = server.stop()
        check(code == 0, "exit code %r after SIGTERM" % code)
        check(time.time() - started < 10, "shutdown took %.1f s" % (time.time() - started))
        check(os.path.exists(os.path.join(server.data_dir, "checkpoints", jid + ".ckpt")),
              "no checkpoint after SIGTERM")
        server.start()
        job = server.wait_job(jid, timeout=300)
        check(job["status"] == "succeeded", job)
        check(job["attempts"] == 1, "a graceful requeue counted as an attempt: %r" % job["attempts"])
        events = [e["message"] for e in server.get("/v1/jobs/%s/events?limit=100" % jid).json()["data"]]
        check(any("resuming" in m for m in events), events)
    finally:
        server.close()


def sigterm_unblocked_threads(pid):
    """Threads of pid (other than the main one) that do not block SIGTERM."""
    found = []
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) == pid:
            continue
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            blocked = int([l for l in f if l.startswith("SigBlk:")][0].split()[1], 16)
        if not blocked & (1 << (signal.SIGTERM - 1)):
            found.append(int(tid))
    return found


def test_sigterm_to_a_thread_started_before_main_stops_cleanly():
    """OpenBLAS starts its threads before main (a library constructor), so
    they do not block SIGTERM; the kernel may hand a process-directed
    SIGTERM to such a thread (it did, while start-up had not reached the
    wait yet), and the signal's default action killed the server (status
    -15) instead of a clean shutdown. SIGTERM is now caught by a handler
    that wakes the main thread, whichever thread takes it: sent straight to
    such a thread (tgkill), it still stops the server with status 0."""
    server = Server()
    try:
        threads = sigterm_unblocked_threads(server.proc.pid)
        check(threads, "no thread without SIGTERM blocked (is OpenBLAS single-threaded here?)")
        libc = ctypes.CDLL(None, use_errno=True)
        check(libc.syscall(SYS_TGKILL, server.proc.pid, threads[0], signal.SIGTERM) == 0, "tgkill")
        code = server.proc.wait(timeout=15)
        check(code == 0, "status %r after SIGTERM to thread %d:\n%s" % (code, threads[0], server.log_text()[-1500:]))
    finally:
        server.close()


if __name__ == "__main__":
    main(globals())
