"""Helpers of tests/api/test_security.py: the operations docs/openapi.yaml
lists, and file trees, file-name searches and hostile tar archives for the
"no file path from client input" review.

Not a test file (tests/run.sh runs only test_*.py)."""
import io
import os
import re
import tarfile

from harness import ROOT

SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
METHODS = ("get", "post", "put", "patch", "delete")


# ---- the spec's operations (PyYAML when there, else a small line parser) ----

def spec_operations():
    """[(METHOD, path template, open)]: open = the operation has `security: []`."""
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml:
        with open(SPEC_PATH) as f:
            spec = yaml.safe_load(f)
        return [(m.upper(), path, op.get("security") == []) for path, item in spec["paths"].items()
                for m, op in item.items() if m in METHODS]
    ops, path, method = [], None, None
    with open(SPEC_PATH) as f:
        lines = f.read().split("\n")
    in_paths = False
    for line in lines:
        if re.match(r"^\S", line):
            in_paths = line.startswith("paths:")
            continue
        if not in_paths:
            continue
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        m = re.match(r"^    (%s):\s*$" % "|".join(METHODS), line)
        if m and path:
            method = m.group(1)
            ops.append([method.upper(), path, False])
            continue
        if re.match(r"^      security: \[\]\s*$", line) and ops and ops[-1][1] == path:
            ops[-1][2] = True
    return [tuple(o) for o in ops]


# ---- file trees ----

def tree(root):
    """{relative path: (is_dir, size)} of everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (os.path.isdir(p), st.st_size if n in files else 0)
    return out


def marker_hits(marker, roots):
    hits = []
    for root in roots:
        for d, dirs, files in os.walk(root):
            if d.count(os.sep) - root.count(os.sep) > 4:
                dirs[:] = []
                continue
            hits += [os.path.join(d, n) for n in dirs + files if marker in n]
    return hits


def tar_bytes(entries):
    """A tar of (name, bytes) regular files, plus symlink and hardlink members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):  # (type, target)
                info.type, info.linkname = data
            else:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if not isinstance(data, tuple) else None)
    return buf.getvalue()

