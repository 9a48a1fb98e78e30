"""The bad-request corpus as data (used by tests/api/test_bad_requests.py and
test_security.py): one function per group, each returning a list of Case
for a stored dataset `ds` and a model `mdl`, and make_model() to store both.

Not a test file (tests/run.sh runs only test_*.py)."""
import json
import re

from harness import check, csv_text, mlp_architecture
from bad_requests_http import Case, build, enc

FAKE = {"ds": "ds_" + "0" * 24, "mdl": "mdl_" + "0" * 24, "job": "job_" + "0" * 24}


def top(key):
    """param check: the field path starts with this top-level key."""
    return lambda p: re.split(r"[.\[]", p)[0] == key


def with_path(base, path, value):
    """A deep copy of base with the dotted path set to value."""
    spec = json.loads(json.dumps(base))
    keys = path.split(".")
    node = spec
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value
    return spec


# ---- the corpus (also used by test_security.py) ----

def json_cases(ds, mdl):
    """Malformed and truncated JSON on every JSON-reading route."""
    routes = [("/v1/jobs", "invalid_json"), ("/v1/models/%s/evaluate" % mdl, "invalid_json"),
              ("/v1/models/%s/predict" % mdl, "invalid_json")]
    bad = ['{', '{"dataset"', '{"dataset": "ds_', '{"dataset": }', '[1, 2', '{"a": 1,}', '{,}', 'tru', 'nul',
           '{"a" 1}', "{'a': 1}", '\ufeff{}', '{"a": 1}{"b": 2}', '/* c */ {}', '{"a": 01}', '{"a": .5}',
           '{"a": 1.}', '{"a": +1}', '{"a": "\t"}', '{"a": "\\u12"}', '{"a": "\\ud800"}', '{"a": "\\x41"}',
           '\x00', '{"a": 1}\x00', '{"a": "b\x00"}', '{"a": [1, 2,]}', '{"a": undefined}', '{"a": 0x10}',
           '{"a": 1e}', '{"a": --1}', '"unterminated', '{"a": "\\"}', ']', '}', ':', '{"a": {"b": [}]}']
    cases = []
    for path, code in routes:
        for i, body in enumerate(bad):
            cases.append(Case("malformed %d" % i, "POST", path, body, code=code))
        spec = json.dumps({"dataset": ds, "base_model": mdl, "head": {"hidden": [8]},
                           "optimizer": {"type": "sgd", "lr": 0.01}, "epochs": 1}) if "jobs" in path else \
            json.dumps({"dataset": {"id": ds, "classes": [0, 1]}, "loss": "cross_entropy"}) if "evaluate" in path \
            else json.dumps({"inputs": [[0.1, 0.2], [0.3, 0.4]]})
        for cut in range(1, len(spec), 5):
            cases.append(Case("truncated at %d" % cut, "POST", path, spec[:cut], code=code))
    cases.append(Case("empty body", "POST", "/v1/jobs", "", code="missing_body"))
    cases.append(Case("empty body", "POST", "/v1/models/%s/evaluate" % mdl, "", code="missing_body"))
    cases.append(Case("empty body", "POST", "/v1/models/%s/predict" % mdl, "", code="invalid_json"))
    cases.append(Case("no body", "POST", "/v1/jobs", None, ctype="application/json", code="missing_body"))
    return cases


