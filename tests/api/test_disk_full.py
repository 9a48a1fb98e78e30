#!/usr/bin/python3
"""Disk full: the data dir on a small tmpfs, filled with a ballast file.
An upload that meets ENOSPC answers 507 and leaves nothing behind; SQLite's
SQLITE_FULL answers 507 too, never 500; a training job whose checkpoint or
model write meets ENOSPC fails with a clear error; /readyz says 503 with the
disk-headroom reason; stored datasets and models stay intact; and once the
ballast goes the service works again without a restart.

Needs root (mount -t tmpfs); CI runs as root. Without it the tests fail
with a message rather than skip silently."""
import errno
import gzip
import hashlib
import os
import sqlite3
import subprocess
import tempfile
import threading
import time

from harness import FASHION, Server, check, expect_error, mlp_architecture, main, safetensors_parse, sqlite_only

MIB = 1 << 20
MIN_FREE = 16 * MIB
_FASHION = {}


def fashion_idx(offset, count):
    """count Fashion-MNIST train rows from offset: (images, labels) IDX bytes."""
    if not _FASHION:
        for kind in ("images-idx3", "labels-idx1"):
            with open(os.path.join(FASHION, "train-%s-ubyte.gz" % kind), "rb") as f:
                _FASHION[kind[:6]] = gzip.decompress(f.read())
    img, lab = _FASHION["images"], _FASHION["labels"]
    return (img[:4] + count.to_bytes(4, "big") + img[8:16] + img[16 + 784 * offset:16 + 784 * (offset + count)],
            lab[:4] + count.to_bytes(4, "big") + lab[8 + offset:8 + offset + count])


def sha(data):
    return hashlib.sha256(data).hexdigest()


class FullDisk:
    """A tmpfs of size_mb holding the data dir, a server on it, and a
    ballast file to fill it."""

    def __init__(self, *flags, size_mb=64):
        check(os.geteuid() == 0, "the disk-full tests mount a tmpfs and need root (CI runs as root)")
        self.root = tempfile.mkdtemp(prefix="ft-disk-")
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", self.root],
                               capture_output=True, text=True)
        if mount.returncode != 0:
            os.rmdir(self.root)
            raise AssertionError("cannot mount a tmpfs on %s: %s" % (self.root, mount.stderr.strip()))
        self.ballast = os.path.join(self.root, "ballast")
        self.server = None
        try:
            self.server = Server("--min-free-disk", str(MIN_FREE), *flags, data_dir=os.path.join(self.root, "data"))
        except Exception:
            self.close()
            raise

    def free_bytes(self):
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave):
        """Grow the ballast until about `leave` bytes are free (0: none)."""
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        full = False
        try:
            room = self.free_bytes() - leave
            if room > 0:
                os.posix_fallocate(fd, os.fstat(fd).st_size, room)
            while leave == 0:
                os.write(fd, b"\0" * 4096)
        except OSError as e:
            full = e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        if leave == 0:
            # Proof that the disk was full: our own write got ENOSPC. (Free
            # space measured afterwards may already be back: a server that
            # hits the full disk deletes its failed checkpoint files.)
            check(full, "the ballast did not fill the disk")
        else:
            check(self.free_bytes() <= leave + 64 * 1024, "the ballast left %d bytes free" % self.free_bytes())

    def keep_full(self):
        """Fill the disk and keep it full: a thread takes every byte the
        server frees (its failed checkpoint's temp file, an old checkpoint
        replaced) until stop_keeping(). Without it, space the server freed
        after the first failure could let the next checkpoint, and the job,
        succeed: the test then depended on when the fill landed."""
        self.fill(0)
        self.keeping = threading.Event()

        def keep():
            fd = os.open(self.ballast, os.O_WRONLY | os.O_APPEND)
            try:
                while not self.keeping.is_set():
                    try:
                        os.write(fd, b"\0" * 4096)
                    except OSError:
                        self.keeping.wait(0.002)  # full: look again soon
            finally:
                os.close(fd)

        self.keeper = threading.Thread(target=keep)
        self.keeper.start()

    def stop_keeping(self):
        self.keeping.set()
        self.keeper.join()

    def unfill(self):
        os.unlink(self.ballast)

    def close(self):
        if self.server:
            self.server.close()
        if subprocess.run(["umount", self.root]).returncode != 0:
            subprocess.run(["umount", "-l", self.root])
        os.rmdir(self.root)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def upload(s, images, labels, **kw):
    return s.upload("/v1/datasets", {"images": ("images.idx", images), "labels": ("labels.idx", labels)}, **kw)


