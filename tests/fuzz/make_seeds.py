#!/usr/bin/python3
"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/<target>/.

Standard library only. Seeds are small valid and invalid inputs of every
kind the parsers know (each harness's first byte selects options, so seeds
start with an option byte). Crashers found later are added by hand next to
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


if __name__ == "__main__":
    main()