def spec_type_cases(ds, mdl):
    """A wrong type or value for each field of the job spec: 422 naming the field."""
    fine_tune = {"dataset": ds, "base_model": mdl, "epochs": 1}
    scratch = {"dataset": ds, "architecture": mlp_architecture([2], 2, (4,)), "epochs": 1}
    table = {
        "dataset": [5, True, [], "", None, {}, {"id": 5}, {"id": ds, "extra": 1}, {"id": "x"}, "not-an-id",
                    {"id": ds, "classes": "01"}, {"id": ds, "classes": []}, {"id": ds, "classes": [0, "a"]},
                    {"id": ds, "classes": [-1]}, {"id": ds, "classes": [1.5]}, {"id": ds, "per_class": "5"},
                    {"id": ds, "per_class": 0}, {"id": ds, "seed": -1}, {"id": ds, "seed": "1"},
                    {"id": ds, "path": "/etc/passwd"}, {"images": "/etc/passwd"}, FAKE["ds"]],
        "validation": [5, "", True, [], {"split": "0.1"}, {"split": 2}, {"split": 0}, {"split": 0.1, "x": 1},
                       {"split": None}, "/etc/passwd", FAKE["ds"]],
        "test": [5, "", True, [], {}, "relative/path", FAKE["ds"]],
        "base_model": [5, "", True, [], {}, FAKE["mdl"], "../../etc/passwd", "mdl_x"],
        "drop_layers": ["1", 1.5, True, None, [], {}, -1, 5000],
        "cut_after": [5, None, [], {}, True, "no_such_layer"],
        "freeze": [5, "all", True, None, [], {}, {"trainable_last": "1"}, {"trainable_last": -1}, {"x": 1},
                   {"trainable_last": 1, "x": 1}],
        "head": [5, "x", [], True, None, {"hidden": 5}, {"hidden": ["8"]}, {"hidden": [0]}, {"hidden": [1.5]},
                 {"hidden": [8] * 100}, {"activation": 5}, {"activation": "softmax"}, {"activation": "nope"},
                 {"output": 5}, {"output": "relu"}, {"dropout": "0.5"}, {"dropout": 1}, {"dropout": -0.1},
                 {"units": "2"}, {"units": 0}, {"x": 1}],
        "loss": [5, None, [], {}, "nope", ""],
        "huber_delta": ["1", None, [], 0, -1],
        "init": [5, None, [], "nope", {"type": 5}, {"type": "normal", "std": "1"}, {"type": "he_normal", "std": 1},
                 {"type": "normal", "x": 1}, {"type": "normal", "std": -1}, {}],
        "optimizer": [5, "sgd", [], None, {"type": 5}, {"type": "rmsprop"}, {"lr": "0.1"}, {"lr": 0}, {"lr": -1},
                      {"momentum": 1}, {"momentum": "0.9"}, {"nesterov": "yes"}, {"nesterov": True, "momentum": 0},
                      {"type": "adam", "momentum": 0.9}, {"type": "sgd", "beta1": 0.9}, {"weight_decay": -1},
                      {"x": 1}, {"type": "adam", "eps": 0}, {"type": "adam", "beta1": 1}],
        "batch_size": ["64", 64.5, True, None, [], 0, -1, 65537],
        "epochs": ["1", 1.5, True, None, [], {}, 0, -1],
        "early_stopping": [5, "x", [], True, {"metric": 5}, {"metric": "nope"}, {"patience": 0},
                           {"patience": "5"}, {"min_delta": -1}, {"restore_best": "yes"}, {"x": 1}],
        "lr_schedule": [5, "x", None, [], True, {}, {"type": 5}, {"type": "nope"}, "step", {"type": "step"},
                        {"type": "step", "step_size": 0}, {"type": "step", "step_size": 2, "gamma": 0},
                        {"type": "step", "step_size": 2, "gamma": 1.5}, {"type": "cosine", "warmup_epochs": 1},
                        {"type": "cosine", "min_lr": 1}, {"type": "cosine", "x": 1},
                        {"type": "reduce_on_plateau"}, {"type": "reduce_on_plateau", "metric": "nope"},
                        {"type": "reduce_on_plateau", "metric": "train_loss", "factor": 1},
                        {"type": "reduce_on_plateau", "metric": "train_mae"}],
        "class_weight": [5, "x", "Balanced", [], True, {"0": -1}, {"0": 0}, {"0": "1"}, {"0": None},
                         {"no_such_class": 1}, {"99": 1}],
        "label_smoothing": ["0.1", None, True, [], {}, -0.1, 1, 2],
        "grad_clip_norm": ["1", True, [], {}, 0, -1, 1e10],
        "seed": ["1", 1.5, -1, True, None, [], {}],
        "metadata": [5, "x", [], True, None],
        "strict": ["true", 1, None, [], {}],
        "preprocessing": [5, "x", None, [], {"standardize": "yes"}, {"x": 1}],
        "name": [5, True, [], {}],
        "architecture": [5, {}],
        "no_such_field": [1, None],
    }
    cases = []
    for key, values in table.items():
        for v in values:
            spec = with_path(fine_tune, key, v)
            cases.append(Case("spec %s=%s" % (key, json.dumps(v)[:40]), "POST", "/v1/jobs", spec, expect=422,
                              param=top(key)))
    arch = [5, "mlp", [], None, {}, {"input": "x", "layers": []}, {"input": [2], "layers": 5},
            {"input": [2], "layers": []}, {"input": [2], "layers": [5]}, {"input": [2], "layers": [{"type": 5}]},
            {"input": [2], "layers": [{"type": "nope"}]},
            {"input": [2], "layers": [{"type": "dense", "units": "8"}]},
            {"input": [2], "layers": [{"type": "dense", "units": -1}]},
            {"input": [2], "layers": [{"type": "dense", "units": 1e12}]},
            {"input": [2], "layers": [{"type": "dense", "units": 2 ** 40}]},
            {"input": [2], "layers": [{"type": "dense", "units": 2, "activation": "nope"}]},
            {"input": [-1], "layers": [{"type": "dense", "units": 2}]},
            {"input": [2 ** 40], "layers": [{"type": "dense", "units": 2}]},
            {"input": [], "layers": [{"type": "dense", "units": 2}]},
            {"input": [2], "layers": [{"type": "conv2d", "filters": 2, "kernel": 3}]},
            {"input": [1, 4, 4], "layers": [{"type": "conv2d", "filters": "2", "kernel": 3}]},
            {"input": [1, 4, 4], "layers": [{"type": "maxpool2d", "size": 0}]},
            {"input": [2], "layers": [{"type": "dense", "units": 2}], "x": 1}]
    for v in arch:
        cases.append(Case("architecture %s" % json.dumps(v)[:50], "POST", "/v1/jobs", with_path(scratch, "architecture", v),
                          expect=422, param=lambda p: top("architecture")(p) or top("base_model")(p)))
    for key, v in (("drop_layers", 1), ("freeze", "base"), ("head", {}), ("cut_after", "x")):
        cases.append(Case("scratch with %s" % key, "POST", "/v1/jobs", with_path(scratch, key, v), expect=422,
                          param=key))
    for body in (None, 5, "x", [], [scratch], {}):
        cases.append(Case("spec is %s" % json.dumps(body), "POST", "/v1/jobs", json.dumps(body), expect=422))
    return cases


