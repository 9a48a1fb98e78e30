#!/usr/bin/python3
"""Packaging checks that need no container engine or cluster (the image is
built and run by tests/container/test_container.py, make container-test):
- tools/check_image_deps.sh: the Dockerfile's runtime packages provide every
  shared library of a binary built the way its build stage builds it, and
  dockerfile-utils lints the Dockerfile clean; and the check does catch a
  missing library;
- the image layout (/usr/local/bin + ../share/finetuned/migrations) starts,
  as PID 1 too, and its HEALTHCHECK command tells up from down;
- deploy/docker-compose.yml against the compose-spec schema (dclint);
- deploy/k8s/ against the Kubernetes schemas (tools/ci/validate-k8s.js);
- deploy/finetuned.service with systemd-analyze verify;
- every FINETUNED_* variable the deploy files set is a real flag.
Tools come from deploy/install-deps.sh --test (Debian packages, and the npm
packages of tools/ci): a missing tool fails its test with a message."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import yaml

from harness import BINARY, ROOT, check, main

CI = os.path.join(ROOT, "tools", "ci")
NODE_BIN = os.path.join(CI, "node_modules", ".bin")
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")


def run(args, timeout=300, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def need(path_or_name, hint):
    found = path_or_name if os.path.isabs(path_or_name) and os.access(path_or_name, os.X_OK) \
        else shutil.which(path_or_name)
    check(found, "%s is not installed: %s" % (path_or_name, hint))
    return found


def npm_tool(name):
    return need(os.path.join(NODE_BIN, name), "run 'npm ci --prefix tools/ci' (deploy/install-deps.sh --test does)")


def read(path):
    with open(path) as f:
        return f.read()


def dockerfile_instructions():
    """[(stage index, INSTRUCTION, arguments)] with continuations joined."""
    out, stage, logical = [], -1, ""
    for line in read(os.path.join(ROOT, "Dockerfile")).splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        if logical.strip():
            word, _, rest = logical.strip().partition(" ")
            if word.upper() == "FROM":
                stage += 1
            out.append((stage, word.upper(), " ".join(rest.split())))
        logical = ""
    return out


# ---- the image ----

def test_image_dependency_check():
    need("dpkg", "this check runs on Debian")
    p = run([os.path.join(ROOT, "tools", "check_image_deps.sh")], timeout=600)
    check(p.returncode == 0, "check_image_deps.sh failed (exit %d):\n%s\n%s" % (p.returncode, p.stdout[-3000:],
                                                                               p.stderr[-3000:]))
    check("OK:" in p.stdout and "libmicrohttpd.so.12 -> libmicrohttpd12" in p.stdout, p.stdout[-2000:])
    check("dockerfile-utils lint: no findings" in p.stdout, "the Dockerfile was not linted:\n" + p.stdout[-1000:])


def test_image_check_catches_missing_library():
    """Drop libmicrohttpd12 from the runtime stage and add a -dev package
    there: the check must fail and name both."""
    text = read(os.path.join(ROOT, "Dockerfile"))
    runtime_at = text.rindex("FROM debian")
    broken = text[:runtime_at] + text[runtime_at:].replace("libmicrohttpd12 \\", "libpng-dev \\")
    check(broken != text, "could not edit the runtime package list")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "Dockerfile")
        with open(path, "w") as f:
            f.write(broken)
        p = run([os.path.join(ROOT, "tools", "check_image_deps.sh"), "--binary", BINARY, path, ROOT])
    out = p.stdout + p.stderr
    check(p.returncode == 1, "exit %d, expected 1:\n%s" % (p.returncode, out[-2000:]))
    check(re.search(r"libmicrohttpd\.so\.12.*libmicrohttpd12", out), "missing library not named:\n" + out[-2000:])
    check("build package 'libpng-dev'" in out, "-dev package in the runtime stage not flagged:\n" + out[-2000:])


def test_dockerfile_runtime_stage():
    ins = dockerfile_instructions()
    froms = [(s, a) for s, i, a in ins if i == "FROM"]
    check(len(froms) == 2 and all(a.startswith("debian:bookworm-slim") for _, a in froms), "stages: %r" % froms)
    check(froms[0][1].endswith(" AS build"), "the first stage must be 'AS build': %r" % froms[0][1])
    last = froms[-1][0]
    rt = [(i, a) for s, i, a in ins if s == last]
    get = lambda name: [a for i, a in rt if i == name]
    user = get("USER")
    check(user and user[-1].split(":")[0] not in ("0", "root"), "runs as root: %r" % user)
    check(re.fullmatch(r"\d+(:\d+)?", user[-1]), "USER should be numeric (runAsNonRoot checks it): %r" % user)
    check(any("/var/lib/finetuned" in v for v in get("VOLUME")), "no VOLUME for the data dir: %r" % get("VOLUME"))
    check(get("EXPOSE") == ["8080"], "EXPOSE %r" % get("EXPOSE"))
    check(get("STOPSIGNAL") == ["SIGTERM"], "STOPSIGNAL %r" % get("STOPSIGNAL"))
    env = " ".join(get("ENV"))
    check("FINETUNED_LISTEN=0.0.0.0:8080" in env and "FINETUNED_DATA_DIR=/var/lib/finetuned" in env, env)
    hc = get("HEALTHCHECK")
    check(len(hc) == 1 and "/healthz" in hc[0] and "wget" in hc[0], "HEALTHCHECK %r" % hc)
    check(get("ENTRYPOINT") and '"serve"' in " ".join(get("CMD")), "entrypoint/cmd")
    # Exec form: the service is PID 1 and receives SIGTERM itself.
    check(get("ENTRYPOINT")[0].startswith("["), "ENTRYPOINT must be exec form: %r" % get("ENTRYPOINT"))


def healthcheck_command():
    hc = [a for _, i, a in dockerfile_instructions() if i == "HEALTHCHECK"][0]
    return hc.split(" CMD ", 1)[1]


def test_image_layout_starts_and_healthcheck_works():
    """The runtime stage's layout: the binary in <prefix>/bin finds its
    migrations in <prefix>/share/finetuned/migrations with no flag."""
    need("wget", "Debian package wget (the image's HEALTHCHECK uses it)")
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "usr", "local")
        os.makedirs(os.path.join(prefix, "bin"))
        shutil.copy2(BINARY, os.path.join(prefix, "bin", "finetuned"))
        shutil.copytree(os.path.join(ROOT, "migrations"), os.path.join(prefix, "share", "finetuned", "migrations"))
        port_file = os.path.join(tmp, "port")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINETUNED_")}
        env.update(FINETUNED_LISTEN="127.0.0.1:0", FINETUNED_DATA_DIR=os.path.join(tmp, "data"),
                   FINETUNED_PORT_FILE=port_file, FINETUNED_BLAS_THREADS="1")
        # PID 1 of its own PID namespace, as in a container: it must still
        # act on SIGTERM (the kernel drops signals PID 1 does not handle).
        unshare = need("unshare", "Debian package util-linux")
        proc = subprocess.Popen([unshare, "--pid", "--fork", "--kill-child",
                                 os.path.join(prefix, "bin", "finetuned"), "serve"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 20
            while not (os.path.exists(port_file) and read(port_file).strip()):
                if proc.poll() is not None:
                    raise AssertionError("the image layout did not start:\n" + proc.stdout.read().decode())
                check(time.time() < deadline, "no port file after 20 s")
                time.sleep(0.05)
            port = int(read(port_file))
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/version" % port, timeout=10) as r:
                check(r.status == 200, "version")
            cmd = healthcheck_command()
            up = run(["/bin/sh", "-c", cmd], env=dict(env, FINETUNED_LISTEN="127.0.0.1:%d" % port), timeout=30)
            check(up.returncode == 0, "HEALTHCHECK failed on a live server: %s%s" % (up.stdout, up.stderr))
            # The service's own process: the child of unshare.
            children = read("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).split()
            check(len(children) == 1, "expected one child of unshare: %r" % children)
            os.kill(int(children[0]), signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            check(proc.returncode == 0, "as PID 1, SIGTERM gave exit %r:\n%s" % (proc.returncode, out.decode()))
            check(b"shutting_down" in out and b"stopped" in out, "no graceful shutdown:\n" + out.decode())
            down = run(["/bin/sh", "-c", cmd], env=dict(env, FINETUNED_LISTEN="127.0.0.1:%d" % port), timeout=30)
            check(down.returncode != 0, "HEALTHCHECK passed with the service stopped")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# ---- docker compose ----

def test_compose_file_validates():
    dclint = npm_tool("dclint")
    compose = os.path.join(DEPLOY, "docker-compose.yml")
    p = run([dclint, "--max-warnings", "0", compose], cwd=DEPLOY)
    check(p.returncode == 0, "dclint (compose-spec schema + lint) failed:\n%s%s" % (p.stdout, p.stderr))
    # The schema check is real: an unknown key fails it.
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "docker-compose.yml")
        with open(bad, "w") as f:
            f.write(read(compose).replace("stop_grace_period:", "stop_grace_perod:"))
        p = run([dclint, bad], cwd=tmp)
        check(p.returncode != 0 and "invalid-schema" in p.stdout, "a typo passed dclint:\n" + p.stdout)


def test_compose_service_settings():
    """One API, N workers and PostgreSQL: the finetuned services share the
    data volume and the store, the API alone publishes a port, and both
    wait for the database to be healthy."""
    doc = yaml.safe_load(read(os.path.join(DEPLOY, "docker-compose.yml")))
    services = doc["services"]
    check(set(services) == {"api", "worker", "postgres"}, "services %r" % sorted(services))
    example = read(os.path.join(DEPLOY, "finetuned.env.example"))
    check(re.search(r"^FINETUNED_API_KEY=", example, re.M), "the env example sets no API key")
    check(re.search(r"^POSTGRES_PASSWORD=", example, re.M), "the env example sets no database password")
    for role in ("api", "worker"):
        svc = services[role]
        env = svc["environment"]
        check(env["FINETUNED_ROLE"] == role, "%s: role %r" % (role, env))
        check(re.fullmatch(r"postgresql://finetuned:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432/finetuned",
                           env["FINETUNED_STORE"]), "%s: store %r" % (role, env["FINETUNED_STORE"]))
        check(env["FINETUNED_LISTEN"] == "0.0.0.0:8080", "%s: listen %r" % (role, env))
        check("finetuned-data:/var/lib/finetuned" in svc["volumes"], "%s: volume %r" % (role, svc["volumes"]))
        test = svc["healthcheck"]["test"]  # a string is CMD-SHELL
        check("/healthz" in (test if isinstance(test, str) else " ".join(test)), "%s: healthcheck %r" % (role, test))
        files = [e["path"] if isinstance(e, dict) else e for e in svc["env_file"]]
        check(files == ["./finetuned.env"], "%s: env_file %r" % (role, files))
        check(svc["depends_on"]["postgres"]["condition"] == "service_healthy", "%s: depends_on" % role)
        grace = svc["stop_grace_period"]
        check(grace.endswith("s") and int(grace[:-1]) >= 15, "%s: stop_grace_period %r is too short" % (role, grace))
    check(services["api"]["ports"] == ["127.0.0.1:${API_PORT:-8080}:8080"], "api ports %r" % services["api"]["ports"])
    check("ports" not in services["worker"] and services["worker"]["deploy"]["replicas"] >= 2, "worker")
    pg = services["postgres"]
    check(pg["image"] == "${POSTGRES_IMAGE:-postgres:15-bookworm}" and "ports" not in pg, "postgres %r" % pg)
    check("pg_isready" in " ".join(pg["healthcheck"]["test"]), "postgres healthcheck %r" % pg["healthcheck"])
    check({"finetuned-data", "postgres-data"} <= set(doc["volumes"]), "volumes %r" % doc["volumes"])


# ---- Kubernetes ----

def k8s_docs():
    """The kustomization and its documents by (kind, name)."""
    docs = {}
    kust = yaml.safe_load(read(os.path.join(K8S, "kustomization.yaml")))
    for name in kust["resources"]:
        check(os.path.exists(os.path.join(K8S, name)), "kustomization lists a missing file %s" % name)
        for d in yaml.safe_load_all(read(os.path.join(K8S, name))):
            if d:
                docs[d["kind"], d["metadata"]["name"]] = d
    listed = set(kust["resources"])
    present = {f for f in os.listdir(K8S) if f.endswith(".yaml") and f != "kustomization.yaml"}
    check(listed == present, "kustomization resources %r != files %r" % (sorted(listed), sorted(present)))
    return kust, docs


def test_k8s_manifests_validate():
    node = need("node", "Debian package nodejs")
    npm_tool("dclint")  # proves tools/ci is installed; validate-k8s.js uses its kubernetes-models
    kust, docs = k8s_docs()
    files = [os.path.join(K8S, f) for f in kust["resources"]]
    p = run([node, os.path.join(CI, "validate-k8s.js")] + files)
    check(p.returncode == 0, "Kubernetes schema check failed:\n%s%s" % (p.stdout, p.stderr))
    check("%d document(s), 0 problem(s)" % len(docs) in p.stdout, p.stdout)
    # Strict: a misspelt field and a wrong type are both caught.
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "api-deployment.yaml")
        with open(bad, "w") as f:
            f.write(read(os.path.join(K8S, "api-deployment.yaml")).replace("path: /readyz", "pth: /readyz")
                    .replace("containerPort: 8080", "containerPort: http"))
        p = run([node, os.path.join(CI, "validate-k8s.js"), bad])
        check(p.returncode == 1 and "readinessProbe.httpGet.pth" in p.stderr and "containerPort" in p.stderr,
              "validate-k8s.js missed a typo or a type error:\n" + p.stdout + p.stderr)


def test_k8s_api_and_worker_deployments():
    """Two Deployments that scale apart (one per role) on one ReadWriteMany
    volume and an external PostgreSQL whose URI is a Secret; the Service
    reaches the API pods only."""
    _, docs = k8s_docs()
    pvc, svc = docs["PersistentVolumeClaim", "finetuned-data"], docs["Service", "finetuned"]
    check(sorted(n for k, n in docs if k == "Deployment") == ["finetuned-api", "finetuned-worker"],
          "deployments %r" % sorted(docs))
    check(pvc["spec"]["accessModes"] == ["ReadWriteMany"], "PVC access %r" % pvc["spec"]["accessModes"])
    check(not any(k == "StatefulSet" or "postgres" in n for k, n in docs), "PostgreSQL is external: %r" % sorted(docs))
    labels = {}
    for role in ("api", "worker"):
        dep = docs["Deployment", "finetuned-" + role]
        spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
        labels[role] = spec["template"]["metadata"]["labels"]
        check(labels[role].get("app.kubernetes.io/component") == role, "%s labels %r" % (role, labels[role]))
        check(spec["selector"]["matchLabels"].items() <= labels[role].items(), "%s selector" % role)
        check(pod["terminationGracePeriodSeconds"] >= 15, "%s grace %r" % (role, pod["terminationGracePeriodSeconds"]))
        check(pod["securityContext"]["runAsNonRoot"] is True, "%s runAsNonRoot" % role)
        c = pod["containers"][0]
        check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "%s liveness %r" % (role, c["livenessProbe"]))
        check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "%s readiness %r" % (role, c["readinessProbe"]))
        for kind in ("requests", "limits"):
            check({"cpu", "memory"} <= set(c["resources"][kind]), "%s resources.%s" % (role, kind))
        env = {e["name"]: e for e in c["env"]}
        check(env["FINETUNED_ROLE"]["value"] == role, "%s role %r" % (role, env.get("FINETUNED_ROLE")))
        check(env["FINETUNED_LISTEN"]["value"].startswith("0.0.0.0:"), "%s listen" % role)
        ref = env["FINETUNED_STORE"]["valueFrom"]["secretKeyRef"]
        check(ref["key"] in docs["Secret", ref["name"]]["stringData"], "%s: the store Secret lacks %r" % (role, ref))
        vols = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        check(vols[mounts["/var/lib/finetuned"]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"],
              "%s: the data dir is not the PVC" % role)
    api_pod = docs["Deployment", "finetuned-api"]["spec"]["template"]["spec"]
    api = api_pod["containers"][0]
    key_dir, key_name = os.path.split({e["name"]: e for e in api["env"]}["FINETUNED_API_KEY_FILE"]["value"])
    key_volume = {m["mountPath"]: m["name"] for m in api["volumeMounts"]}[key_dir]
    key_secret = {v["name"]: v for v in api_pod["volumes"]}[key_volume]["secret"]["secretName"]
    check(key_name in docs["Secret", key_secret]["stringData"], "the API key Secret has no %s" % key_name)
    selector = svc["spec"]["selector"].items()
    check(selector <= labels["api"].items() and not selector <= labels["worker"].items(),
          "the Service must select the API pods only: %r" % svc["spec"]["selector"])
    ports = {p["name"] for p in api["ports"]}
    check(all(p["targetPort"] in ports for p in svc["spec"]["ports"]), "Service targetPort")


# ---- systemd ----

def test_systemd_unit_verifies():
    analyze = need("systemd-analyze", "Debian package systemd")
    unit = read(os.path.join(DEPLOY, "finetuned.service"))
    directives = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    check(directives.get("DynamicUser") == "yes" or directives.get("User"), "no DynamicUser/User")
    for key, want in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                      ("Restart", "on-failure"), ("StateDirectory", "finetuned"), ("KillSignal", "SIGTERM")):
        check(directives.get(key) == want, "%s=%r, want %s" % (key, directives.get(key), want))
    check("/var/lib/finetuned" in directives.get("ReadWritePaths", ""), "ReadWritePaths")
    check(int(directives["TimeoutStopSec"]) >= 15, "TimeoutStopSec %r" % directives["TimeoutStopSec"])
    with tempfile.TemporaryDirectory() as tmp:
        # verify wants ExecStart's binary to exist: point it at the build.
        path = os.path.join(tmp, "finetuned.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/local/bin/finetuned", BINARY))
        p = run([analyze, "verify", path], env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
        out = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not out, "systemd-analyze verify (exit %d):\n%s" % (p.returncode, out))


# ---- configuration names ----

def test_deploy_files_use_real_flags():
    p = run([BINARY, "serve", "--help"])
    known = set(re.findall(r"FINETUNED_[A-Z_]+", p.stdout))
    check(len(known) > 10, "could not read the flags from serve --help")
    used = {}
    for path in [os.path.join(ROOT, "Dockerfile"), os.path.join(DEPLOY, "docker-compose.yml"),
                 os.path.join(DEPLOY, "finetuned.env.example"), os.path.join(DEPLOY, "finetuned.service"),
                 os.path.join(DEPLOY, "README.md")] + \
            [os.path.join(K8S, f) for f in os.listdir(K8S)]:
        if os.path.exists(path):
            for name in re.findall(r"FINETUNED_[A-Z_]*[A-Z]", read(path)):
                used.setdefault(name, path)
    unknown = {n: os.path.relpath(p, ROOT) for n, p in used.items() if n not in known}
    check(not unknown, "variables that are no flag of finetuned serve: %r" % unknown)


def test_shell_scripts_lint():
    shellcheck = need("shellcheck", "Debian package shellcheck")
    scripts = [os.path.join(ROOT, "tools", "check_image_deps.sh"), os.path.join(DEPLOY, "install-deps.sh")]
    p = run([shellcheck] + scripts)
    check(p.returncode == 0, "shellcheck:\n" + p.stdout + p.stderr)


if __name__ == "__main__":
    main(globals())
