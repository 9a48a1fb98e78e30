#!/usr/bin/python3
"""docs/openapi.yaml is the API contract:
- it passes `redocly lint` (@redocly/cli, pinned in tools/ci) with examples
  checked against their schemas;
- its (method, path) set equals the route table of server/api/routes.c, and the
  live server answers every one of them (never 404 unknown_route or 405);
- every operation documents the errors it can give (401 on /v1, 404 on
  {id} paths, 400/413/415 where a body is read, 500);
- the live server's answers to a real workload validate against the
  response schemas of the spec (python3-jsonschema, Draft 2020-12)."""
import json
import os
import re
import subprocess

import yaml

from harness import ROOT, Server, check, main

SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
REDOCLY = os.path.join(ROOT, "tools", "ci", "node_modules", ".bin", "redocly")
METHODS = ("get", "post", "put", "patch", "delete")
FAKE_IDS = {"datasets": "ds_" + "0" * 24, "models": "mdl_" + "0" * 24, "jobs": "job_" + "0" * 24,
            "webhooks": "wh_" + "0" * 24, "sweeps": "swp_" + "0" * 24}

with open(SPEC_PATH) as f:
    SPEC = yaml.safe_load(f)

CSV = "x1,x2,label\n" + "".join("%.3f,%.3f,%s\n" % (i / 40, (i * 7 % 40) / 40, "pos" if (i + i * 7 % 40) > 40 else "neg")
                                  for i in range(40))
