"""The wire side of the bad-request corpus (tests/api/test_bad_requests.py,
also used by test_security.py): raw HTTP over sockets, what docs/openapi.yaml
documents for each operation, and one Case of the corpus with its check.

Requests go over raw sockets (Connection: close, read to EOF) so that a case
can send bytes no HTTP library would: invalid UTF-8 in the request line, a
wrong Content-Length, garbage after the body.

Not a test file (tests/run.sh runs only test_*.py)."""
import collections
import json
import os
import re
import socket
import urllib.parse

import yaml

from harness import ROOT, check

DEFAULT_PORT = None  # the port exchange() talks to when given none (set by test_bad_requests.setup)
STATUSES = collections.Counter()
REQUESTS = [0]

with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
    SPEC = yaml.safe_load(f)
INFO = SPEC["info"]["description"]
# Answers any route can give, listed in the spec's conventions: "404 `unknown_route`", ...
GLOBAL = {(int(s), c) for s, c in re.findall(r"\b(\d{3}) `([a-z_]+)`", INFO)}
# Statuses the HTTP layer answers itself (not the error envelope), documented in the conventions.
HTTP_LAYER = {int(s) for s in re.findall(r"\b(\d{3})\b", INFO.split("HTTP layer", 1)[1].split("\n- ")[0])} \
    if "HTTP layer" in INFO else set()


# ---- raw HTTP ----

def enc(s):
    return s if isinstance(s, bytes) else s.encode()


def build(method, path, headers=(), body=None, length=None):
    """A raw HTTP/1.1 request; Content-Length from the body unless given."""
    lines = [enc(method) + b" " + enc(path) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [enc(k) + b": " + enc(v) for k, v in headers]
    if body is not None or length is not None:
        lines.append(b"Content-Length: %d" % (len(body or b"") if length is None else length))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def parse_responses(buf):
    """Every HTTP response in buf (a pipelined exchange read to EOF)."""
    out = []
    while buf.startswith(b"HTTP/1."):
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", len(rest)))
        out.append(Resp(int(lines[0].split()[1]), headers, rest[:n]))
        buf = rest[n:]
    return out


def exchange(data, port=None, timeout=15, shut_write=False):
    """Send raw bytes, read until the server closes; returns the responses."""
    sock = socket.create_connection(("127.0.0.1", port or DEFAULT_PORT), timeout=timeout)
    buf = b""
    try:
        try:
            sock.sendall(data)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (413, 431) and closed: read the answer
        while True:
            got = sock.recv(65536)
            if not got:
                break
            buf += got
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    REQUESTS[0] += 1
    return parse_responses(buf)


# ---- the spec: which statuses and codes an operation documents ----

def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operation(method, path):
    """(template, operation) of the spec for a request path, or (None, None)."""
    if isinstance(path, bytes):
        path = path.decode("latin-1")
    plain = urllib.parse.unquote(path.split("?")[0], errors="replace")
    for template, item in SPEC["paths"].items():
        if re.fullmatch(re.sub(r"\{[a-z]+\}", "[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")),
                        plain):
            op = item.get({"HEAD": "get"}.get(method, method.lower()))
            if op:
                return template, op
    return None, None


def documented_codes(op, status):
    resp = resolve(op["responses"].get(str(status))) if op else None
    if not resp:
        return None
    codes = set(re.findall(r"`([a-z_]+)`", resp.get("description", "")))
    for content in resp.get("content", {}).values():
        examples = [content.get("example")] + [resolve(e).get("value") for e in content.get("examples", {}).values()]
        codes |= {e["error"]["code"] for e in examples if isinstance(e, dict) and "error" in e}
    return codes


def check_documented(method, path, r):
    """The answer is one the spec documents: the operation's own statuses and
    codes, or one of the conventions' answers every route can give."""
    template, op = operation(method, path)
    if "json" not in r.headers.get("content-type", ""):
        check(r.status in HTTP_LAYER, "%s %s: %d without the error envelope, not documented as an HTTP-layer "
                                      "answer (%r)" % (method, path[:80], r.status, sorted(HTTP_LAYER)))
        return
    code = r.json()["error"]["code"]
    if (r.status, code) in GLOBAL:
        return
    codes = documented_codes(op, r.status)
    check(codes is not None, "%s %s (%s): status %d is not documented" % (method, path[:80], template, r.status))
    check(code in codes, "%s %s (%s): %d code %r is not documented (documented: %r)"
          % (method, path[:80], template, r.status, code, sorted(codes)))


# ---- cases ----

class Case:
    """One request of the corpus and its documented answer. expect: a status
    or a set of statuses (None in the set: the server may close without
    answering); code / param: the error envelope's, when given."""

    def __init__(self, name, method, path, body=None, headers=(), expect=400, code=None, param=None,
                 ctype="default", raw=None):
        self.name, self.method, self.path = name, method, path
        self.expect = expect if isinstance(expect, (set, frozenset)) else {expect}
        self.code, self.param = code, param
        if isinstance(body, (dict, list)) or body in (True, False) or isinstance(body, (int, float)):
            body = json.dumps(body)
        self.body = enc(body) if body is not None else None
        headers = list(headers)
        if ctype == "default":
            ctype = "application/json" if self.body is not None and method == "POST" else None
        if ctype:
            headers.append(("Content-Type", ctype))
        self.raw = raw if raw is not None else build(method, path, headers, self.body)

    def run(self, port=None):
        responses = exchange(self.raw, port=port)
        r = responses[0] if responses else None
        return r

    def verify(self, r):
        where = "%s: %s %s" % (self.name, self.method, self.path[:100])
        if r is None:
            check(None in self.expect, where + ": the server closed the connection without an answer")
            STATUSES["closed"] += 1
            return
        STATUSES[r.status] += 1
        # Never a server error; 505 is the standard answer to an HTTP version
        # other than 1.x, where a case expects it.
        check(r.status < 500 or (r.status == 505 and 505 in self.expect), where + ": %r" % r)
        check(r.status in self.expect, where + ": expected %r, got %r" % (sorted(self.expect, key=str), r))
        if "json" in r.headers.get("content-type", "") and r.status >= 400:
            err = r.json()["error"]
            check(set(err) == {"message", "type", "param", "code"}, where + ": envelope %r" % err)
            check(err["message"], where + ": empty message")
            if self.code:
                check(err["code"] == self.code, where + ": code %r, expected %r (%r)" % (err["code"], self.code, r))
            if self.param is not None:
                got = err["param"] or ""
                ok = self.param(got) if callable(self.param) else got == self.param
                check(ok, where + ": param %r (%r)" % (got, r))
        if r.status >= 400:
            check_documented(self.method, self.path, r)
