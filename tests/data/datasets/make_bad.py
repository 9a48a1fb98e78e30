#!/usr/bin/python3
"""Regenerate the corpus of malformed datasets in tests/data/datasets/bad/.

Standard library only; the output is committed, so tests never need Python.
Each file's expected error (exact text) is in bad/EXPECTED, written by hand:
this script only makes the inputs. Run from anywhere:
    /usr/bin/python3 tests/data/datasets/make_bad.py"""
import gzip
import io
import os
import struct
import zipfile
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bad")


def write(name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def png(width, height, color_type=0, depth=8, pixels=None, idat=None):
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    if idat is None:
        channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
        row = width * channels * depth // 8
        if pixels is None:
            pixels = bytes((x * 7 + y * 13) & 255 for y in range(height) for x in range(row))
        raw = b"".join(b"\0" + pixels[y * row:(y + 1) * row] for y in range(height))
        idat = zlib.compress(raw)
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)) +
            chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def tar_header(name, size=0, typeflag=b"0", linkname=b"", prefix=b"", checksum_delta=0):
    if isinstance(name, str):
        name = name.encode("utf-8")
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[148:156] = b"        "
    h[156:157] = typeflag
    h[157:157 + len(linkname)] = linkname
    h[257:265] = b"ustar\x0000"
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b"%06o\0 " % (sum(h) + checksum_delta)
    return bytes(h)


def tar_entry(name, data=b"", typeflag=b"0", **kw):
    pad = (512 - len(data) % 512) % 512
    return tar_header(name, len(data), typeflag, **kw) + data + b"\0" * pad


def tar(*entries, end=True):
    return b"".join(entries) + (b"\0" * 1024 if end else b"")


def gnu_sparse(name, data, hole):
    """An old-GNU sparse entry ('S'): data at offset 0, then a hole of `hole` bytes."""
    h = bytearray(tar_header(name, len(data), b"S"))
    h[257:265] = b"ustar  \0"  # old GNU magic: its header layout holds the sparse map
    h[386:410] = b"%011o\0%011o\0" % (0, len(data))
    h[483:495] = b"%011o\0" % (len(data) + hole)
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h) + data + b"\0" * ((512 - len(data) % 512) % 512)


