#!/usr/bin/python3
"""Dataset ingest benchmarks, finetuned beside its Python peers.

  CSV   MB/s of `finetuned dataset inspect` (parse, validate, sha256, summary)
        vs pandas.read_csv on the same >= 100 MB numeric file
  PNG   images/s for 60,000 28x28 Fashion-MNIST PNGs in a tar, vs a
        tarfile + PIL loop when python3-pil is installed
  IDX   seconds for the 60,000-image Fashion-MNIST train pair (gzipped),
        vs gzip + numpy.frombuffer

Each figure is the best of REPEAT runs; the peak RSS of our process shows
that memory stays bounded (parsed data + a few MiB). Inputs are generated
into BENCH_TMP (default /tmp/finetuned-bench-ingest), never into the repo."""
import gzip
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("FT_BUILD", "build"), "finetuned")
TMP = os.environ.get("BENCH_TMP", "/tmp/finetuned-bench-ingest")
REPEAT = int(os.environ.get("REPEAT", "3"))
FMNIST = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def ours(*args):
    """Best wall time of `finetuned dataset inspect ARGS`, and the peak RSS (MiB)."""
    best, rss = float("inf"), 0
    for _ in range(REPEAT):
        # GNU time reports the peak RSS of the program itself (a forked
        # child's own rusage would count the Python parent's pages too).
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", BIN, "dataset", "inspect", "--compact", *args],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        best = min(best, time.perf_counter() - t)
        if p.returncode != 0:
            sys.exit("finetuned failed on %s: %s" % (args, p.stderr))
        rss = max(rss, int(p.stderr.rsplit("maxrss_kb=", 1)[1]))
    return best, rss / 1024


def peer(fn):
    best = float("inf")
    for _ in range(REPEAT):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def csv_bench():
    path = os.path.join(TMP, "numeric.csv")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "make_csv.py"), path, "110"], check=True)
    mb = os.path.getsize(path) / 1e6
    t, rss = ours(path)
    import pandas
    tp = peer(lambda: pandas.read_csv(path))
    print("CSV   %.1f MB, 290k rows x 21 columns" % mb)
    print("      finetuned     %6.3f s  %7.1f MB/s  (peak RSS %.0f MiB)" % (t, mb / t, rss))
    print("      pandas %-6s %6.3f s  %7.1f MB/s" % (pandas.__version__, tp, mb / tp))
    print("      ratio         %.2fx pandas" % (tp / t))
    return mb / t, mb / tp


def png_bench():
    tar = os.path.join(TMP, "fashion60k.tar")
    if not os.path.exists(tar):
        subprocess.run([sys.executable, os.path.join(HERE, "make_png_tar.py"),
                        os.path.join(FMNIST, "train-images-idx3-ubyte.gz"),
                        os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"), tar], check=True)
    t, rss = ours(tar)
    print("PNG   60,000 28x28 grayscale PNGs in a %.0f MB tar" % (os.path.getsize(tar) / 1e6))
    print("      finetuned     %6.3f s  %7.0f images/s  (peak RSS %.0f MiB)" % (t, 60000 / t, rss))
    try:
        import io
        import tarfile

        import numpy
        from PIL import Image

        def pil():
            with tarfile.open(tar) as tf:
                for m in tf:
                    if m.isfile():
                        numpy.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert("L"))
        tp = peer(pil)
        print("      tarfile+PIL   %6.3f s  %7.0f images/s" % (tp, 60000 / tp))
        print("      ratio         %.2fx tarfile+PIL" % (tp / t))
    except ImportError:
        print("      (python3-pil not installed: no peer figure)")


def idx_bench():
    images = os.path.join(FMNIST, "train-images-idx3-ubyte.gz")
    labels = os.path.join(FMNIST, "train-labels-idx1-ubyte.gz")
    t, rss = ours("--images", images, "--labels", labels)
    import numpy

    def npy():
        x = numpy.frombuffer(gzip.open(images).read(), numpy.uint8, offset=16).reshape(-1, 28, 28)
        y = numpy.frombuffer(gzip.open(labels).read(), numpy.uint8, offset=8)
        assert len(x) == len(y) == 60000
    tp = peer(npy)
    print("IDX   Fashion-MNIST train, 60,000 images (gzipped)")
    print("      finetuned     %6.3f s  (peak RSS %.0f MiB)" % (t, rss))
    print("      gzip+numpy    %6.3f s" % tp)
    print("      ratio         %.2fx gzip+numpy" % (tp / t))


def big_csv():
    """Optional (BENCH_BIG=1): a ~1 GB CSV, to show memory stays at the parsed floats."""
    path = os.path.join(TMP, "big.csv")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "make_csv.py"), path, "1000"], check=True)
    t, rss = ours(path)
    rows = 0
    with open(path, "rb") as f:
        for _ in f:
            rows += 1
    floats_mb = (rows - 1) * 20 * 4 / 2**20
    print("BIG   %.0f MB CSV: %.2f s, %.0f MB/s, peak RSS %.0f MiB for %.0f MiB of parsed floats" %
          (os.path.getsize(path) / 1e6, t, os.path.getsize(path) / 1e6 / t, rss, floats_mb))


def main():
    os.makedirs(TMP, exist_ok=True)
    if not os.access(BIN, os.X_OK):
        sys.exit("no binary at %s (run make first)" % BIN)
    print("ingest benchmarks, best of %d; %s" % (REPEAT, time.strftime("%Y-%m-%d")))
    empty = os.path.join(TMP, "tiny.csv")
    with open(empty, "w") as f:
        f.write("a,b\n1,x\n")
    print("      (finetuned's peak RSS on a 2-row CSV, the baseline: %.0f MiB)" % ours(empty)[1])
    csv_bench()
    png_bench()
    idx_bench()
    if os.environ.get("BENCH_BIG"):
        big_csv()


if __name__ == "__main__":
    main()
