"""deploy/docker-compose.yml brought up for real with podman-compose (issue 15).

Runs the compose file as it is (a byte copy, beside a finetuned.env made
here) with Debian 12's podman-compose 1.0.3 and checks it end to end:
PostgreSQL becomes healthy; one API and two workers start in their roles
with the file's hardening; through the API's published port an upload and
a short job work, a worker (never the API) ran the job, and its model
downloads; `stop` ends every service with status 0; `down` removes every
container and keeps the volumes, `down -v` removes them. The teardown removes whatever is left (also the
network, which podman-compose 1.0.3 never removes) and fails loudly if
anything of the project survives it.

No image is pulled: the finetuned image is test_container.py's build
(`make container-test` runs that module first, so here podman's layer cache
has every step), and PostgreSQL is a stand-in built from Debian's
postgresql-15 on the same cached base (tests/container/postgres/), given to
the file through POSTGRES_IMAGE. podman runs with
tests/container/compose-containers.conf (CONTAINERS_CONF): runc, cgroupfs,
ulimits and netavark, whose DNS resolves the service names.

Without systemd podman never runs a healthcheck on its interval (it says
"unable to get systemd connection to add healthchecks"), so the test runs
the file's checks itself with `podman healthcheck run`.

If podman-compose cannot run here the module prints one loud FAIL line and
exits non-zero: it is never a silent skip.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import test_container as tc
from harness import ROOT, Server, check, main, wait_for

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compose-containers.conf")
os.environ["CONTAINERS_CONF"] = CONF  # every podman here and under podman-compose
PG_CONTEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "postgres")
PG_IMAGE = "localhost/finetuned-test-postgres:15"  # never docker.io/library/postgres: it would shadow the real one
PROJECT = "ftcompose%d" % os.getpid()
LABEL = "label=io.podman.compose.project=" + PROJECT
KEY = "compose-test-key"
ROLES = {"api_1": "api", "worker_1": "worker", "worker_2": "worker"}
# What the file sets per service: memory bytes, CPUs (in 1e-9 CPUs).
LIMITS = {"api": (1 << 30, 10 ** 9), "worker": (4 << 30, 2 * 10 ** 9)}
work = tempfile.mkdtemp(prefix="ft-compose-")
port = tc.free_port()


def compose(*args, timeout=300, check_rc=True):
    """podman-compose on the copy of the file, with the variables it
    interpolates (what `--env-file`, which 1.0.3 lacks, would give)."""
    env = dict(os.environ, POSTGRES_PASSWORD="compose-test-pw", APP_IMAGE=tc.IMAGE, POSTGRES_IMAGE=PG_IMAGE,
               API_PORT=str(port))
    p = subprocess.run(["podman-compose", "-p", PROJECT, "-f", os.path.join(work, "docker-compose.yml")] + list(args),
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    if check_rc:
        check(p.returncode == 0, "podman-compose %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                                      p.stdout[-3000:], p.stderr[-3000:]))
    return p


def names(kind):
    """The project's containers, volumes or networks (by the label
    podman-compose puts on each)."""
    cmd = {"container": ["ps", "-a"], "volume": ["volume", "ls"], "network": ["network", "ls"]}[kind]
    return sorted(tc.podman(*cmd, "--filter", LABEL, "--format", "{{.Name}}" if kind == "volume" else
                            "{{.Names}}" if kind == "container" else "{{.Name}}").stdout.split())


def inspect(container, fmt):
    return tc.podman("inspect", "--format", fmt, "%s_%s" % (PROJECT, container)).stdout.strip()


def healthy(container):
    """Run the container's healthcheck (the file's test) once; whether
    podman now calls it healthy."""
    tc.podman("healthcheck", "run", "%s_%s" % (PROJECT, container), check_rc=False)
    return inspect(container, "{{.State.Health.Status}}") == "healthy"


def log_events(container):
    """The JSON log lines of a finetuned container."""
    p = tc.podman("logs", "%s_%s" % (PROJECT, container))
    return [json.loads(line) for line in (p.stdout + p.stderr).splitlines() if line.startswith("{")]


class Stack(Server):
    """The API's published port, driven through the harness's HTTP helpers
    with the key the env file sets."""

    def __init__(self):
        self.url = "http://127.0.0.1:%d" % port

    def request(self, method, path, body=None, headers=None, **kw):
        return super().request(method, path, body, headers=dict(headers or {}, Authorization="Bearer " + KEY), **kw)

    def healthz(self):
        try:
            return self.get("/healthz", timeout=2).status == 200
        except OSError:
            return False


stack = Stack()


def setup():
    for tool in ("podman", "podman-compose", "runc", "mmdebstrap"):
        if not shutil.which(tool):
            tc.cannot_run("%s is missing (deploy/install-deps.sh --test installs it)" % tool, "compose_tests",
                          "podman-compose")
    info = tc.podman("info", "--format", "{{.Host.NetworkBackend}}", check_rc=False)
    if info.returncode != 0 or info.stdout.strip() != "netavark" or not os.path.exists("/usr/lib/podman/aardvark-dns"):
        tc.cannot_run("podman with %s needs netavark and aardvark-dns (deploy/install-deps.sh --test): %s%s"
                      % (CONF, info.stdout, info.stderr[-2000:]), "compose_tests", "podman-compose")
    shutil.copy(os.path.join(ROOT, "deploy", "docker-compose.yml"), work)
    with open(os.path.join(work, "finetuned.env"), "w") as f:
        f.write("FINETUNED_API_KEY=%s\nPOSTGRES_PASSWORD=compose-test-pw\n" % KEY)


def teardown():
    """Remove all of the project, even after a failed check, and fail
    loudly if any of it survives."""
    if shutil.which("podman-compose") and os.path.exists(os.path.join(work, "docker-compose.yml")):
        compose("down", "-v", "-t", "0", check_rc=False)
    for kind in ("container", "volume", "network"):
        for name in names(kind):
            tc.podman(*(["rm", "-f", "-t", "0"] if kind == "container" else [kind, "rm", "-f"]), name, check_rc=False)
    shutil.rmtree(work, ignore_errors=True)
    left = {kind: names(kind) for kind in ("container", "volume", "network")}
    if any(left.values()):
        print("FAIL compose_teardown: left behind %r" % left, flush=True)
        sys.exit(1)


def test_images_are_the_container_tests_build_and_a_postgres_stand_in():
    took = tc.build_image()
    pg_took = tc.build_image(PG_CONTEXT, PG_IMAGE)
    print("finetuned image %.0f s (cached after test_container.py), PostgreSQL stand-in %.0f s"
          % (took, pg_took), flush=True)


def test_up_starts_postgres_healthy_one_api_and_two_workers():
    compose("up", "-d", "--no-build")
    want = ["%s_%s" % (PROJECT, c) for c in ("api_1", "postgres_1", "worker_1", "worker_2")]
    check(names("container") == want, "containers %r, expected %r" % (names("container"), want))
    # podman-compose 1.0.3 does not wait for depends_on's service_healthy:
    # the services start at once and finetuned retries its connection.
    # A finetuned that finds no database yet exits, and its restart
    # policy starts it again.
    wait_for(lambda: healthy("postgres_1"), timeout=60, interval=0.5, what="PostgreSQL to be healthy")
    for container, role in ROLES.items():
        listening = wait_for(lambda: [e for e in log_events(container) if e.get("event") == "listening"],
                             timeout=60, interval=0.5, what="%s to listen" % container)[0]
        check(listening["role"] == role and listening["store"] == "postgres" and listening["auth"] == "on",
              "%s started as %r" % (container, listening))
        check(healthy(container), "%s: the healthcheck fails" % container)
        # The file's hardening, as podman applied it.
        hc = json.loads(inspect(container, "{{json .HostConfig}}"))
        check(hc["ReadonlyRootfs"] and (hc["Memory"], hc["NanoCpus"]) == LIMITS[role]
              and hc["RestartPolicy"]["Name"] == "unless-stopped", "%s: host config %r" % (container, hc))
        mounts = inspect(container, "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}").split()
        check(mounts == ["%s_finetuned-data:/var/lib/finetuned" % PROJECT], "%s: mounts %r" % (container, mounts))
    wait_for(stack.healthz, timeout=30, interval=0.5, what="/healthz on the published port")
    print("restarts before the database was up: %s"
          % ", ".join("%s %s" % (c, inspect(c, "{{.RestartCount}}")) for c in ROLES), flush=True)
    check(stack.get("/readyz").json()["status"] == "ready", "the API is not ready")


def test_a_worker_runs_the_job_and_its_model_downloads():
    check(Server.request(stack, "GET", "/v1/datasets").status == 401, "the API key from finetuned.env is not set")
    job = tc.train_and_download(stack)[1]

    # Who ran it: the store's claim and the one log that says job_started.
    worker = tc.podman("exec", PROJECT + "_postgres_1", "psql", "-U", "finetuned", "-d", "finetuned", "-tAc",
                       "SELECT worker FROM jobs WHERE id = '%s'" % job["id"]).stdout.strip()
    check(re.fullmatch(r"worker-\d+-\d+", worker), "the job's worker in the store: %r" % worker)
    started = {c: [e for e in log_events(c) if e.get("event") == "job_started" and e.get("job") == job["id"]]
               for c in ROLES}
    ran = [c for c, events in started.items() if events]
    check(len(ran) == 1 and ran[0].startswith("worker_") and started[ran[0]][0]["worker"] == worker,
          "job_started logged by %r (the store says %r)" % (started, worker))
    events = [e["message"] for e in stack.get("/v1/jobs/%s/events?limit=100" % job["id"]).json()["data"]]
    check(any("attempt 1 started" in m for m in events), "events %r" % events)
    print("the job ran on %s (%s)" % (ran[0], worker), flush=True)


def test_stop_ends_every_service_cleanly_and_down_removes_them():
    # podman-compose ignores stop_grace_period (it stops with -t 10), and
    # a bare `stop` goes by the file's order reversed, not by depends_on:
    # the database would stop before the API. `down` has the right order.
    compose("stop", "-t", "30", "api", "worker")
    compose("stop", "-t", "30", "postgres")
    for container in ("postgres_1",) + tuple(ROLES):
        state = inspect(container, "{{.State.Status}} {{.State.ExitCode}}")
        check(state == "exited 0", "%s after stop: %s" % (container, state))
    compose("down", "-t", "30")
    check(names("container") == [], "containers after down: %r" % names("container"))
    volumes = ["%s_%s" % (PROJECT, v) for v in ("finetuned-data", "postgres-data")]
    check(names("volume") == volumes, "volumes after down: %r, expected %r" % (names("volume"), volumes))
    compose("down", "-v")
    check(names("volume") == [], "volumes after down -v: %r" % names("volume"))


if __name__ == "__main__":
    main(globals())
