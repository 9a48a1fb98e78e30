#!/usr/bin/python3
"""README's "Bring your own network" runs as written against a live server:
a torchvision resnet18 exported with torch.onnx.export, uploaded with
?preprocess=imagenet, fine-tuned on a zip of JPEG photos of mixed sizes
(made here: three colours of noisy photos, which even a random-weight
network's features tell apart), a second job served from the feature store,
and a JPEG predicted."""
import json
import os
import random
import re
import subprocess
import tempfile

from PIL import Image

from harness import BINARY, ROOT, Server, check, main

README = open(os.path.join(ROOT, "README.md")).read()
COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}
S = {}


def write_photos(folder, per_class=20, seed=0):
    """JPEGs of random sizes (160..400 a side, mostly not square)."""
    rng = random.Random(seed)
    for name, rgb in COLOURS.items():
        os.makedirs(os.path.join(folder, name))
        for i in range(per_class):
            w, h = rng.randint(160, 400), rng.randint(160, 400)
            im = Image.new("RGB", (w, h), tuple(min(255, max(0, c + rng.randint(-40, 40))) for c in rgb))
            for _ in range(200):
                im.putpixel((rng.randrange(w), rng.randrange(h)), tuple(rng.randrange(256) for _ in range(3)))
            im.save(os.path.join(folder, name, "%02d.jpg" % i), quality=90)


def test_section_runs_as_written():
    start, end = README.index("<!-- byon:start -->"), README.index("<!-- byon:end -->")
    blocks = re.findall(r"```sh\n(.*?)```", README[start:end], re.S)
    check(len(blocks) == 3, "the section has %d sh blocks" % len(blocks))
    folder = tempfile.mkdtemp(prefix="ft-byon-")
    write_photos(os.path.join(folder, "photos"))
    with Server() as server:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(blocks)], cwd=folder,
                           env=dict(os.environ, FT=server.url), capture_output=True, text=True, timeout=900)
        S["out"] = p.stdout
        check(p.returncode == 0, "the section failed (exit %d):\nstdout:\n%s\nstderr:\n%s"
              % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    S["sizes"] = {Image.open(os.path.join(folder, "photos", c, f)).size
                  for c in COLOURS for f in os.listdir(os.path.join(folder, "photos", c))}


def test_section_results():
    out = S.get("out")
    check(out is not None, "the section did not run")
    check(len(S["sizes"]) > 30, "the photos are not of mixed sizes: %r" % S["sizes"])
    lines = out.splitlines()
    model = json.loads(lines[0])
    # torchvision counts 11,689,512; the exporter folds BatchNormalization into
    # the convolutions, which drops its 4,800 scale and shift values.
    check(model["input_shape"] == [3, 224, 224] and model["params"] == 11689512 - 4800, model)
    pp = model["preprocessing"]
    check(pp["resize"] == 256 and pp["crop"] == [224, 224] and pp["color"] == "rgb" and
          abs(pp["mean"][0] - 0.485) < 1e-6, pp)
    fc = json.loads(lines[3])
    check(fc["name"] == "/fc/Gemm" and fc["type"] == "dense" and fc["output_shape"] == [1000] and
          fc["inputs"] == ["/Flatten"], fc)
    check("brought to the base model's input [3, 224, 224]" in out and "resized to 256 on the shorter side" in out,
          "no event says how the photos were resized:\n" + out)
    check("Feature cache: the frozen layers up to '/Flatten' ran once over 60 rows" in out, out)
    job = json.loads(next(line for line in lines if line.startswith('{"status"')))
    # Three colours are easy even for random resnet18 features (seen: 1.0).
    check(job["status"] == "succeeded" and job["validation_accuracy"] >= 0.75, job)
    check(any(line.startswith("Feature cache hit: the outputs of the frozen layers up to '/Flatten' for 60 rows")
              for line in lines), "the second job ran the backbone again:\n" + out)
    prediction = json.loads(lines[-1])
    check(prediction["class"] in COLOURS and 0 < prediction["probability"] <= 1, prediction)


def setup():
    print("(binary: %s)" % BINARY)


if __name__ == "__main__":
    main(globals())
