#!/usr/bin/python3
"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/<target>/.

Standard library, and PIL for the JPEG seeds. Seeds are small valid and invalid inputs of every
kind the parsers know (each harness's first byte selects options, so seeds
start with an option byte). The http seeds are requests like the API tests
make, in the text form tests/fuzz/fuzz_http.c frames (tokens such as {ds}
name the objects the harness keeps). Crashers found later are added by hand next to
these (named crash-*) and are kept as regression inputs.
    /usr/bin/python3 tests/fuzz/make_seeds.py"""
import gzip
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "..", "data", "datasets", "bad")
sys.path.insert(0, os.path.join(HERE, "..", "data", "datasets"))
import make_bad  # noqa: E402  (tar/idx/safetensors builders)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(w, h, color_type, depth, interlace=False, palette=None, trns=None):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    maxv = (1 << depth) - 1
    px = [[[(x * 37 + y * 11 + c * 5) % (maxv + 1) for c in range(channels)] for x in range(w)] for y in range(h)]

    def row_bytes(samples):
        bits = "".join(format(v, "0%db" % depth) for s in samples for v in s)
        bits += "0" * (-len(bits) % 8)
        return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))

    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        for y in range(y0, h, dy):
            xs = range(x0, w, dx)
            if len(xs):
                raw += b"\0" + row_bytes([px[y][x] for x in xs])
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if palette:
        out += chunk(b"PLTE", palette)
    if trns:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def multipart(files, fields=None, boundary="ftfuzz"):
    """A multipart/form-data body: files = [(field, filename, bytes)]."""
    out = b""
    for name, value in (fields or {}).items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, name, value)).encode()
    for name, filename, data in files:
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode() + data + b"\r\n"
    return out + ("--%s--\r\n" % boundary).encode()


def request(method, target, headers=(), body=b""):
    """One request in the harness's text form."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = list(headers) + ["Content-Type: application/json"]
    elif isinstance(body, str):
        body = body.encode()
    head = "%s %s\n" % (method, target) + "".join(h + "\n" for h in headers)
    return head.encode() + b"\n" + body