def predict_evaluate_cases(ds, mdl):
    predict, evaluate = "/v1/models/%s/predict" % mdl, "/v1/models/%s/evaluate" % mdl
    cases = []
    for body in ({"inputs": 5}, {"inputs": "x"}, {"inputs": []}, {"inputs": [[]]}, {"inputs": [["1", "2"]]},
                 {"inputs": [[1]]}, {"inputs": [[1, 2, 3]]}, {"inputs": [[None, 1]]}, {"inputs": [[True, 1]]},
                 {"inputs": [[1, 2], [1]]}, {"inputs": [{"a": 1, "b": 2}]}, {"inputs": {"0": [1, 2]}},
                 {"input": 5}, {"input": "x"}, {"input": []}, {"input": [1, 2, 3]}, {"input": None},
                 {"inputs": [[1, 2]] * 10001}, {}, [], {"other": [[1, 2]]}, {"inputs": [[[1], [2], [3]]]}):
        cases.append(Case("predict %s" % json.dumps(body)[:40], "POST", predict, json.dumps(body), expect=422,
                          code="invalid_value"))
    for body in ("x", 5, None, True):  # predict takes an object or an array, nothing else parses
        cases.append(Case("predict %s" % json.dumps(body), "POST", predict, json.dumps(body), expect=400,
                          code="invalid_json"))
    for ct in ("text/plain", "text/csv", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/octet-stream"):
        cases.append(Case("predict as %s" % ct, "POST", predict, '{"inputs": [[1, 2]]}', ctype=ct, expect=415,
                          code="unsupported_media_type"))
    # A PNG for a model that takes rows of numbers: 415 before the image is even decoded.
    cases.append(Case("predict png", "POST", predict, b"\x89PNG\r\n\x1a\nnot really", ctype="image/png",
                      expect=415, code="unsupported_media_type"))
    for body, code, param in (({}, "invalid_value", "dataset"), ({"dataset": 5}, "invalid_value", "dataset"),
                              ({"dataset": None}, "invalid_value", "dataset"),
                              ({"dataset": ""}, "invalid_value", "dataset"),
                              ({"dataset": []}, "invalid_value", "dataset"),
                              ({"dataset": ds, "loss": 5}, "invalid_value", "loss"),
                              ({"dataset": ds, "loss": "nope"}, "invalid_value", "loss"),
                              ({"dataset": ds, "extra": 1}, "unknown_field", "extra"),
                              ({"dataset": "../../etc/passwd"}, "invalid_value", "dataset"),
                              ({"dataset": {"path": "/etc/passwd"}}, "invalid_value", "dataset"),
                              ({"dataset": {"id": ds, "classes": [99]}}, None, top("dataset")),
                              ({"dataset": {"id": ds, "classes": "x"}}, "invalid_value", top("dataset")),
                              ({"dataset": {"id": ds, "per_class": -1}}, "invalid_value", top("dataset")),
                              ({"dataset": FAKE["ds"]}, "unknown_dataset", "dataset"),
                              ({"dataset": "ds_nothex"}, "unknown_dataset", "dataset"),
                              ([], "invalid_value", "dataset"), ("x", "invalid_value", "dataset"),
                              (None, "invalid_value", "dataset"), (5, "invalid_value", "dataset")):
        cases.append(Case("evaluate %s" % json.dumps(body)[:40], "POST", evaluate, json.dumps(body), expect=422,
                          code=code, param=param))
    for ct in ("text/plain", "image/png", "application/xml"):
        cases.append(Case("evaluate as %s" % ct, "POST", evaluate, json.dumps({"dataset": ds}), ctype=ct,
                          expect=415, code="unsupported_media_type"))
    # The model id in the path is checked: an unknown one is a 404 whatever the body.
    for path in ("/v1/models/%s/predict" % FAKE["mdl"], "/v1/models/%s/evaluate" % FAKE["mdl"]):
        body = {"dataset": ds} if path.endswith("evaluate") else {"inputs": [[1, 2]]}
        cases.append(Case("unknown model", "POST", path, json.dumps(body), expect=404, code="not_found"))
    return cases


def number_cases(ds, mdl):
    """Huge, negative, out-of-range and non-finite numbers."""
    base = {"dataset": ds, "base_model": mdl, "epochs": 1}
    raw_spec = '{"dataset": "%s", "base_model": "%s", %%s}' % (ds, mdl)
    cases = []
    for text, expect in (('"epochs": 1e12', 422), ('"epochs": 1000000000000', 422), ('"epochs": -1', 422),
                         ('"epochs": 0', 422), ('"epochs": 9223372036854775808', 400),
                         ('"epochs": -9223372036854775809', 400), ('"epochs": 9223372036854775807', 422),
                         ('"epochs": -9223372036854775808', 422), ('"epochs": 1e400', 400),
                         ('"epochs": -1e400', 400), ('"epochs": 1e-400', {400, 422}), ('"epochs": 1E+2', 422),
                         ('"epochs": NaN', 400), ('"epochs": Infinity', 400), ('"epochs": -Infinity', 400),
                         ('"epochs": nan', 400), ('"epochs": inf', 400), ('"epochs": 1' + '0' * 400, 400),
                         ('"batch_size": 2147483648', 422), ('"batch_size": 4294967360', 422),
                         ('"seed": 18446744073709551616', 400), ('"seed": -1', 422),
                         ('"drop_layers": 4294967297', 422), ('"drop_layers": -2147483649', 422),
                         ('"optimizer": {"lr": 1e400}', 400), ('"optimizer": {"lr": 1e308}', 422),
                         ('"optimizer": {"lr": 1e-13}', 422), ('"optimizer": {"lr": -0.0}', 422),
                         ('"optimizer": {"momentum": NaN}', 400), ('"head": {"hidden": [2147483648]}', 422),
                         ('"head": {"hidden": [4611686018427387904]}', 422), ('"head": {"units": -1}', 422),
                         ('"head": {"dropout": 1e308}', 422), ('"huber_delta": 1e308', 422),
                         ('"early_stopping": {"patience": 2147483648}', 422),
                         ('"early_stopping": {"min_delta": 1e300}', 422),
                         ('"lr_schedule": {"type": "step", "step_size": 4294967297}', 422),
                         ('"class_weight": {"0": 1e308}', 422), ('"grad_clip_norm": 1e308', 422),
                         ('"freeze": {"trainable_last": 9223372036854775807}', 422),
                         ('"validation": {"split": 1e-300}', 422), ('"validation": {"split": -0.5}', 422)):
        cases.append(Case("number %s" % text, "POST", "/v1/jobs", raw_spec % text, expect=expect,
                          code="invalid_json" if expect == 400 else None))
    for field, v in (("dataset", {"id": ds, "per_class": 2 ** 40}), ("dataset", {"id": ds, "classes": [2 ** 40]}),
                     ("dataset", {"id": ds, "classes": [2 ** 62, 0]}), ("dataset", {"id": ds, "seed": -2 ** 63})):
        cases.append(Case("number %s" % json.dumps(v), "POST", "/v1/jobs", with_path(base, field, v), expect=422))
    predict = "/v1/models/%s/predict" % mdl
    for text, expect in (('[[1e400, 1]]', 400), ('[[NaN, 1]]', 400), ('[[Infinity, 1]]', 400),
                         ('[[1e308, -1e308]]', 422), ('[[1e39, 0]]', 422), ('[[-3.5e38, 0]]', 422),
                         ('[[1e38, 3e38]]', {200, 422}), ('[[9223372036854775808, 1]]', 400)):
        cases.append(Case("predict %s" % text, "POST", predict, '{"inputs": %s}' % text, expect=expect,
                          code="invalid_json" if expect == 400 else None if expect != 422 else "invalid_value"))
    evaluate = "/v1/models/%s/evaluate" % mdl
    for text, expect in (('{"id": "%s", "seed": 18446744073709551616}' % ds, 400),
                         ('{"id": "%s", "per_class": 1e400}' % ds, 400),
                         ('{"id": "%s", "per_class": -9223372036854775808}' % ds, 422),
                         ('{"id": "%s", "classes": [1e10]}' % ds, 422)):
        cases.append(Case("evaluate %s" % text, "POST", evaluate, '{"dataset": %s}' % text, expect=expect))
    for path in ("/v1/jobs?limit=1e400", "/v1/jobs?limit=99999999999999999999", "/v1/jobs?limit=-1",
                 "/v1/jobs?limit=-9223372036854775809", "/v1/datasets?limit=0x10", "/v1/models?limit=NaN",
                 "/v1/models?limit=%2B5%20"):
        cases.append(Case("query %s" % path, "GET", path, expect=400, code="invalid_limit", param="limit"))
    for q in ("image_size=99999999999x99999999999", "image_size=-1", "image_size=0x0", "image_size=1e400",
              "image_size=28x", "delimiter=ab", "header=2", "format=../../x", "color=x", "task=x"):
        cases.append(Case("upload ?%s" % q, "POST", "/v1/datasets?" + q, "a,b\n1,2\n", ctype="text/csv",
                          expect=400, code="invalid_option"))
    return cases


def nesting_cases(ds, mdl):
    """10k-deep nesting (over the parser's depth limit: 400) and 2000-deep
    (under it: parsed, then refused as a spec; no recursion blows the stack)."""
    cases = []
    deep_arr = "[" * 10000 + "]" * 10000
    deep_obj = '{"a":' * 10000 + "1" + "}" * 10000
    for path in ("/v1/jobs", "/v1/models/%s/evaluate" % mdl, "/v1/models/%s/predict" % mdl):
        for name, body in (("arrays", deep_arr), ("objects", deep_obj), ("unclosed", "[" * 10000),
                           ("in a field", '{"dataset": %s}' % deep_arr), ("mixed", '[{"a":' * 5000 + "1" + "}]" * 5000)):
            cases.append(Case("10k-deep %s" % name, "POST", path, body, code="invalid_json"))
    d = 2000
    meta = '{"a":' * d + "1" + "}" * d
    cases.append(Case("2000-deep metadata", "POST", "/v1/jobs",
                      '{"dataset": "%s", "base_model": "%s", "metadata": %s}' % (FAKE["ds"], mdl, meta),
                      expect=422, code="unknown_dataset"))
    cases.append(Case("2000-deep name", "POST", "/v1/jobs",
                      '{"dataset": "%s", "base_model": "%s", "name": %s}' % (ds, mdl, "[" * d + "]" * d),
                      expect=422, param="name"))
    cases.append(Case("2000-deep row", "POST", "/v1/models/%s/predict" % mdl,
                      '{"inputs": [%s]}' % ("[" * d + "1, 2, 3" + "]" * d), expect=422, code="invalid_value"))
    cases.append(Case("2000-deep evaluate", "POST", "/v1/models/%s/evaluate" % mdl,
                      '{"dataset": %s}' % ("[" * d + "]" * d), expect=422))
    return cases


def duplicate_key_cases(ds, mdl):
    cases = []
    for path, body in (("/v1/jobs", '{"dataset": "%s", "dataset": "%s"}' % (ds, ds)),
                       ("/v1/jobs", '{"dataset": "%s", "base_model": "%s", "head": {"units": 2, "units": 2}}'
                        % (ds, mdl)),
                       ("/v1/jobs", '{"dataset": "%s", "metadata": {"a": {"b": 1, "b": 2}}}' % ds),
                       ("/v1/jobs", '{"epochs": 1, "dataset": "%s", "epochs": 2}' % ds),
                       ("/v1/models/%s/evaluate" % mdl, '{"dataset": "%s", "dataset": "%s"}' % (ds, ds)),
                       ("/v1/models/%s/evaluate" % mdl, '{"dataset": {"id": "%s", "id": "%s"}}' % (ds, ds)),
                       ("/v1/models/%s/predict" % mdl, '{"inputs": [[1, 2]], "inputs": [[3, 4]]}'),
                       ("/v1/models/%s/predict" % mdl, '{"input": [1, 2], "input": [1, 2]}'),
                       ("/v1/jobs", '{"dataset": "%s", "a\\u0000": 1, "a\\u0000": 2}' % ds)):
        cases.append(Case("duplicate keys", "POST", path, body, code="invalid_json"))
    return cases


def utf8_cases(ds, mdl):
    """Invalid UTF-8 in JSON strings, URLs, headers and uploaded file names."""
    jobs, evaluate, predict = "/v1/jobs", "/v1/models/%s/evaluate" % mdl, "/v1/models/%s/predict" % mdl
    cases = []
    for name, b in (("0xff", b"\xff"), ("bad continuation", b"\xc3\x28"), ("overlong slash", b"\xc0\xaf"),
                    ("encoded surrogate", b"\xed\xa0\x80"), ("above U+10FFFF", b"\xf4\x90\x80\x80"),
                    ("truncated", b"\xe2\x82"), ("lone continuation", b"\x80"), ("5-byte form", b"\xf8\x88\x80\x80\x80")):
        for path, body in ((jobs, b'{"dataset": "' + b + b'"}'), (jobs, b'{"dataset": "%s", "name": "x' % enc(ds) + b + b'"}'),
                           (jobs, b'{"' + b + b'": 1}'), (evaluate, b'{"dataset": "' + b + b'"}'),
                           (predict, b'{"inputs": [[1, 2]], "note": "' + b + b'"}')):
            cases.append(Case("utf-8 %s" % name, "POST", path, body, code="invalid_json"))
    for path, expect, code in (("/v1/jobs/job_%ff", 404, "not_found"), ("/v1/jobs/%C3%28", 404, "not_found"),
                               ("/v1/jobs/job_%ED%A0%80", 404, "not_found"), ("/v1/nothing%ff", 404, "unknown_route"),
                               ("/v1/datasets/ds_%c0%af", 404, "not_found"),
                               ("/v1/jobs/" + "%C3%A9" * 700, 404, "unknown_route"),
                               ("/v1/jobs/" + "%C3%A9" * 120 + "x", 404, "not_found"),
                               ("/v1/jobs/" + "%E2%82%AC" * 600, 404, "unknown_route"),
                               ("/%ff/" + "%C3%A9" * 900, 404, "unknown_route"),
                               ("/v1/jobs?status=%ff", 400, "invalid_value"),
                               ("/v1/jobs?status=" + "%C3%A9" * 600, 400, "invalid_value"),
                               ("/v1/jobs?limit=%ff", 400, "invalid_limit"),
                               ("/v1/datasets?after=%ff", 404, "not_found"),
                               ("/v1/models?after=mdl_%C3%28", 404, "not_found"),
                               ("/v1/jobs?after=" + "%C3%A9" * 600, 404, "not_found"),
                               ("/v1/jobs/%s/events?after=%%ff" % FAKE["job"], 404, "not_found")):
        cases.append(Case("utf-8 url %s" % path[:40], "GET", path, expect=expect, code=code))
    for raw_path, expect in ((b"/v1/jobs/\xff\xfe", 404), (b"/v1/\xc3\x28", 404), (b"/healthz\xff", 404)):
        cases.append(Case("utf-8 raw url %r" % raw_path, "GET", raw_path, expect={expect, 400},
                          raw=build("GET", raw_path)))
    for ct in (b"application/\xff", b"text/\xc3\x28", b"\xff" * 200):
        cases.append(Case("utf-8 content type", "POST", jobs, '{"dataset": "x"}', ctype=ct, expect=415,
                          code="unsupported_media_type"))
        cases.append(Case("utf-8 content type (upload)", "POST", "/v1/datasets", "a,b\n1,2\n", ctype=ct,
                          expect=415, code="unsupported_media_type"))
    for header, value in (("X-Request-Id", b"\xff\xfe"), ("Authorization", b"Bearer \xff"),
                          ("Idempotency-Key", b"\xc3\x28"), ("Accept", b"text/\xff"), ("X-\xff", b"1"),
                          ("Cookie", b"a=\xff")):
        cases.append(Case("utf-8 header %s" % header, "POST", jobs,
                          '{"dataset": "%s", "base_model": "%s"}' % (FAKE["ds"], mdl),
                          headers=[(header, value)], expect=422, code="unknown_dataset"))
    # A foreign Origin may not change anything; the message quotes it as valid UTF-8.
    cases.append(Case("utf-8 header Origin", "POST", jobs, '{"dataset": "%s"}' % FAKE["ds"],
                      headers=[("Origin", b"https://\xff.example")], expect=403, code="origin_not_allowed"))
    # A file name and a name that are not UTF-8 on an invalid upload: the
    # error message names the file.
    body = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="bad\xff\xc3(.csv"\r\n\r\n'
            b'a,b\nx,1\n\r\n--xyz--\r\n')
    cases.append(Case("utf-8 file name", "POST", "/v1/datasets", body, ctype="multipart/form-data; boundary=xyz",
                      expect=422, code="invalid_dataset"))
    cases.append(Case("utf-8 file name (model)", "POST", "/v1/models",
                      body.replace(b"a,b\nx,1\n", b"\x10\x00\x00\x00\x00\x00\x00\x00{}"),
                      ctype="multipart/form-data; boundary=xyz", expect=400, code="invalid_model"))
    cases.append(Case("utf-8 ?name", "POST", "/v1/datasets?name=%ff%c3%28", "a,b\nx,1\n", ctype="text/csv",
                      expect=422, code="invalid_dataset"))
    cases.append(Case("utf-8 ?label", "POST", "/v1/datasets?label=%ff" + "%C3%A9" * 600, "a,b\n1,1\n",
                      ctype="text/csv", expect={400, 422}))
    return cases


