"""Photos through the API: a zip of JPEG photos of mixed sizes as a dataset
(2 classes, cropped to 256x256 by default), a corrupt JPEG in a zip named by
its entry, a JPEG predict through a model's image preprocessing (resize of
the shorter side, center crop, per-channel mean/std) compared with
torchvision's preprocessing of the same pixels sent as JSON rows, and the
error paths of image predict bodies."""
import io
import json
import struct
import zipfile

import torch
import torchvision.transforms as T
from PIL import Image

from harness import Server, check, expect_error, main, mlp_architecture, submit

S = {}
MEAN, STD = [0.5, 0.4, 0.3], [0.25, 0.2, 0.3]


def jpeg(w, h, seed, progressive=False):
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 7 + seed * 40) % 256, (y * 5 + seed * 90) % 256, (x * y + seed) % 256)
                for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


def zip_bytes(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def with_preprocessing(content, pp):
    """A safetensors model file with its preprocessing metadata replaced."""
    n = struct.unpack("<Q", content[:8])[0]
    header = json.loads(content[8:8 + n])
    header["__metadata__"]["preprocessing"] = json.dumps(pp)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + content[8 + n:]


def setup():
    global server
    server = Server()
    sizes = [(40, 30), (30, 44), (50, 50), (64, 36), (27, 41), (33, 33)]
    S["zip"] = zip_bytes([("photos/%s/%d.jpg" % ("cat" if i % 2 else "dog", i), jpeg(w, h, i, progressive=i == 3))
                          for i, (w, h) in enumerate(sizes)])


def test_zip_of_jpegs_of_mixed_sizes():
    r = server.upload("/v1/datasets", {"file": ("photos.zip", S["zip"])})
    check(r.status == 201, "%r" % r)
    ds = r.json()
    check(ds["format"] == "zip" and ds["rows"] == 6 and ds["input_shape"] == [3, 256, 256], "%r" % ds)
    check([c["name"] for c in ds["classes"]] == ["cat", "dog"] and ds["image_size"] == [256, 256], "%r" % ds)
    check(ds["fit"] == "crop" and ds["resized"] == 6, "%r" % ds)
    r = server.upload("/v1/datasets", {"file": ("photos.zip", S["zip"])}, query="?image_size=8x8&fit=squash")
    check(r.status == 201 and r.json()["fit"] == "squash" and r.json()["input_shape"] == [3, 8, 8], "%r" % r)
    S["small"] = r.json()
    expect_error(server.upload("/v1/datasets", {"file": ("photos.zip", S["zip"])}, query="?fit=stretch"), 400,
                 param="fit")


def test_corrupt_jpeg_in_a_zip_names_the_entry():
    bad = zip_bytes([("cat/1.jpg", jpeg(10, 10, 1)), ("dog/2.jpg", jpeg(10, 10, 2)[:300])])
    r = server.upload("/v1/datasets", {"file": ("bad.zip", bad)})
    err = expect_error(r, 422, code="invalid_dataset")
    check("entry 'dog/2.jpg': corrupt JPEG: the JPEG data ends early (truncated)" in err["message"], "%r" % err)


def test_jpeg_predict_through_the_model_preprocessing():
    job = submit(server, {"dataset": S["small"]["id"], "architecture": mlp_architecture([3, 8, 8], 2, (8,)),
                          "epochs": 2})
    job = server.wait_job(job["id"], timeout=180)
    check(job["status"] == "succeeded", "%r" % job)
    content = server.get("/v1/models/%s/content" % job["result_model"]).body
    pp = {"per": "channel", "resize": 10, "crop": [8, 8], "color": "rgb", "scale": 1 / 255, "mean": MEAN, "std": STD}
    r = server.post("/v1/models", with_preprocessing(content, pp), content_type="application/octet-stream")
    check(r.status == 201, "%r" % r)
    S["model"] = model = r.json()["id"]
    photo = jpeg(37, 23, 5)
    r = server.post("/v1/models/%s/predict" % model, photo, content_type="image/jpeg")
    check(r.status == 200, "%r" % r)
    got = r.json()["data"][0]["probabilities"]
    # The same pixels through torchvision's Resize(10) + CenterCrop(8), sent as raw values:
    # the server then applies the same scale and per-channel mean/std to JSON rows.
    px = torch.tensor(list(Image.open(io.BytesIO(photo)).convert("RGB").getdata()), dtype=torch.float32)
    x = px.view(23, 37, 3).permute(2, 0, 1)
    x = T.CenterCrop(8)(T.Resize(10, antialias=False)(x))
    r = server.post("/v1/models/%s/predict" % model, {"inputs": [x.reshape(-1).tolist()]})
    check(r.status == 200, "%r" % r)
    want = r.json()["data"][0]["probabilities"]
    for k in want:
        check(abs(got[k] - want[k]) < 1e-4, "JPEG vs torchvision rows differ at %s: %r %r" % (k, got, want))


def test_image_predict_errors():
    url = "/v1/models/%s/predict" % S["model"]
    err = expect_error(server.post(url, b"GIF89a not an image", content_type="image/jpeg"), 400, code="invalid_image")
    check("not a PNG or JPEG image" in err["message"], "%r" % err)
    err = expect_error(server.post(url, jpeg(20, 20, 1)[:200], content_type="image/jpeg"), 400, code="invalid_image")
    check("the JPEG data ends early (truncated)" in err["message"], "%r" % err)
    expect_error(server.post(url, b"\xff\xd8\xff", content_type="image/gif"), 415, param="Content-Type")


def teardown():
    server.stop_clean()


if __name__ == "__main__":
    main(globals())