def http_seeds(pngs, images, labels):
    csv = b"a,b,c,d,label\n1,2,3,4,x\n0.5,1,-1,2,y\n3,3,3,3,z\n1,0,0,1,x\n"
    reg = b"a,b,y\n0.1,0.2,0.3\n1,2,3\n-1,0.5,2\n"
    arch = {"input": [4], "layers": [{"name": "h", "type": "dense", "units": 8, "activation": "relu"},
                                     {"type": "dense", "units": 3, "activation": "softmax"}]}
    model = make_bad.safetensors(
        [("out.weight", "F32", [3, 4], struct.pack("<12f", *[i / 10 for i in range(12)])),
         ("out.bias", "F32", [3], struct.pack("<3f", 0, 0.5, -0.5))],
        {"format": "finetuned.model.v1", "trainable_from": "0", "classes": '["x","y","z"]',
         "architecture": json.dumps({"input": [4], "layers": [
             {"name": "out", "type": "dense", "units": 3, "activation": "softmax"}]})})
    mp = ["Content-Type: multipart/form-data; boundary=ftfuzz"]
    seeds = {
        # system
        "healthz": request("GET", "/healthz"),
        "readyz": request("GET", "/readyz"),
        "metrics": request("GET", "/metrics"),
        "version": request("GET", "/v1/version"),
        "head_healthz": request("HEAD", "/healthz"),
        "options_cors": request("OPTIONS", "/v1/jobs", ["Origin: https://a.example",
                                                        "Access-Control-Request-Method: POST"]),
        "cors_get": request("GET", "/v1/datasets", ["Origin: https://b.example"]),
        "unknown_route": request("GET", "/v1/nothing/here"),
        "method_405": request("PUT", "/v1/datasets"),
        "no_auth": request("GET", "/v1/models", ["Authorization: Bearer wrong"]),
        "request_id": request("GET", "/v1/version", ["X-Request-Id: abc-123_x.y"]),
        "long_path": request("GET", "/v1/jobs/" + "a" * 300),
        # datasets
        "ds_upload_multipart": request("POST", "/v1/datasets?name=colors", mp,
                                       multipart([("file", "c.csv", csv)])),
        "ds_upload_fields": request("POST", "/v1/datasets", mp,
                                    multipart([("file", "p.csv", reg)], {"name": "prices", "task": "regression"})),
        "ds_upload_raw": request("POST", "/v1/datasets?task=regression&name=r", ["Content-Type: text/csv"], reg),
        "ds_upload_raw_charset": request("POST", "/v1/datasets?label=label&delimiter=,&header=true",
                                         ["Content-Type: text/csv; charset=utf-8"], csv),
        "ds_upload_chunked": request("POST", "/v1/datasets", ["Content-Type: text/csv",
                                                              "Transfer-Encoding: chunked"], csv),
        "ds_upload_idx": request("POST", "/v1/datasets?name=idx", mp,
                                 multipart([("images", "i.idx", images), ("labels", "l.idx", labels)])),
        "ds_upload_idx_gz": request("POST", "/v1/datasets", mp,
                                    multipart([("images", "i.gz", gzip.compress(images, mtime=0)),
                                               ("labels", "l.gz", gzip.compress(labels, mtime=0))])),
        "ds_upload_tar": request("POST", "/v1/datasets?image_size=4x4&color=grayscale",
                                 ["Content-Type: application/x-tar"],
                                 make_bad.tar(make_bad.tar_entry("cat/1.png", pngs["gray8"]),
                                              make_bad.tar_entry("dog/2.png", pngs["rgb8"]))),
        "ds_upload_gzip": request("POST", "/v1/datasets", ["Content-Type: application/gzip"],
                                  gzip.compress(csv, mtime=0)),
        "ds_upload_missing_labels": request("POST", "/v1/datasets", mp, multipart([("images", "i", images)])),
        "ds_upload_two_files": request("POST", "/v1/datasets", mp,
                                       multipart([("a", "a.csv", csv), ("b", "b.csv", csv)])),
        "ds_upload_no_file": request("POST", "/v1/datasets", mp, multipart([], {"name": "x"})),
        "ds_upload_bad_boundary": request("POST", "/v1/datasets", ["Content-Type: multipart/form-data"],
                                          multipart([("file", "c.csv", csv)])),
        "ds_upload_415": request("POST", "/v1/datasets", ["Content-Type: image/png"], b"\x89PNG"),
        "ds_upload_413": request("POST", "/v1/datasets", ["Content-Type: text/csv", "Content-Length: 99999999"],
                                 csv),
        "ds_upload_then_get": request("POST", "/v1/datasets?name=n", ["Content-Type: text/csv"], csv)
        + b"\n%%\n" + request("GET", "/v1/datasets/{new}")
        + b"\n%%\n" + request("DELETE", "/v1/datasets/{new}"),
        "ds_list": request("GET", "/v1/datasets?limit=2"),
        "ds_list_after": request("GET", "/v1/datasets?limit=100&after={ds}"),
        "ds_list_bad_limit": request("GET", "/v1/datasets?limit=0"),
        "ds_list_bad_after": request("GET", "/v1/datasets?after=ds_000000000000000000000000"),
        "ds_get": request("GET", "/v1/datasets/{ds}"),
        "ds_get_missing": request("GET", "/v1/datasets/ds_000000000000000000000000"),
        "ds_delete_conflict": request("DELETE", "/v1/datasets/{ds}"),
        # models
        "mdl_upload_raw": request("POST", "/v1/models?name=m", ["Content-Type: application/octet-stream"], model),
        "mdl_upload_multipart": request("POST", "/v1/models", mp, multipart([("file", "m.safetensors", model)])),
        "mdl_upload_then_predict": request("POST", "/v1/models", ["Content-Type: application/octet-stream"], model)
        + b"\n%%\n" + request("POST", "/v1/models/{new}/predict", body={"inputs": [[1, 2, 3, 4]]})
        + b"\n%%\n" + request("GET", "/v1/models/{new}/content"),
        "mdl_upload_garbage": request("POST", "/v1/models", mp, multipart([("file", "x.safetensors", b"garbage")])),
        "mdl_upload_json": request("POST", "/v1/models", ["Content-Type: application/json"], "{}"),
        "mdl_list": request("GET", "/v1/models?limit=1&after={mdl}"),
        "mdl_get": request("GET", "/v1/models/{mdl}"),
        "mdl_content": request("GET", "/v1/models/{img}/content"),
        "mdl_delete_missing": request("DELETE", "/v1/models/mdl_000000000000000000000000"),
        "predict_rows": request("POST", "/v1/models/{mdl}/predict", body={"inputs": [[1, 2, 3, 4], [0, 0, 0, 1.5]]}),
        "predict_one_nested": request("POST", "/v1/models/{img}/predict",
                                      body={"input": [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]]}),
        "predict_png": request("POST", "/v1/models/{img}/predict", ["Content-Type: image/png"], pngs["gray8"]),
        "predict_png_rgb": request("POST", "/v1/models/{img}/predict", ["Content-Type: image/png"], pngs["rgb8_adam7"]),
        "predict_png_tabular": request("POST", "/v1/models/{mdl}/predict", ["Content-Type: image/png"], pngs["gray4"]),
        "predict_bad_row": request("POST", "/v1/models/{mdl}/predict", body={"inputs": [[1, 2, "x"]]}),
        "predict_bad_json": request("POST", "/v1/models/{mdl}/predict", ["Content-Type: application/json"], "{nope"),
        "predict_no_type": request("POST", "/v1/models/{mdl}/predict", [], '{"input": [1, 2, 3, 4]}'),
        "predict_csv_415": request("POST", "/v1/models/{mdl}/predict", ["Content-Type: text/csv"], "1,2,3"),
        "evaluate": request("POST", "/v1/models/{mdl}/evaluate", body={"dataset": "{ds}"}),
        "evaluate_selector": request("POST", "/v1/models/{mdl}/evaluate",
                                     body={"dataset": {"id": "{ds}", "classes": ["z", "x"], "per_class": 1, "seed": 3},
                                           "loss": "cross_entropy"}),
        "evaluate_bad": request("POST", "/v1/models/{mdl}/evaluate", body={"dataset": "{ds}", "extra": 1}),
        "evaluate_mse": request("POST", "/v1/models/{mdl}/evaluate", body={"dataset": "{ds}", "loss": "mse"}),
        "evaluate_image_model": request("POST", "/v1/models/{img}/evaluate", body={"dataset": {"id": "{ds}"}}),
        # jobs
        "job_scratch": request("POST", "/v1/jobs", ["Idempotency-Key: k1"],
                               {"dataset": "{ds}", "architecture": arch, "epochs": 2, "name": "n",
                                "metadata": {"a": "b"}}),
        "job_finetune": request("POST", "/v1/jobs", [],
                                {"dataset": "{ds}", "base_model": "{mdl}", "drop_layers": 1,
                                 "freeze": {"trainable_last": 1}, "head": {"hidden": [4], "dropout": 0.1},
                                 "init": {"type": "normal", "std": 0.01}, "validation": {"split": 0.2},
                                 "test": "{ds}", "optimizer": {"type": "adam", "lr": 0.001},
                                 "early_stopping": {"metric": "val_loss", "patience": 2}, "epochs": 3}),
        "job_cut_after": request("POST", "/v1/jobs", [],
                                 {"dataset": {"id": "{ds}", "classes": ["x", "y"], "per_class": 2, "seed": 1},
                                  "base_model": "{mdl}", "cut_after": "hidden", "freeze": "none",
                                  "loss": "cross_entropy", "batch_size": 2, "strict": True}),
        "job_bad_spec": request("POST", "/v1/jobs", [], {"dataset": "{ds}", "epochs": 0, "head": {"units": -1}}),
        "job_path_dataset": request("POST", "/v1/jobs", [], {"dataset": "/etc/passwd", "architecture": arch}),
        "job_not_json": request("POST", "/v1/jobs", ["Content-Type: application/json"], "{\"dataset\": "),
        "job_text_415": request("POST", "/v1/jobs", ["Content-Type: text/plain"], "x"),
        "job_empty_body": request("POST", "/v1/jobs", ["Content-Type: application/json"]),
        "job_then_cancel": request("POST", "/v1/jobs", [], {"dataset": "{ds}", "architecture": arch})
        + b"\n%%\n" + request("POST", "/v1/jobs/{new}/cancel")
        + b"\n%%\n" + request("GET", "/v1/jobs/{new}/events"),
        "job_list": request("GET", "/v1/jobs?limit=5&status=queued"),
        "job_list_after": request("GET", "/v1/jobs?after={job}&status=cancelled"),
        "job_list_bad_status": request("GET", "/v1/jobs?status=done"),
        "job_get": request("GET", "/v1/jobs/{job}"),
        "job_cancel": request("POST", "/v1/jobs/{job}/cancel"),
        "job_events": request("GET", "/v1/jobs/{job}/events?after=0&limit=10"),
        "job_events_resume": request("GET", "/v1/jobs/{job}/events", ["Last-Event-ID: 1"]),
        "job_events_sse": request("GET", "/v1/jobs/{job}/events", ["Accept: text/event-stream"]),
        "job_metrics": request("GET", "/v1/jobs/{job}/metrics"),
        "job_metrics_csv": request("GET", "/v1/jobs/{job}/metrics?format=csv"),
        "job_metrics_bad_format": request("GET", "/v1/jobs/{job}/metrics?format=xml"),
        "job_metrics_png": request("GET", "/v1/jobs/{job}/metrics.png"),
        "job_confusion_png": request("GET", "/v1/jobs/{job}/confusion.png"),
        "job_missing": request("GET", "/v1/jobs/job_000000000000000000000000/metrics"),
        # raw bytes ("!"): framing the harness does not fix
        "raw_pipelined": b"!GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/version HTTP/1.1\r\n"
                         b"Host: x\r\nAuthorization: Bearer fuzz-key\r\n\r\n",
        "raw_short_body": b"!POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 50\r\n\r\n{\"dataset\"",
        "raw_http10": b"!GET /v1/datasets?limit=1 HTTP/1.0\r\nAuthorization: Bearer fuzz-key\r\n\r\n",
    }
    for name, data in seeds.items():
        put("http", name, data)