def part(boundary, name="file", filename="a.csv", data=b"a,b\n1,2\n3,4\n"):
    disp = b'form-data; name="%s"' % enc(name) + (b'; filename="%s"' % enc(filename) if filename is not None else b"")
    return b"--" + boundary + b"\r\nContent-Disposition: " + disp + b"\r\n\r\n" + data + b"\r\n"


def multipart_cases(ds, mdl):
    mp = "multipart/form-data; boundary=xyz"
    end = b"--xyz--\r\n"
    cases = []
    for path in ("/v1/datasets", "/v1/models"):
        for name, ctype, body, code in (
                ("missing boundary", "multipart/form-data", part(b"xyz") + end, "invalid_multipart"),
                ("empty boundary", "multipart/form-data; boundary=", part(b"") + b"----\r\n", "invalid_multipart"),
                ("wrong boundary", "multipart/form-data; boundary=abc", part(b"xyz") + end, "missing_file"),
                ("unterminated part", mp, part(b"xyz")[:-2], "invalid_multipart"),
                ("unterminated header", mp, b'--xyz\r\nContent-Disposition: form-data; name="file"', None),
                ("no closing boundary", mp, part(b"xyz"), None),
                ("no file part", mp, b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n' + end,
                 "missing_file"),
                ("empty body", mp, b"", "missing_file"),
                ("only the closing boundary", mp, end, "missing_file"),
                ("no disposition", mp, b"--xyz\r\n\r\na,b\n1,2\n\r\n" + end, "missing_file"),
                ("binary garbage", mp, b"\x00\xff" * 300, "missing_file"),
                ("two file parts", mp, part(b"xyz") + part(b"xyz", filename="b.csv") + end, None),
                ("two file parts, same name", mp, part(b"xyz") + part(b"xyz") + end, None),
                ("two parts, neither 'file'", mp, part(b"xyz", name="a") + part(b"xyz", name="b") + end,
                 "missing_file"),
                ("five parts", mp, b"".join(part(b"xyz", name="f%d" % i) for i in range(5)) + end,
                 "too_many_parts")):
            cases.append(Case("multipart %s" % name, "POST", path, body, ctype=ctype, expect=400, code=code))
    for name, body, code in (("images without labels", part(b"xyz", name="images") + end, "missing_file"),
                             ("labels without images", part(b"xyz", name="labels") + end, "missing_file"),
                             ("two image parts", part(b"xyz", name="images") + part(b"xyz", name="images")
                              + part(b"xyz", name="labels") + end, None)):
        cases.append(Case("multipart %s" % name, "POST", "/v1/datasets", body, ctype=mp, expect=400, code=code))
    return cases