def zip_of(*entries, unix_modes=None):
    """A zip of (name, data) pairs; unix_modes maps a name to its st_mode."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if unix_modes and name in unix_modes:
                info.create_system = 3
                info.external_attr = unix_modes[name] << 16
            z.writestr(info, data)
    return buf.getvalue()


def zip_flag_encrypted(data):
    """Set the 'encrypted' bit of the first entry in both of its headers."""
    b = bytearray(data)
    b[6] |= 1
    b[data.index(b"PK\x01\x02") + 8] |= 1
    return bytes(b)


def idx(dtype, dims, payload):
    return bytes([0, 0, dtype, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    import json
    header, offset, body = {}, 0, b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        body += data
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + body


def main():
    os.makedirs(OUT, exist_ok=True)
    # ---- CSV ----
    write("empty.csv", "")
    write("blank_lines.csv", "\n\n  \n")
    write("header_only.csv", "a,b,label\n")
    write("ragged_short.csv", "a,b,label\n1,2,x\n3,y\n")
    write("ragged_long.csv", "a,b,label\n1,2,x\n3,4,5,y\n")
    write("no_such_label.csv", "a,b,label\n1,2,x\n")
    write("duplicate_label.csv", "a,y,y\n1,2,3\n")
    write("non_numeric.csv", "a,b,label\n1,2,x\n1,abc,y\n")
    write("nan.csv", "a,b,label\nNaN,2,x\n")
    write("inf.csv", "a,b,label\n1,2,x\n1,-inf,y\n")
    write("overflow.csv", "a,b,label\n1,1e39,x\n")
    write("missing_value.csv", "a,b,label\n1,,x\n")
    write("missing_label.csv", "a,b,label\n1,2,\n")
    write("too_many_columns.csv", "a,b,c,d,e,label\n1,2,3,4,5,x\n")
    write("unclosed_quote.csv", 'a,b,label\n1,2,x\n1,"2,x\n3,4,y\n')
    write("after_quote.csv", 'a,b,label\n1,"2"x,y\n')
    write("bare_cr.csv", "a,b,label\r1,2,x\r")
    write("numeric_header.csv", "1,2,3\n4,5,6\n")
    write("semicolons.csv", "a;b;label\n1;2;x\n")
    write("latin1.csv", b"a,b,label\n1,2,caf\xe9\n")
    write("latin1_header.csv", b"a,b\xe9,label\n1,2,x\n")
    write("regression_text.csv", "a,b,y\n1,2,3.5\n1,2,cat\n")
    write("sklearn_rows.csv", "3,2,a,b\n1,2,0\n3,4,1\n")
    write("sklearn_index.csv", "2,2,a,b\n1,2,0\n3,4,5\n")
    write("too_many_classes.csv", "a,label\n1,x\n2,y\n3,z\n")
    write("budget.csv", "a,b,label\n" + "".join("%d,%d,x\n" % (i, i) for i in range(5)))
    write("long_line.csv", "a,b,label\n" + "1," * 40 + "x\n")
    write("label_nan.csv", "a,y\n1,2\n2,nan\n")
    write("nul_label.csv", b"a,b\n1,x\n2,x\0y\n")  # fuzzer find: NUL inside a label
    gz = gzip.compress(b"a,b,label\n" + b"1,2,x\n" * 1000, mtime=0)
    write("truncated.csv.gz", gz[:len(gz) // 2])
    write("bad_method.csv.gz", gz[:2] + b"\x07" + gz[3:])
    write("trailing_junk.csv.gz", gz + b"junk")
    write("bomb.csv.gz", gzip.compress(b"a,b,label\n" + b"0" * (4 << 20), mtime=0))
    # ---- not a dataset at all ----
    write("binary.bin", bytes(range(256)) * 4)
    write("image.png", png(4, 4))
    write("archive.zip", b"PK\x03\x04" + b"\0" * 100)
    # ---- zip of images ----
    jpeg_head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # SOI + APP0, then nothing
    write("dotdot.zip", zip_of(("cat/1.png", png(4, 4)), ("../x.png", png(4, 4))))
    write("absolute.zip", zip_of(("/etc/cat/x.png", png(4, 4))))
    write("symlink.zip", zip_of(("cat/1.png", png(4, 4)), ("cat/link.png", b"1.png"),
                                unix_modes={"cat/link.png": 0o120777}))
    write("encrypted.zip", zip_flag_encrypted(zip_of(("cat/1.png", png(4, 4)))))
    whole = zip_of(("cat/1.png", png(4, 4)), ("cat/2.png", png(4, 4)))
    write("truncated.zip", whole[:len(whole) * 2 // 3])
    write("truncated_jpeg.zip", zip_of(("cat/1.jpg", jpeg_head)))
    write("big_entry.zip", zip_of(("cat/1.png", png(4, 4) + b"\0" * 100000)))
    # ---- tar of PNGs ----
    good = png(4, 4)
    write("symlink.tar", tar(tar_entry("cat/1.png", good), tar_entry("cat/link.png", typeflag=b"2", linkname=b"1.png")))
    write("hardlink.tar", tar(tar_entry("cat/1.png", good), tar_entry("cat/2.png", typeflag=b"1", linkname=b"cat/1.png")))
    write("device.tar", tar(tar_entry("cat/null", typeflag=b"3")))
    write("fifo.tar", tar(tar_entry("cat/pipe", typeflag=b"6")))
    write("absolute.tar", tar(tar_entry("/etc/cat/1.png", good)))
    write("dotdot.tar", tar(tar_entry("cat/../../1.png", good)))
    write("top_level.tar", tar(tar_entry("1.png", good)))
    write("empty_class.tar", tar(tar_entry("cat/", typeflag=b"5"), tar_entry("dog/", typeflag=b"5"),
                                 tar_entry("cat/1.png", good), tar_entry("dog/notes.txt", b"text")))
    write("no_images.tar", tar(tar_entry("notes/readme.txt", b"hello")))
    write("empty.tar", tar())
    write("not_png.tar", tar(tar_entry("cat/1.png", b"hello")))
    broken = bytearray(good)
    broken[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    write("bad_crc.tar", tar(tar_entry("cat/1.png", bytes(broken))))
    write("truncated_png.tar", tar(tar_entry("cat/1.png", good[:40])))
    write("truncated.tar", tar(tar_entry("cat/1.png", good), end=False)[:512 + 20])
    write("bad_checksum.tar", tar(tar_entry("cat/1.png", good), tar_header("cat/2.png", 0, checksum_delta=1)))
    write("not_tar.tar", b"this is plain text, not a tar archive\n" * 20)
    write("pixel_bomb.tar", tar(tar_entry("cat/big.png", png(100000, 100000, idat=zlib.compress(b"\0" * 1000)))))
    write("sparse.tar", tar(gnu_sparse("cat/1.png", good, 1 << 20)))
    write("bad_utf8_name.tar", tar(tar_entry(b"cat/caf\xe9.png", good)))
    write("big_entry.tar", tar(tar_entry("cat/1.png", good + b"\0" * 2000)))
    # budgets: 5 images x 64x64 (+ a 4-byte label) pass 10000 bytes before any is decoded
    write("budget.tar", tar(*[tar_entry("cat/%d.png" % i, good) for i in range(5)]))
    write("three_classes.tar", tar(*[tar_entry("%s/1.png" % c, good) for c in ("a", "b", "c")]))
    write("only_hidden.tar", tar(tar_entry("cat/.DS_Store", b"x"), tar_entry("cat/._1.png", b"x")))
    # ---- IDX pairs ----
    images = idx(0x08, [3, 2, 2], bytes(range(12)))
    labels = idx(0x08, [3], bytes([0, 1, 2]))
    write("ok-images-idx3-ubyte", images)
    write("ok-labels-idx1-ubyte", labels)
    write("short-labels-idx1-ubyte", idx(0x08, [2], bytes([0, 1])))
    write("truncated-images-idx3-ubyte", images[:-5])
    write("long-labels-idx1-ubyte", labels + b"xyz")
    write("magic-images-idx3-ubyte", b"\x01" + images[1:])
    write("float-images-idx3-ubyte", idx(0x0D, [3, 2, 2], b"\0" * 48))
    write("zero-images-idx3-ubyte", idx(0x08, [0, 2, 2], b""))
    write("rank2-images-idx2-ubyte", idx(0x08, [3, 4], bytes(12)))
    write("ok-images-idx3-ubyte.gz", gzip.compress(images, mtime=0))
    # headers claiming 2^32-1 images of 28x28: refused from the headers alone
    write("huge-images-idx3-ubyte.gz", gzip.compress(idx(0x08, [2**32 - 1, 28, 28], b""), mtime=0))
    write("huge-labels-idx1-ubyte.gz", gzip.compress(idx(0x08, [2**32 - 1], b""), mtime=0))
    # ---- safetensors ----
    x = bytes(range(12))
    y = struct.pack("<3i", 0, 1, 2)
    write("no_x.safetensors", safetensors([("y", "I32", [3], y)]))
    write("no_y.safetensors", safetensors([("x", "U8", [3, 4], x)]))
    write("x_int64.safetensors", safetensors([("x", "I64", [3, 1], struct.pack("<3q", 1, 2, 3)), ("y", "I32", [3], y)]))
    write("y_rows.safetensors", safetensors([("x", "U8", [3, 4], x), ("y", "I32", [2], y[:8])]))
    write("y_range.safetensors", safetensors([("x", "U8", [3, 4], x), ("y", "I32", [3], y)],
                                             {"classes": '["a", "b"]'}))
    write("y_negative.safetensors", safetensors([("x", "U8", [3, 4], x), ("y", "I32", [3], struct.pack("<3i", 0, -1, 2))]))
    write("bad_classes.safetensors", safetensors([("x", "U8", [3, 4], x), ("y", "I32", [3], y)],
                                                 {"classes": "cat,dog,bird"}))
    write("nhwc.safetensors", safetensors([("x", "U8", [1, 8, 8, 3], bytes(192)), ("y", "I32", [1], y[:4])]))
    write("x_nan.safetensors", safetensors([("x", "F32", [3, 1], struct.pack("<3f", 1, float("nan"), 3)),
                                            ("y", "I32", [3], y)]))
    write("y_bool.safetensors", safetensors([("x", "U8", [3, 4], x), ("y", "BOOL", [3], b"\0\1\0")]))
    good_st = safetensors([("x", "U8", [3, 4], x), ("y", "I32", [3], y)])
    write("truncated.safetensors", good_st[:-4])
    write("budget.safetensors", safetensors([("x", "U8", [100, 8, 8], bytes(6400)), ("y", "I32", [100], bytes(400))]))
    write("gzipped.safetensors", gzip.compress(good_st, mtime=0))


if __name__ == "__main__":
    main()