def jpeg_seeds():
    """Tiny JPEGs of every kind the decoder meets, made with PIL."""
    import io
    from PIL import Image
    out = {}
    for name, mode, size, kw in [("gray", "L", (7, 5), {}), ("rgb_420", "RGB", (9, 6), {"subsampling": 2}),
                                 ("rgb_444", "RGB", (5, 8), {"subsampling": 0}),
                                 ("progressive", "RGB", (11, 7), {"progressive": True}),
                                 ("cmyk", "CMYK", (4, 4), {})]:
        im = Image.new(mode, size)
        im.putdata([tuple((x * 31 + y * 17 + c * 60) % 256 for c in range(len(mode))) if len(mode) > 1
                    else (x * 31 + y * 17) % 256 for y in range(size[1]) for x in range(size[0])])
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80, **kw)
        out[name] = buf.getvalue()
    out["truncated"] = out["rgb_420"][:len(out["rgb_420"]) // 2]
    return out


def main():
    pal = bytes(range(48))
    pngs = {
        "gray1": png(9, 5, 0, 1), "gray2": png(7, 3, 0, 2), "gray4": png(5, 5, 0, 4),
        "gray8": png(6, 4, 0, 8), "gray16": png(4, 4, 0, 16), "ga8": png(3, 3, 4, 8),
        "rgb8": png(4, 3, 2, 8), "rgba16": png(3, 2, 6, 16), "palette4": png(5, 4, 3, 4, palette=pal, trns=b"\0\x80"),
        "gray8_adam7": png(9, 9, 0, 8, True), "rgb8_adam7": png(10, 7, 2, 8, True),
    }
    for i, (name, data) in enumerate(sorted(pngs.items())):
        put("png", name, bytes([i * 37 & 255]) + data)

    csvs = {
        "dialect": b'\xef\xbb\xbf a ,"b, c",label\r\n1.5,"2e3","x, y"\r\n-3E-2, 4 ,"say ""hi"""\r\n5,6,"multi\nline"\n',
        "sklearn": b"3,2,setosa,versicolor\n5.1,3.5,0\n4.9,3.0,1\n4.7,3.2,0\n",
        "boston": b'3,2,,\n"A","B","MEDV"\n1,2,24\n3,4,21.6\n5,6,34.7\n',
        "regression": b"x1,x2,y\n0.1,1e-3,3.25\n2,3,-1\n",
        "int_classes": b"a,b\n1,0\n2,2\n3,1\n",
        "whitespace": b"  a   b\tc\n1 2 x\n3  4   y\n",
        "semicolon": b"a;b;label\n1;2;x\n",
        "noheader": b"1,2,0\n3,4,1\n",
    }
    option_byte = {"whitespace": 3, "semicolon": 1, "noheader": 16, "regression": 8}
    for name, data in csvs.items():
        put("csv", name, bytes([option_byte.get(name, 0)]) + data)
    put("csv", "gzipped", b"\0" + gzip.compress(csvs["dialect"], mtime=0))
    for f in sorted(os.listdir(BAD)):
        if f.endswith(".csv") or f.endswith(".csv.gz"):
            put("csv", "bad_" + f, b"\0" + open(os.path.join(BAD, f), "rb").read())

    good_tar = make_bad.tar(make_bad.tar_entry("data/", typeflag=b"5"),
                            make_bad.tar_entry("data/cat/1.png", pngs["gray8"]),
                            make_bad.tar_entry("data/dog/2.png", pngs["rgb8_adam7"]),
                            make_bad.tar_entry("data/dog/.DS_Store", b"x"),
                            make_bad.tar_entry("data/bird/x.png", pngs["palette4"]))
    put("tar", "good", b"\0" + good_tar)
    put("tar", "good_rgb_resized", b"\x25" + good_tar)
    put("tar", "good_gz", b"\1" + gzip.compress(good_tar, mtime=0))
    long_name = b"k" * 150 + b"/image.png"
    put("tar", "gnu_long", b"\0" + make_bad.tar(make_bad.tar_entry("././@LongLink", long_name + b"\0", typeflag=b"L"),
                                               make_bad.tar_entry("short", pngs["gray4"])))
    pax = b"23 path=paxclass/p.png\n"
    put("tar", "pax", b"\0" + make_bad.tar(make_bad.tar_entry("PaxHeaders/p", pax, typeflag=b"x"),
                                          make_bad.tar_entry("ignored", pngs["gray16"])))
    for f in sorted(os.listdir(BAD)):
        if f.endswith(".tar"):
            put("tar", "bad_" + f, b"\0" + open(os.path.join(BAD, f), "rb").read())

    jpegs = jpeg_seeds()
    for i, (name, data) in enumerate(sorted(jpegs.items())):
        put("jpeg", name, bytes([i * 53 & 255]) + data)
    put("zip", "good", b"\0" + make_bad.zip_of(("data/cat/1.png", pngs["gray8"]), ("data/dog/2.jpg", jpegs["rgb_420"]),
                                                ("data/dog/3.jpg", jpegs["progressive"]), ("data/bird/x.png", pngs["rgb8"])))
    put("zip", "good_squash", b"\x2d" + make_bad.zip_of(("a/1.jpg", jpegs["gray"]), ("b/2.jpg", jpegs["rgb_444"])))
    for f in sorted(os.listdir(BAD)):
        if f.endswith(".zip"):
            put("zip", "bad_" + f, b"\0" + open(os.path.join(BAD, f), "rb").read())

    images = make_bad.idx(0x08, [3, 2, 2], bytes(range(12)))
    labels = make_bad.idx(0x08, [3], bytes([0, 1, 2]))

    def pair(a, b):
        return struct.pack(">H", len(a)) + a + b
    put("idx", "ok", pair(images, labels))
    put("idx", "gz", pair(gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0)))
    put("idx", "count", pair(images, make_bad.idx(0x08, [2], b"\0\1")))
    put("idx", "truncated", pair(images[:-3], labels))
    put("idx", "swapped", pair(labels, images))
    put("idx", "float", pair(make_bad.idx(0x0D, [1, 1, 1], b"\0" * 4), make_bad.idx(0x08, [1], b"\0")))

    x = bytes(range(12))
    y = struct.pack("<3i", 0, 1, 2)
    st = make_bad.safetensors
    put("safetensors", "u8_classes", b"\0" + st([("x", "U8", [3, 4], x), ("y", "I32", [3], y)],
                                                {"classes": '["a", "b", "c"]'}))
    put("safetensors", "nhwc", b"\0" + st([("x", "U8", [1, 2, 2, 3], x), ("y", "I64", [1], struct.pack("<q", 0))],
                                          {"layout": "NHWC"}))
    put("safetensors", "f64_regression", b"\2" + st([("x", "F64", [2, 1], struct.pack("<2d", 1.5, -2)),
                                                     ("y", "F32", [2, 1], struct.pack("<2f", 0.5, 1))]))
    put("safetensors", "stored_form", b"\0" + st(
        [("x", "U8", [3, 4], x), ("y", "I32", [3], y)],
        {"format": "finetuned.dataset", "format_version": "1", "input_shape": "[4]",
         "classes": '["a","b","c"]', "summary": json.dumps({"rows": 3, "note": "x"})}))
    for f in sorted(os.listdir(BAD)):
        if f.endswith(".safetensors"):
            put("safetensors", "bad_" + f, b"\0" + open(os.path.join(BAD, f), "rb").read())

    http_seeds(pngs, images, labels)


if __name__ == "__main__":
    main()