def path_cases(ds, mdl):
    cases = []
    for path, code in (("/v1/../healthz", "unknown_route"), ("/v1/%2e%2e/healthz", "unknown_route"),
                       ("/v1/jobs/..", "not_found"), ("/v1/jobs/%2e%2e", "not_found"),
                       ("/v1/jobs/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "unknown_route"),
                       ("/v1/datasets/..%2F..%2F..%2Fetc%2Fpasswd", "unknown_route"),
                       ("/v1/datasets%2F" + FAKE["ds"], "not_found"),
                       ("/v1/models/%s%%2Fcontent" % FAKE["mdl"], "not_found"),
                       ("/v1/models/..%%2F%s/content" % FAKE["mdl"], "unknown_route"),
                       ("//healthz", "unknown_route"), ("/v1//jobs", "unknown_route"), ("/v1/jobs/", "unknown_route"),
                       ("/v1/jobs//" + FAKE["job"], "unknown_route"), ("/./healthz", "unknown_route"),
                       ("/healthz/.", "unknown_route"), ("/HEALTHZ", "unknown_route"), ("/V1/jobs", "unknown_route"),
                       ("/healthz%00", "unknown_route"), ("/healthz%00junk", "unknown_route"),
                       ("/v1/jobs%00/x", "unknown_route"), ("/v1/jobs/%s%%00" % FAKE["job"], "not_found"),
                       ("/v1/jobs/%s%%00.png" % FAKE["job"], "not_found"),
                       ("/v1/models/%s/content%%00.png" % mdl, "unknown_route"),
                       ("/v1/datasets/%s%%00/x" % ds, "unknown_route"),
                       ("/%00", "unknown_route"), ("/v1/jobs/%00", "not_found"),
                       ("/v1/datasets/%s%%20" % FAKE["ds"], "not_found"), ("/v1/jobs/%0A", "not_found"),
                       ("/v1/jobs/\\..\\..\\etc\\passwd", "not_found"), ("/v1/jobs/%5C..%5Cetc", "not_found"),
                       ("/v1/jobs/;x=1", "not_found"), ("/v1/jobs/%s;jsessionid=1" % FAKE["job"], "not_found"),
                       ("/v1/jobs/" + "a" * 300, "unknown_route"), ("/" + "a/" * 900, "unknown_route"),
                       ("/v1/jobs/%25", "not_found"), ("/v1/jobs/%zz", "not_found"), ("/v1/jobs/%", "not_found"),
                       ("*", "unknown_route"), ("http://127.0.0.1/healthz", {"unknown_route", None}),
                       ("healthz", "unknown_route")):
        expect = 404
        if isinstance(code, set):  # an absolute URI: MHD may route it or not
            cases.append(Case("path %s" % path[:60], "GET", path, expect={200, 404}))
            continue
        cases.append(Case("path %s" % path[:60], "GET", path, expect=expect, code=code))
    for n in (3000, 10000, 30000):
        cases.append(Case("url of %d chars" % n, "GET", "/v1/jobs/" + "a" * n, expect=414, code="uri_too_long"))
        cases.append(Case("query of %d chars" % n, "GET", "/healthz?x=" + "a" * n, expect={200, 414}))
    for n in (40000, 100000):
        # Past the HTTP layer's 32 KiB header buffer: refused before routing.
        cases.append(Case("url of %d chars" % n, "GET", "/v1/jobs/" + "a" * n, expect={414, 431}))
    cases.append(Case("header of 100k", "GET", "/healthz", headers=[("X-Big", "a" * 100000)], expect={413, 431}))
    cases.append(Case("1000 headers", "GET", "/healthz", headers=[("X-H%d" % i, "v" * 40) for i in range(1000)],
                      expect={413, 431}))
    return cases


def method_cases(ds, mdl):
    cases = []
    for method, path, expect, code in (
            ("FOO", "/v1/jobs", 405, "method_not_allowed"), ("TRACE", "/v1/jobs", 405, "method_not_allowed"),
            ("TRACE", "/healthz", 405, "method_not_allowed"), ("TRACK", "/healthz", 405, "method_not_allowed"),
            ("CONNECT", "127.0.0.1:443", 404, "unknown_route"), ("CONNECT", "/v1/jobs", 405, "method_not_allowed"),
            ("PROPFIND", "/", 405, "method_not_allowed"), ("MKCOL", "/v1/datasets/x", 405, "method_not_allowed"),
            ("get", "/healthz", 405, "method_not_allowed"), ("Get", "/v1/jobs", 405, "method_not_allowed"),
            ("M-SEARCH", "*", 404, "unknown_route"), ("PATCH", "/v1/jobs/" + FAKE["job"], 405, "method_not_allowed"),
            ("PUT", "/v1/models/%s" % mdl, 405, "method_not_allowed"), ("DELETE", "/v1/jobs", 405, "method_not_allowed"),
            ("A" * 100, "/v1/jobs", 405, "method_not_allowed"), ("BREW", "/v1/models/%s/predict" % mdl, 405,
                                                                   "method_not_allowed")):
        cases.append(Case("method %s %s" % (method[:20], path), method, path, expect=expect, code=code))
    for raw in (b"GET\t/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                b"G\x01T /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                b"GET /healthz HTTP/1.1 extra\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                b"GET /healthz FTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                b"GET\r\n\r\n", b"\r\n\r\n\r\n", b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}",
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}",
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n{}",
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}",
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n{}",
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                b"ffffffffffffffffff\r\n{}\r\n0\r\n\r\n"):
        # Not HTTP, or a request line / framing the HTTP layer refuses: it answers
        # 4xx itself or closes; whatever it does, never a 5xx and the server lives.
        method, path = ("POST", "/v1/jobs") if raw.startswith(b"POST") else ("GET", "/healthz")
        cases.append(Case("framing %r" % raw[:40], method, path, raw=raw,
                          expect={None, 400, 404, 405, 411, 413, 415, 422, 501, 505}))
    # An obsolete folded header line: accepted (RFC 7230 allows either) or refused.
    cases.append(Case("folded header", "GET", "/healthz", expect={200, 400},
                      raw=b"GET /healthz HTTP/1.1\r\n Host: folded\r\nConnection: close\r\n\r\n"))
    return cases


