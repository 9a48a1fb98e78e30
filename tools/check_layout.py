#!/usr/bin/python3
"""The house rules that a machine can check (docs/architecture.md):
- no two source files call each other, directly or around a longer circle,
  and no two folders either (server/ itself, the composition root, aside);
- core/ calls nothing in server/;
- no C source or header is over 600 lines.
Calls are read from the built objects (`nm`): each object's undefined
symbols against the others' definitions. Usage: check_layout.py [BUILD_DIR]
(default build); prints the problems, exits 1 if there are any."""
import collections
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 600


def call_graph(build):
    objs = [o for d in ("core", "server") for o in glob.glob(os.path.join(build, d, "**", "*.o"), recursive=True)]
    sources = {o: os.path.relpath(o, build)[:-2] + ".c" for o in objs}
    objs = [o for o in objs if os.path.exists(os.path.join(ROOT, sources[o]))]  # stale objects of removed files
    defined, undefined = {}, collections.defaultdict(set)
    for o in objs:
        for line in subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBR":
                defined[f[2]] = sources[o]
            elif len(f) == 2 and f[0] == "U":
                undefined[sources[o]].add(f[1])
    graph = collections.defaultdict(set)
    for src, names in undefined.items():
        graph[src] |= {defined[n] for n in names if n in defined and defined[n] != src}
    return graph


def circles(graph):
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def problems(build):
    graph = call_graph(build)
    out = ["files calling each other: " + ", ".join(c) for c in circles(graph)]
    folders = collections.defaultdict(set)
    for a, bs in graph.items():
        for b in bs:
            fa, fb = os.path.dirname(a), os.path.dirname(b)
            if fa.startswith("core") and fb.startswith("server"):
                out.append("core calls server: %s -> %s" % (a, b))
            if fa != fb and "server" not in (fa, fb):
                folders[fa].add(fb)
    out += ["folders calling each other: " + ", ".join(c) for c in circles(folders)]
    tracked = subprocess.run(["git", "-C", ROOT, "ls-files", "*.c", "*.h"],
                             capture_output=True, text=True, check=True).stdout.split()
    for path in tracked:
        with open(os.path.join(ROOT, path), errors="replace") as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            out.append("%s has %d lines (at most %d)" % (path, n, MAX_LINES))
    return out


if __name__ == "__main__":
    found = problems(os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else "build"))
    for p in found:
        print(p)
    sys.exit(1 if found else 0)