MLP = {"input": [2], "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                {"type": "dense", "units": 2, "activation": "softmax"}]}


def spec_routes():
    return {(m.upper(), path) for path, item in SPEC["paths"].items() for m in item if m in METHODS}


def table_routes():
    with open(os.path.join(ROOT, "server", "api", "routes.c")) as f:
        text = f.read()
    table = text[text.index("ft_routes[]"):text.index("ft_nroutes")]
    return set(re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)"', table))


def concrete(path):
    """A request path for a spec path: {id} becomes a well-formed unknown id."""
    kind = path.split("/")[2] if path.startswith("/v1/") and path.count("/") >= 3 else None
    return path.replace("{id}", FAKE_IDS.get(kind, "x"))


def test_redocly_lint():
    check(os.access(REDOCLY, os.X_OK), "redocly is not installed: run 'npm ci --prefix tools/ci' "
                                       "(deploy/install-deps.sh --test does)")
    p = subprocess.run([REDOCLY, "lint", "--config", os.path.join(ROOT, "tools", "ci", "redocly.yaml"), SPEC_PATH],
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    out = p.stdout + p.stderr
    check(p.returncode == 0, "redocly lint failed:\n" + out[-4000:])
    check("valid" in out and not re.search(r"\d+ warnings?", out), "redocly lint warnings:\n" + out[-4000:])


def test_spec_routes_equal_route_table():
    spec, table = spec_routes(), table_routes()
    check(len(table) >= 20, "could not parse the route table: %r" % table)
    check(spec == table, "spec only: %r; route table only: %r" % (sorted(spec - table), sorted(table - spec)))


def test_every_operation_documents_its_errors():
    problems = []
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            name = "%s %s" % (method.upper(), path)
            codes = set(op["responses"])
            if not op.get("operationId"):
                problems.append(name + ": no operationId")
            if not any(c.startswith("2") for c in codes):
                problems.append(name + ": no 2xx response")
            if path.startswith("/v1/") and "401" not in codes:
                problems.append(name + ": no 401 (the API key)")
            if "{id}" in path and "404" not in codes:
                problems.append(name + ": no 404 for an unknown id")
            if "requestBody" in op:
                for c in ("413", "415") if path != "/v1/models/{id}/predict" else ("400", "413", "415"):
                    if c not in codes:
                        problems.append(name + ": reads a body but has no " + c)
            if any(p.get("$ref", "").endswith("/Limit") for p in op.get("parameters", [])) and "400" not in codes:
                problems.append(name + ": takes ?limit but has no 400")
            if "500" not in codes:
                problems.append(name + ": no 500")
    check(not problems, "\n".join(problems))


def test_live_server_answers_every_spec_route():
    with Server() as s:
        answers = {}
        for method, path in sorted(spec_routes()):
            body = b"{}" if method == "POST" else None
            r = s.request(method, concrete(path), body, content_type="application/json" if body else None)
            code = None
            if r.status in (404, 405):
                try:
                    code = r.json()["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = "?"
            answers[(method, path)] = (r.status, code)
        bad = {k: v for k, v in answers.items() if v[0] == 405 or v[1] == "unknown_route"}
        check(not bad, "spec routes the server does not answer: %r" % bad)
        # And the converse mechanism: a method the spec does not list is a 405.
        r = s.request("PUT", "/v1/jobs")
        check(r.status == 405 and "POST" in r.headers.get("Allow", ""), "PUT /v1/jobs: %r" % r)
        r = s.get("/v1/nope")
        check(r.status == 404 and r.json()["error"]["code"] == "unknown_route", "%r" % r)


# ---- live answers against the response schemas ----

def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def schema_for(method, path, status, ctype="application/json"):
    op = SPEC["paths"][path][method.lower()]
    check(str(status) in op["responses"], "%s %s: status %s is not documented" % (method, path, status))
    resp = resolve(op["responses"][str(status)])
    check(ctype in resp.get("content", {}), "%s %s %s: no %s content" % (method, path, status, ctype))
    return resp["content"][ctype]["schema"]


def conforms(method, path, resp):
    """Validate a live answer against the spec's schema for its status."""
    import jsonschema
    ctype = resp.headers.get("Content-Type", "").split(";")[0]
    schema = schema_for(method, path, resp.status, ctype)
    if ctype != "application/json":
        return None
    body = resp.json()
    validator_cls = jsonschema.Draft202012Validator
    resolver = jsonschema.RefResolver.from_schema(SPEC, id_of=lambda _: "")
    errors = sorted(validator_cls(schema, resolver=resolver).iter_errors(body), key=lambda e: list(e.path))
    check(not errors, "%s %s %d does not match the spec: %s\n%s" % (
        method, path, resp.status, "; ".join("%s: %s" % ("/".join(map(str, e.path)), e.message)
                                             for e in errors[:5]), json.dumps(body)[:1500]))
    return body


def test_live_answers_match_schemas():
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        raise AssertionError("python3-jsonschema is missing: run deploy/install-deps.sh --test")
    with Server() as s:
        conforms("GET", "/healthz", s.get("/healthz"))
        conforms("GET", "/readyz", s.get("/readyz"))
        conforms("GET", "/v1/version", s.get("/v1/version"))
        conforms("GET", "/metrics", s.get("/metrics"))
        ds = conforms("POST", "/v1/datasets",
                      s.upload("/v1/datasets", {"file": ("tiny.csv", CSV.encode())}, query="?name=tiny"))
        conforms("POST", "/v1/datasets", s.post("/v1/datasets?format=bogus", CSV, content_type="text/csv"))
        conforms("POST", "/v1/datasets", s.post("/v1/datasets", "a,b\n1,x\n", content_type="text/csv"))
        conforms("GET", "/v1/datasets", s.get("/v1/datasets"))
        conforms("GET", "/v1/datasets", s.get("/v1/datasets?limit=0"))
        conforms("GET", "/v1/datasets/{id}", s.get("/v1/datasets/" + ds["id"]))
        conforms("GET", "/v1/datasets/{id}", s.get("/v1/datasets/" + FAKE_IDS["datasets"]))
        scratch = conforms("POST", "/v1/jobs", s.post("/v1/jobs", {"dataset": ds["id"], "architecture": MLP,
                                                                    "epochs": 2, "validation": {"split": 0.25}}))
        conforms("POST", "/v1/jobs", s.post("/v1/jobs", {"dataset": ds["id"], "architecture": MLP, "epochs": 0}))
        conforms("POST", "/v1/jobs", s.post("/v1/jobs", "{", content_type="application/json"))
        job = s.wait_job(scratch["id"], timeout=60)
        check(job["status"] == "succeeded", "%r" % job)
        conforms("GET", "/v1/jobs/{id}", s.get("/v1/jobs/" + job["id"]))
        conforms("GET", "/v1/jobs", s.get("/v1/jobs?status=succeeded"))
        conforms("GET", "/v1/jobs", s.get("/v1/jobs?status=bogus"))
        conforms("GET", "/v1/jobs/{id}/events", s.get("/v1/jobs/%s/events" % job["id"]))
        conforms("GET", "/v1/jobs/{id}/metrics", s.get("/v1/jobs/%s/metrics" % job["id"]))
        conforms("GET", "/v1/jobs/{id}/metrics", s.get("/v1/jobs/%s/metrics?format=csv" % job["id"]))
        conforms("GET", "/v1/jobs/{id}/metrics.png", s.get("/v1/jobs/%s/metrics.png" % job["id"]))
        conforms("GET", "/v1/jobs/{id}/confusion.png", s.get("/v1/jobs/%s/confusion.png" % job["id"]))
        conforms("POST", "/v1/jobs/{id}/cancel", s.post("/v1/jobs/%s/cancel" % job["id"]))
        model = conforms("GET", "/v1/models/{id}", s.get("/v1/models/" + job["result_model"]))
        conforms("GET", "/v1/models", s.get("/v1/models"))
        conforms("GET", "/v1/models/{id}/content", s.get("/v1/models/%s/content" % model["id"]))
        conforms("POST", "/v1/models/{id}/predict",
                 s.post("/v1/models/%s/predict" % model["id"], {"inputs": [[0.1, 0.2], [0.9, 0.8]]}))
        conforms("POST", "/v1/models/{id}/predict",
                 s.post("/v1/models/%s/predict" % model["id"], {"inputs": [[0.1]]}))
        conforms("POST", "/v1/models/{id}/evaluate",
                 s.post("/v1/models/%s/evaluate" % model["id"], {"dataset": ds["id"]}))
        # A fine-tune of the trained model, with a test set: every default echoed.
        ft = conforms("POST", "/v1/jobs", s.post("/v1/jobs", {
            "dataset": ds["id"], "base_model": model["id"], "drop_layers": 1, "head": {"hidden": [4]},
            "optimizer": {"type": "adam"}, "test": ds["id"], "epochs": 2}))
        ft = s.wait_job(ft["id"], timeout=60)
        check(ft["status"] == "succeeded", "%r" % ft)
        conforms("GET", "/v1/jobs/{id}", s.get("/v1/jobs/" + ft["id"]))
        conforms("DELETE", "/v1/models/{id}", s.delete("/v1/models/" + ft["result_model"]))
        conforms("DELETE", "/v1/datasets/{id}", s.delete("/v1/datasets/" + FAKE_IDS["datasets"]))
        # Webhooks (for an event no job sends: nothing leaves the machine).
        hook = conforms("POST", "/v1/webhooks", s.post("/v1/webhooks", {"url": "https://example.com/h",
                                                                          "events": ["sweep.completed"]}))
        conforms("POST", "/v1/webhooks", s.post("/v1/webhooks", {"url": "http://169.254.169.254/"}))
        conforms("GET", "/v1/webhooks", s.get("/v1/webhooks"))
        conforms("GET", "/v1/webhooks/{id}", s.get("/v1/webhooks/" + hook["id"]))
        conforms("GET", "/v1/webhooks/{id}/deliveries", s.get("/v1/webhooks/%s/deliveries" % hook["id"]))
        conforms("DELETE", "/v1/webhooks/{id}", s.delete("/v1/webhooks/" + hook["id"]))
        conforms("GET", "/v1/webhooks/{id}", s.get("/v1/webhooks/" + hook["id"]))
    with Server("--api-key", "k") as s:
        conforms("GET", "/v1/jobs", s.get("/v1/jobs"))


if __name__ == "__main__":
    main(globals())