def corpus(ds, mdl):
    """Every table-driven group, in order: [(group name, cases)]."""
    return [("malformed JSON", json_cases(ds, mdl)), ("job spec types", spec_type_cases(ds, mdl)),
            ("predict and evaluate bodies", predict_evaluate_cases(ds, mdl)), ("numbers", number_cases(ds, mdl)),
            ("deep nesting", nesting_cases(ds, mdl)), ("duplicate keys", duplicate_key_cases(ds, mdl)),
            ("invalid UTF-8", utf8_cases(ds, mdl)), ("multipart", multipart_cases(ds, mdl)),
            ("path tricks", path_cases(ds, mdl)), ("methods and framing", method_cases(ds, mdl))]


# ---- the stored dataset and model the cases aim at ----

def make_model(srv):
    """A stored CSV dataset (2 features, classes neg/pos) and a model trained on it."""
    csv = csv_text(["x1", "x2", "label"], [["%.3f" % (i / 40), "%.3f" % ((i * 7 % 40) / 40), "pos" if i % 2 else "neg"]
                                          for i in range(40)])
    r = srv.post("/v1/datasets?name=bad-requests", csv, content_type="text/csv")
    check(r.status == 201, "dataset: %r" % r)
    ds = r.json()["id"]
    r = srv.post("/v1/jobs", {"dataset": ds, "architecture": mlp_architecture([2], 2, (4,)), "epochs": 1})
    check(r.status == 201, "job: %r" % r)
    job = srv.wait_job(r.json()["id"], timeout=60)
    check(job["status"] == "succeeded", "%r" % job)
    return ds, job["result_model"]
