#!/usr/bin/python3
"""Write Fashion-MNIST images as a tar of <class>/<index>.png (Keras layout).

usage: make_png_tar.py IMAGES.idx3-ubyte.gz LABELS.idx1-ubyte.gz OUT.tar[.gz] [COUNT]

Standard library only: PNGs are encoded with zlib (8-bit grayscale,
non-interlaced), the archive with tarfile. Used by bench/ingest/run.sh and
handy for trying image uploads by hand."""
import gzip
import io
import struct
import sys
import tarfile
import zlib

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]


def png_gray8(width, height, pixels):
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    (n, h, w), pixels = read_idx(sys.argv[1])
    _, labels = read_idx(sys.argv[2])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else n
    mode = "w:gz" if sys.argv[3].endswith(".gz") else "w"
    with tarfile.open(sys.argv[3], mode, format=tarfile.USTAR_FORMAT) as tar:
        for i in range(min(count, n)):
            png = png_gray8(w, h, pixels[i * h * w:(i + 1) * h * w])
            info = tarfile.TarInfo("%s/%05d.png" % (CLASSES[labels[i]], i))
            info.size = len(png)
            tar.addfile(info, io.BytesIO(png))


if __name__ == "__main__":
    main()