def wait_listing(s, files, what):
    """The data dir holds `files` again (an upload's temp parts go once its
    request is over, a moment after the reply)."""
    deadline = time.time() + 5
    while listing(s) != files and time.time() < deadline:
        time.sleep(0.05)
    check(listing(s) == files, "%s left files: %r -> %r" % (what, files, listing(s)))


def listing(s):
    """What the data dir holds, to compare before and after a failure."""
    d = s.data_dir
    return {sub: sorted(os.listdir(os.path.join(d, sub))) for sub in ("tmp", "datasets", "models", "checkpoints")}


def db_count(s, table):
    return s.sql("SELECT count(*) FROM " + table)[0][0]


def stored(s):
    """A dataset and a trained model made while there was room, with what
    proves them intact later."""
    images, labels = fashion_idx(0, 1000)
    r = upload(s, images, labels)
    check(r.status == 201, r)
    ds = r.json()
    job = s.post("/v1/jobs", {"dataset": ds["id"], "architecture": mlp_architecture([1, 28, 28], 10, (16,)),
                              "epochs": 1}).json()
    job = s.wait_job(job["id"], timeout=120)
    check(job["status"] == "succeeded", job)
    model = s.get("/v1/models/%s/content" % job["result_model"]).body
    return {"dataset": ds, "x": sha(images[16:]), "model": job["result_model"], "model_sha": sha(model)}


def check_intact(s, before):
    ds = s.get("/v1/datasets/" + before["dataset"]["id"])
    check(ds.status == 200 and ds.json()["files"] == before["dataset"]["files"], "dataset changed: %r" % ds)
    with open(os.path.join(s.data_dir, "datasets", before["dataset"]["id"] + ".safetensors"), "rb") as f:
        _, tensors = safetensors_parse(f.read())
    check(sha(tensors["x"][2]) == before["x"], "the stored dataset's pixels changed")
    m = s.get("/v1/models/%s/content" % before["model"])
    check(m.status == 200 and sha(m.body) == before["model_sha"], "model changed: %r" % m)


def check_readyz(s, status, reason=None):
    r = s.get("/readyz")
    check(r.status == status, "/readyz: %r" % r)
    body = r.json()
    if reason:
        check(body.get("reason") == reason, "/readyz reason: %r" % body)
    return body


def test_upload_on_a_full_disk_507_then_recovers():
    with FullDisk() as disk:
        s = disk.server
        before = stored(s)
        check_readyz(s, 200)
        ndatasets = db_count(s, "datasets")
        # Room for neither the upload (7.8 MB) nor the headroom /readyz wants.
        disk.fill(4 * MIB)
        body = check_readyz(s, 503, "the disk is nearly full")
        check(body["checks"]["disk_free_bytes"] < body["checks"]["disk_min_free_bytes"] == MIN_FREE, body)
        check(body["checks"]["database_writable"] is True, body)
        files = listing(s)
        images, labels = fashion_idx(1000, 10000)
        err = expect_error(upload(s, images, labels), 507, code="insufficient_storage")
        check("disk is full" in err["message"], err)
        wait_listing(s, files, "the failed upload")
        check(db_count(s, "datasets") == ndatasets, "the failed upload left a row")
        # The upload fits (gzipped) but its stored form does not.
        gz_images, gz_labels = gzip.compress(images, 9), gzip.compress(labels, 9)
        disk.unfill()
        disk.fill(len(gz_images) + len(gz_labels) + 2 * MIB)
        err = expect_error(upload(s, gz_images, gz_labels), 507, code="insufficient_storage")
        wait_listing(s, files, "the failed save")
        check(db_count(s, "datasets") == ndatasets, "the failed save left a row")
        check_intact(s, before)
        # Space comes back: no restart needed.
        disk.unfill()
        check_readyz(s, 200)
        r = upload(s, gz_images, gz_labels)
        check(r.status == 201 and r.json()["rows"] == 10000, r)
        job = s.post("/v1/jobs", {"dataset": r.json()["id"], "epochs": 1,
                                  "architecture": mlp_architecture([1, 28, 28], 10, (16,))}).json()
        check(s.wait_job(job["id"], timeout=120)["status"] == "succeeded", "a job after recovery")
        check_intact(s, before)
        s.stop_clean()


