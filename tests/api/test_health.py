#!/usr/bin/python3
"""/healthz and /readyz: alive is not ready. /readyz answers 503 with the
reason when free disk is below --min-free-disk, when the data dir's file
system turns read-only under the running service (a real one: an ext4 image
on a loop device, aborted with `mount -o remount,abort`, as the kernel does
on an I/O error with errors=remount-ro), and while the service shuts down
after SIGTERM; it never says ready once SIGTERM has been handled.

Needs root for mount (CI runs as root); without it the read-only test fails
with a message rather than passing silently."""
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import STORE, Server, check, main, wait_for


def test_healthz_and_readyz_when_ready():
    with Server() as s:
        r = s.get("/healthz")
        check(r.status == 200 and r.json() == {"status": "ok"}, "%r" % r)
        r = s.get("/readyz")
        check(r.status == 200, "%r" % r)
        body = r.json()
        check(body["status"] == "ready", "%r" % body)
        checks = body["checks"]
        check(checks["database_writable"] is True and checks["shutting_down"] is False, "%r" % checks)
        check(checks["disk_free_bytes"] >= checks["disk_min_free_bytes"] == 100 << 20, "%r" % checks)


def test_readyz_low_disk():
    # More free space than any disk has: the disk check must fail, alone.
    with Server("--min-free-disk", "1000000T") as s:
        r = s.get("/readyz")
        check(r.status == 503, "%r" % r)
        body = r.json()
        check(body["status"] == "unavailable" and "disk" in body["reason"], "%r" % body)
        checks = body["checks"]
        check(checks["disk_free_bytes"] < checks["disk_min_free_bytes"] and checks["database_writable"] is True
              and checks["shutting_down"] is False, "%r" % checks)
        check(s.get("/healthz").status == 200, "healthz must stay 200: the process is alive")
        check(r.headers.get("X-Request-Id"), "no X-Request-Id on /readyz")


def sh(*args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s failed (exit %d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p.stdout


def test_readyz_read_only_data_dir():
    check(os.geteuid() == 0, "this test mounts a file system and needs root (CI runs as root)")
    for tool in ("mount", "umount", "mkfs.ext4"):
        check(shutil.which(tool), "%s is missing (util-linux, e2fsprogs)" % tool)
    tmp = tempfile.mkdtemp(prefix="ft-ro-")
    image, mnt = os.path.join(tmp, "data.img"), os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    sh("mkfs.ext4", "-q", "-F", image)
    sh("mount", "-o", "loop,errors=remount-ro", image, mnt)
    server = None
    try:
        server = Server("--min-free-disk", "1M", data_dir=os.path.join(mnt, "data"))
        r = server.get("/readyz")
        check(r.status == 200, "ready before the file system fails: %r" % r)
        # What the kernel does to ext4 on an I/O error with errors=remount-ro:
        # the file system turns read-only under the open database.
        sh("mount", "-o", "remount,abort", mnt)
        # The abort reaches the open database's file descriptors within moments.
        # SQLite's database is in the data dir, PostgreSQL's is not: the
        # check that must fail is the database's or the data dir's.
        failing = "database_writable" if STORE == "sqlite" else "data_dir_writable"
        r = wait_for(lambda: (lambda x: x if x.status == 503 and x.json()["checks"][failing] is False else None)(
            server.get("/readyz")), timeout=10, what="/readyz to report the read-only file system")
        body = r.json()
        check(body["checks"]["data_dir_writable"] is False, "%r" % body)
        check(body["checks"]["database_writable"] is (STORE != "sqlite"), "%r" % body)
        check(("database" if STORE == "sqlite" else "data dir") in body["reason"], "reason %r" % body["reason"])
        check(server.get("/healthz").status == 200, "healthz must stay 200")
    finally:
        if server:
            server.close()
        subprocess.run(["umount", mnt], capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def test_readyz_while_shutting_down():
    """SIGTERM while a job is in a long training step: the service stops
    accepting and waits for the step to checkpoint. A keep-alive connection
    opened before the signal stays served meanwhile: /readyz must answer 503
    "shutting down" there (or the connection must be gone), never 200."""
    # 2048 rows through two 2048-wide layers in one batch: each step takes a
    # good fraction of a second, so the shutdown is observably in progress.
    rows = "".join("%d,%d,%s\n" % (i % 97, i % 89, "ab"[i % 2]) for i in range(2048))
    s = Server()
    try:
        r = s.post("/v1/datasets", "x,y,label\n" + rows, content_type="text/csv")
        check(r.status == 201, "%r" % r)
        arch = {"input": [2], "layers": [{"type": "dense", "units": 2048, "activation": "relu"},
                                         {"type": "dense", "units": 2048, "activation": "relu"},
                                         {"type": "dense", "units": 2, "activation": "softmax"}]}
        r = s.post("/v1/jobs", {"dataset": r.json()["id"], "architecture": arch, "batch_size": 2048,
                                "epochs": 1000})
        check(r.status == 201, "%r" % r)
        job = r.json()["id"]
        wait_for(lambda: s.get("/v1/jobs/" + job).json()["status"] == "running", timeout=30, what="the job to run")
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request("GET", "/readyz")
        first = conn.getresponse()
        first.read()
        check(first.status == 200, "ready before SIGTERM: %d" % first.status)

        s.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutting_down" in s.log_text(), timeout=10, what="the server to handle SIGTERM")
        answers = []
        deadline = time.time() + 15
        while time.time() < deadline and s.proc.poll() is None:
            try:
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                answers.append((resp.status, resp.read()))
            except (OSError, http.client.HTTPException):
                answers.append(("closed", b""))
                break
        conn.close()
        # A new connection is refused once the listener is closed.
        try:
            refused = http.client.HTTPConnection("127.0.0.1", s.port, timeout=2)
            refused.request("GET", "/readyz")
            late = refused.getresponse().status
        except (OSError, http.client.HTTPException):
            late = "refused"
        check(late in ("refused", 503), "a new connection after SIGTERM got %r" % late)
        ready = [a for a in answers if a[0] == 200]
        check(not ready, "/readyz said ready after SIGTERM: %r" % ready[:3])
        unavailable = [a for a in answers if a[0] == 503]
        check(unavailable, "no 503 while shutting down (answers: %r)" % answers[:5])
        check(b"shutting down" in unavailable[0][1], "503 without the reason: %r" % unavailable[0][1])
        check(all(a[0] in (503, "closed") for a in answers), "unexpected answers: %r" % answers[:5])
        code = s.proc.wait(timeout=30)
        check(code == 0, "exit code %r after SIGTERM" % code)
    finally:
        s.close()


if __name__ == "__main__":
    main(globals())