@sqlite_only
def test_sqlite_full_answers_507():
    with FullDisk() as disk:
        s = disk.server
        before = stored(s)
        disk.fill(0)
        check_readyz(s, 503)
        # Submits with a large metadata object grow the WAL until SQLite
        # reports SQLITE_FULL: the API says 507, not 500.
        spec = {"dataset": before["dataset"]["id"], "architecture": mlp_architecture([1, 28, 28], 10, (16,)),
                "epochs": 1, "metadata": {"blob": "x" * 900000}}
        statuses = []
        for _ in range(8):
            r = s.post("/v1/jobs", spec)
            statuses.append(r.status)
            if r.status != 201:
                break
        check(statuses[-1] == 507, "submits on a full disk: %r, last %r" % (statuses, r))
        expect_error(r, 507, code="insufficient_storage")
        # Other writes: 507 (or done, if they fit), never 500.
        for r in (s.upload("/v1/models", {"file": ("m.safetensors", s.get("/v1/models/%s/content" %
                                                                          before["model"]).body)}),
                  upload(s, *fashion_idx(0, 100)),
                  s.post("/v1/jobs", dict(spec, metadata={"small": 1}))):
            check(r.status in (200, 201, 507), "a write on a full disk: %r" % r)
            if r.status == 507:
                expect_error(r, 507, code="insufficient_storage")
        check(s.get("/v1/jobs?limit=5").status == 200, "reads keep working")
        check_intact(s, before)
        disk.unfill()
        check_readyz(s, 200)
        r = s.post("/v1/jobs", spec)
        check(r.status == 201, "submit after space came back: %r" % r)
        s.wait_job(r.json()["id"], timeout=120)
        check_intact(s, before)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(s.data_dir, "finetuned.db"), uri=True)
        check(db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], "integrity_check")
        db.close()
        s.stop_clean()


BIG_MLP = mlp_architecture([1, 28, 28], 10, (1024,))  # 814k parameters: a 3.3 MB model


def test_checkpoint_enospc_fails_the_job_clearly():
    with FullDisk() as disk:
        s = disk.server
        before = stored(s)
        files = listing(s)
        nmodels = db_count(s, "models")
        # Adam keeps two moments: the checkpoint is ~10 MB, the disk has 2.
        disk.fill(2 * MIB)
        job = s.post("/v1/jobs", {"dataset": before["dataset"]["id"], "architecture": BIG_MLP, "epochs": 2,
                                  "optimizer": {"type": "adam", "lr": 0.001}}).json()
        job = s.wait_job(job["id"], timeout=120)
        check(job["status"] == "failed", job)
        check(job["error"]["code"] == "no_space" and "checkpoint" in job["error"]["message"] and
              "No space left" in job["error"]["message"], job["error"])
        # The user sees what failed, not the server's file layout; the log has the path.
        check("/" not in job["error"]["message"] and "a file in the data dir" in job["error"]["message"],
              job["error"])
        check(s.data_dir in s.log_text(), "the log lost the failing path")
        wait_listing(s, files, "the failed job")
        check(db_count(s, "models") == nmodels, "a model row for a failed job")
        check_intact(s, before)
        disk.unfill()
        again = s.post("/v1/jobs", dict(job["spec"], metadata={"again": True})).json()
        check(s.wait_job(again["id"], timeout=120)["status"] == "succeeded", "the same job once there is room")
        s.stop_clean()


def test_model_save_enospc_fails_the_job_clearly():
    with FullDisk("--checkpoint-interval", "3600") as disk:
        s = disk.server
        before = stored(s)
        # Plain SGD, one epoch: one checkpoint (~ the model's size) is written,
        # then the model. Leave room for the checkpoint and half the model.
        spec = {"dataset": before["dataset"]["id"], "architecture": BIG_MLP, "epochs": 1,
                "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0}}
        sized = s.wait_job(s.post("/v1/jobs", spec).json()["id"], timeout=120)
        check(sized["status"] == "succeeded", sized)
        model_bytes = s.get("/v1/models/" + sized["result_model"]).json()["bytes"]
        files = listing(s)
        nmodels = db_count(s, "models")
        metrics = s.get("/metrics").body.decode()
        disk.fill(model_bytes + model_bytes // 2)
        job = s.wait_job(s.post("/v1/jobs", dict(spec, metadata={"n": 2})).json()["id"], timeout=120)
        check(job["status"] == "failed", job)
        check(job["error"]["code"] == "no_space" and "could not save the trained model" in job["error"]["message"],
              job["error"])
        check(job["result_model"] is None, job)
        wait_listing(s, files, "the failed job")
        check(db_count(s, "models") == nmodels, "a model row for a failed job")
        check_intact(s, before)
        # The process's own figures agree: one more failed job, no more successes.
        def finished(text, status):
            line = [l for l in text.split("\n") if l.startswith('finetuned_jobs_finished_total{status="%s"}' % status)]
            return int(line[0].split()[-1]) if line else 0
        after = s.get("/metrics").body.decode()
        check(finished(after, "failed") == finished(metrics, "failed") + 1 and
              finished(after, "succeeded") == finished(metrics, "succeeded"),
              "finetuned_jobs_finished_total: %r" % [l for l in after.split("\n") if "jobs_finished_total{" in l])
        disk.unfill()
        again = s.wait_job(s.post("/v1/jobs", dict(spec, metadata={"n": 3})).json()["id"], timeout=120)
        check(again["status"] == "succeeded", again)
        s.stop_clean()


def finished_total(s, status):
    """This process's finetuned_jobs_finished_total{status=...}."""
    prefix = 'finetuned_jobs_finished_total{status="%s"} ' % status
    lines = [l for l in s.get("/metrics").body.decode().split("\n") if l.startswith(prefix)]
    return int(lines[0].split()[-1]) if lines else 0


def test_disk_fills_up_mid_training():
    """The disk fills while a job trains: its checkpoint write fails, and so
    may the database write that would fail the job. The job must not get
    stuck: it ends failed with a clear error, and the process counts it once."""
    with FullDisk("--lease-seconds", "2", "--checkpoint-interval", "1") as disk:
        s = disk.server
        before = stored(s)
        files = listing(s)
        counts = {st: finished_total(s, st) for st in ("succeeded", "failed")}
        jid = s.post("/v1/jobs", {"dataset": before["dataset"]["id"], "architecture": BIG_MLP, "epochs": 200,
                                  "optimizer": {"type": "adam", "lr": 0.001}}).json()["id"]
        deadline = time.time() + 60
        while ((s.get("/v1/jobs/" + jid).json().get("progress") or {}).get("epoch") or 0) < 2:
            check(time.time() < deadline, "the job did not start training")
            time.sleep(0.05)
        disk.keep_full()
        try:
            job = s.wait_job(jid, timeout=60)
        finally:
            disk.stop_keeping()
        check(job["status"] == "failed" and job["error"]["code"] in ("no_space", "max_attempts_exceeded"), job)
        check(finished_total(s, "failed") == counts["failed"] + 1 and
              finished_total(s, "succeeded") == counts["succeeded"],
              "the process counted %d failed jobs for one" % (finished_total(s, "failed") - counts["failed"]))
        disk.unfill()
        wait_listing(s, files, "the failed job")
        check_readyz(s, 200)
        check_intact(s, before)
        again = s.post("/v1/jobs", {"dataset": before["dataset"]["id"], "epochs": 1,
                                    "architecture": mlp_architecture([1, 28, 28], 10, (16,))}).json()
        check(s.wait_job(again["id"], timeout=120)["status"] == "succeeded", "a job once there is room")
        s.stop_clean()


if __name__ == "__main__":
    main(globals())
