"""Differential test of Switchboard's HTTP/1.1 request parser against h11.

A seeded generator writes valid requests and subtly invalid ones (one or two mutations each),
feeds every case to our parser (the `sb-http-parse` harness, one hex line per case) and to
h11 (Connection(SERVER) up to EndOfMessage), and compares the verdict for the first request:
accept / reject / incomplete, and when both accept the method, target, version, headers and
body. A disagreement passes only when a mutation the case carries names a documented difference
(DIFFERENCES) that allows exactly that pair of verdicts and our error message says why; anything
else is a failure. Used by test_http_differential.py (20,000 cases) and
Scripts/http-differential.sh (200,000 by default).
"""
import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field

import h11

# Where h11 is the stricter side, the case must also carry the bytes with the construct undone
# (Case.alt), and h11 must accept those exactly as we accepted the original.
UNDONE = "h11 accepts the same request without the construct"

# id -> (RFC text that allows it, what differs, allowed (ours, h11) verdict pairs, and the proof
# that the difference is the cause: a regex our error message must match, or UNDONE).
# "ours" is always the stricter side except leading-crlf and chunk-ext-bws, where h11 is.
DIFFERENCES = {
    "bare-lf": ("RFC 9112 §2.2 (a recipient MAY accept a bare LF)",
                "h11 takes a bare LF as a line end in the head and trailers; we reject (400)",
                {("reject", "accept"), ("reject", "incomplete")}, r"bare LF"),
    "obs-fold": ("RFC 9112 §5.2 (a server MUST reject obs-fold or replace it with SP)",
                 "h11 unfolds obs-fold; we reject (400)",
                 {("reject", "accept"), ("reject", "incomplete")}, r"folding"),
    "ctl-in-value": ("RFC 9110 §5.5 (CTLs other than HTAB are invalid in field values)",
                     "h11 keeps control bytes other than NUL, VT, FF, CR, LF in field values; we reject (400)",
                     {("reject", "accept"), ("reject", "incomplete")}, r"control character"),
    "cl-te": ("RFC 9112 §6.3 rule 3 (CL with TE ought to be handled as an error)",
              "h11 lets Transfer-Encoding override Content-Length; we reject (400)",
              {("reject", "accept"), ("reject", "incomplete")}, r"both present"),
    "te-http10": ("RFC 9112 §6.1 (TE in an HTTP/1.0 message means faulty framing)",
                  "h11 decodes a chunked HTTP/1.0 request; we reject (400)",
                  {("reject", "accept"), ("reject", "incomplete")}, r"HTTP/1\.0"),
    "cl-duplicate": ("RFC 9110 §8.6 (a recipient MAY reject identical repeated values)",
                     "h11 accepts `Content-Length: 5, 5` and repeated identical fields; we reject (400)",
                     {("reject", "accept"), ("reject", "incomplete")}, r"Content-Length"),
    "body-limit": ("RFC 9110 §15.5.14 (413 Content Too Large)",
                   "h11 has no body limit and waits for the bytes; we answer 413 (body over 1 MiB)",
                   {("reject", "incomplete")}, r"limit"),
    "chunk-size-digits": ("RFC 9112 §7.1 (recipients MUST prevent integer overflow of chunk-size)",
                          "h11 takes up to 20 hex digits; we take at most 16 (400)",
                          {("reject", "accept"), ("reject", "incomplete")}, r"16 hex digits"),
    "header-count": ("RFC 6585 §5 (431 Request Header Fields Too Large)",
                     "h11 has no field-count limit; we allow 100 fields (431)",
                     {("reject", "accept"), ("reject", "incomplete")}, r"header fields"),
    "head-size": ("RFC 6585 §5 / RFC 9112 §3 (414, 431)",
                  "h11 checks its 16 KiB limit only while it waits for more bytes; we check the head (16 KiB, 431) and the request-line (8 KiB target, 414) as they arrive",
                  {("reject", "accept"), ("reject", "incomplete")}, r"larger than|longer than"),
    "host-value": ("RFC 9112 §3.2 (400 for an invalid Host field value)",
                   "h11 does not check the Host value; we require uri-host [ \":\" port ] (400)",
                   {("reject", "accept"), ("reject", "incomplete")}, r"invalid Host"),
    "target-syntax": ("RFC 9112 §3.2, §3.3 (400 for an invalid request-line; RFC 3986 target syntax)",
                      "h11 accepts any VCHAR target; we accept origin-form, http(s) absolute-form and `*` for OPTIONS only, in RFC 3986 characters (400)",
                      {("reject", "accept"), ("reject", "incomplete")}, r"request target|authority"),
    "target-utf8": ("RFC 9110 §15.5.1 (400 for a request the server will not process)",
                    "h11 does not decode the target; we reject %-escapes that do not decode to UTF-8 (400)",
                    {("reject", "accept"), ("reject", "incomplete")}, r"percent-encoding"),
    "version": ("RFC 9110 §15.6.6 (505), RFC 9112 §2.3",
                "h11 accepts any HTTP/d.d; we take HTTP/1.0 and HTTP/1.1 only (505 for other versions, even HTTP/1.2)",
                {("reject", "accept"), ("reject", "incomplete")}, r"version not supported"),
    "chunk-ws": ("RFC 9112 §7.1 (chunk = chunk-size [ chunk-ext ] CRLF)",
                 "h11 allows whitespace before the CRLF of a chunk-size line; we reject (400)",
                 {("reject", "accept"), ("reject", "incomplete")}, r"chunk extension"),
    "chunk-ext-syntax": ("RFC 9112 §7.1.1 (chunk-ext grammar)",
                         "h11 discards anything after `;`; we check the chunk-ext grammar (400)",
                         {("reject", "accept"), ("reject", "incomplete")}, r"chunk extension"),
    "chunk-ext-bws": ("RFC 9112 §7.1.1 (BWS before `;`: a recipient MUST accept and remove it)",
                      "h11 rejects whitespace before the `;` of a chunk extension; we accept it",
                      {("accept", "reject")}, UNDONE),
    "leading-crlf": ("RFC 9112 §2.2 (a server SHOULD ignore at least one empty line before the request-line)",
                     "h11 rejects a CRLF before the request-line; we skip it",
                     {("accept", "reject")}, UNDONE),
}

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PCHAR = ALNUM + b"-._~!$&'()*+,;=:@"
VCHAR = bytes(range(0x21, 0x7F))
CRLF = b"\r\n"


def pick(r, xs):
    return xs[r.randrange(len(xs))]


def rbytes(r, alphabet, lo, hi):
    return bytes(pick(r, alphabet) for _ in range(r.randint(lo, hi)))


class Request:
    """A request as parts, so that mutations can change exactly one thing."""

    def __init__(self, r):
        self.prefix = b""
        self.method = pick(r, [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS", b"get", b"M-SEARCH", rbytes(r, TCHAR, 1, 8)])
        self.target = self.gen_target(r)
        self.version = b"HTTP/1.1" if r.random() < 0.85 else b"HTTP/1.0"
        # Each field: [name, value, leading OWS, trailing OWS, line end].
        self.fields = []
        if self.version == b"HTTP/1.1" or r.random() < 0.5:
            self.fields.append([pick(r, [b"Host", b"host", b"HOST"]), pick(r, [b"x", b"example.com", b"127.0.0.1:3001", b"[::1]:8080", b"", b"a.b-c_d~e%41"]), b" ", b"", CRLF])
        for _ in range(r.randint(0, 6)):
            self.fields.append([self.gen_name(r), self.gen_value(r), pick(r, [b" ", b"", b"\t", b"  "]), pick(r, [b"", b"", b" ", b"\t "]), CRLF])
        r.shuffle(self.fields)
        self.line_end = CRLF   # after the request-line
        self.head_end = CRLF   # the empty line
        self.framing = pick(r, ["none", "none", "length", "chunked"])
        self.body = rbytes(r, bytes(range(256)), 0, 40)
        self.chunks = []       # [size, ext, line end, data, data end]
        self.last_chunk = [b"0", b"", CRLF]
        self.trailers = []     # [line, line end]
        self.final = CRLF
        if self.framing == "length":
            self.fields.append([b"Content-Length", str(len(self.body)).encode(), b" ", b"", CRLF])
        elif self.framing == "chunked":
            if self.version == b"HTTP/1.0":
                self.version = b"HTTP/1.1"
                if not any(f[0].lower() == b"host" for f in self.fields):
                    self.fields.append([b"Host", b"x", b" ", b"", CRLF])
            self.fields.append([b"Transfer-Encoding", pick(r, [b"chunked", b"Chunked", b"CHUNKED"]), b" ", b"", CRLF])
            for _ in range(r.randint(0, 4)):
                data = rbytes(r, bytes(range(256)), 1, 20)
                ext = pick(r, [b"", b"", b"", b";a", b";a=b", b';name="quoted \\" value"', b";a=1;b=2", b"; a = b"])
                self.chunks.append([b"%x" % len(data) if r.random() < 0.7 else b"%X" % len(data), ext, CRLF, data, CRLF])
            for _ in range(pick(r, [0, 0, 1, 2])):
                self.trailers.append([self.gen_name(r) + b": " + self.gen_value(r), CRLF])
        self.tail = pick(r, [b"", b"", b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n", b"garbage\x00\n", b"\r\n"])
        self.undo = []  # how to take back what only h11 rejects (see UNDONE)

    @staticmethod
    def gen_target(r):
        if r.random() < 0.05:
            return b"http://example.com:8080/a/b?c=d" if r.random() < 0.5 else b"https://x/"
        path = b"".join(b"/" + rbytes(r, PCHAR, 0, 8) for _ in range(r.randint(1, 3)))
        if r.random() < 0.2:
            path += pick(r, [b"%20", b"%C3%A9", b"%2F"])
        if r.random() < 0.4:
            path += b"?" + rbytes(r, PCHAR + b"/?", 0, 12)
        return path

    @staticmethod
    def gen_name(r):
        return pick(r, [b"Accept", b"User-Agent", b"X-Custom", b"Cookie", b"Cache-Control", b"Accept-Encoding", b"Connection",
                        b"Expect", rbytes(r, TCHAR, 1, 12)])

    @staticmethod
    def gen_value(r):
        value = rbytes(r, VCHAR + b"  \t", 0, 24).strip(b" \t")
        if r.random() < 0.1:
            value += pick(r, ["é".encode(), "☃".encode(), b"\xff\xfe", b"\xc3"])  # obs-text, sometimes not UTF-8
        return value

    def field(self, name):
        return [f for f in self.fields if f[0].lower() == name]

    def serialize(self):
        out = [self.prefix, self.method, b" ", self.target, b" ", self.version, self.line_end]
        for name, value, pre, post, end in self.fields:
            out += [name, b":", pre, value, post, end]
        out.append(self.head_end)
        if self.framing == "chunked":
            for size, ext, end, data, data_end in self.chunks:
                out += [size, ext, end, data, data_end]
            out += self.last_chunk
            for line, end in self.trailers:
                out += [line, end]
            out.append(self.final)
        elif self.framing == "length":
            out.append(self.body)
        out.append(self.tail)
        return b"".join(out)


# Mutations: each changes the request (or returns False when it does not apply) and returns the
# tag of the documented difference it may cause, or "" when h11 and we must agree.

def m_bare_lf(r, q):
    spots = ["line_end", "head_end"] + [i for i in range(len(q.fields))]
    if q.framing == "chunked":
        spots += ["chunk", "last", "trailer", "final"]
    spot = pick(r, spots)
    if isinstance(spot, int):
        q.fields[spot][4] = b"\n"
    elif spot in ("line_end", "head_end"):
        setattr(q, spot, b"\n")
    elif spot == "chunk" and q.chunks:
        pick(r, q.chunks)[2] = b"\n"
    elif spot == "trailer" and q.trailers:
        pick(r, q.trailers)[1] = b"\n"
    elif spot == "last":
        q.last_chunk[2] = b"\n"
    elif spot == "final":
        q.final = b"\n"
    else:
        return False
    return "bare-lf"


def m_bare_cr(r, q):
    if q.fields and r.random() < 0.5:
        f = pick(r, q.fields)
        if r.random() < 0.5:
            f[4] = b"\r"
        else:
            f[1] = f[1] + b"\rX"
    else:
        q.line_end = b"\r"
    return ""


def m_obs_fold(r, q):
    i = r.randint(0, len(q.fields))
    q.fields.insert(i, [pick(r, [b" ", b"\t", b"  "]) + rbytes(r, TCHAR, 1, 6), b"", b"", b"", CRLF])
    q.fields[i][0] = q.fields[i][0]  # the fold line is serialized as "<ws>token:" + value below
    q.fields[i][1] = b"folded"
    return "obs-fold"


def m_trailer_fold(r, q):
    if q.framing != "chunked":
        return False
    q.trailers.append([pick(r, [b" ", b"\t"]) + b"folded", CRLF])
    return "obs-fold"


def m_space_before_colon(r, q):
    if not q.fields:
        return False
    f = pick(r, q.fields)
    f[0] += pick(r, [b" ", b"\t"])
    return ""


def m_bad_name(r, q):
    if not q.fields:
        return False
    f = pick(r, q.fields)
    bad = pick(r, [b'"', b"(", b")", b",", b"/", b";", b"<", b"=", b">", b"?", b"@", b"[", b"\\", b"]", b"{", b"}", b"\x01", b"\x7f", b"\x80", b"\xc3\xa9", b""])
    at = r.randint(0, len(f[0]))
    f[0] = f[0][:at] + bad + f[0][at:] if bad else b""
    return ""


def m_ctl_in_value(r, q):
    if not q.fields:
        return False
    f = pick(r, q.fields)
    ctl = bytes([pick(r, list(range(0, 9)) + [0x0B, 0x0C] + list(range(0x0E, 0x20)) + [0x7F])])
    at = r.randint(0, len(f[1]))
    f[1] = f[1][:at] + ctl + f[1][at:]
    return "ctl-in-value"


def m_trailer_bad(r, q):
    if q.framing != "chunked":
        return False
    line = pick(r, [b"X : y", b"NoColon", b": v", b"X\x7f: y", b"X(: y", b"X: a\x01b"])
    q.trailers.insert(r.randint(0, len(q.trailers)), [line, CRLF])
    return "ctl-in-value" if b"\x01" in line else ""


def m_cl_te(r, q):
    if not q.field(b"content-length"):
        q.fields.append([b"Content-Length", pick(r, [b"0", b"5", b"100"]), b" ", b"", CRLF])
    if not q.field(b"transfer-encoding"):
        q.fields.append([b"Transfer-Encoding", b"chunked", b" ", b"", CRLF])
    r.shuffle(q.fields)
    return "cl-te"


def m_te_http10(r, q):
    if q.framing != "chunked":
        return False
    q.version = b"HTTP/1.0"
    return "te-http10"


def m_cl_duplicate(r, q):
    if q.framing != "length" or not q.field(b"content-length"):
        return False
    n = str(len(q.body)).encode()
    if r.random() < 0.5:
        q.fields.append([b"Content-Length", n, b" ", b"", CRLF])
    else:
        q.field(b"content-length")[0][1] = n + pick(r, [b", ", b",", b" , "]) + n
    return "cl-duplicate"


def m_cl_different(r, q):
    if q.framing != "length" or not q.field(b"content-length"):
        return False
    n = len(q.body)
    if r.random() < 0.5:
        q.fields.append([b"Content-Length", str(n + 1).encode(), b" ", b"", CRLF])
    else:
        q.field(b"content-length")[0][1] = b"%d, %d" % (n, n + 1)
    return ""


def m_cl_malformed(r, q):
    if q.framing != "length" or not q.field(b"content-length"):
        return False
    n = str(len(q.body)).encode()
    q.field(b"content-length")[0][1] = pick(r, [b"+" + n, b"-" + n, n + b"a", b"", b"0x" + n, n + b" " + n, n + b".0", b"1e3", b"\xd9\xa5", b"1" * 21])
    return ""


def m_cl_leading_zeros(r, q):
    if q.framing != "length" or not q.field(b"content-length"):
        return False
    f = q.field(b"content-length")[0]
    f[1] = b"0" * r.randint(1, max(1, 22 - len(f[1]))) + f[1]   # up to 22 digits: over 20 both reject
    return ""


def m_cl_huge(r, q):
    if q.framing != "length" or not q.field(b"content-length"):
        return False
    q.field(b"content-length")[0][1] = pick(r, [b"2000000", b"1048577", b"99999999999999999999", b"18446744073709551616"])
    return "body-limit"


def m_te_value(r, q):
    if q.framing != "chunked" or not q.field(b"transfer-encoding"):
        return False
    value = pick(r, [b"gzip", b"gzip, chunked", b"chunked, gzip", b"chunked, chunked", b", chunked", b"chunked,", b"chunked;a=b",
                     b"identity", b"x-custom, chunked", b'gzip;q="1,2", chunked', b"chunked ,", b"deflate,chunked", b"\"chunked\""])
    q.field(b"transfer-encoding")[0][1] = value
    return ""


def m_te_twice(r, q):
    if q.framing != "chunked":
        return False
    q.fields.append([b"Transfer-Encoding", pick(r, [b"chunked", b"gzip"]), b" ", b"", CRLF])
    return ""


def undo_bws(chunk):
    """Whitespace between a chunk size and its extensions removed (run after all mutations)."""
    chunk[0], chunk[1] = chunk[0].rstrip(b" \t"), chunk[1].lstrip(b" \t")


def m_chunk_size_bad(r, q):
    if q.framing != "chunked" or not q.chunks:
        return False
    c = pick(r, q.chunks)
    s = c[0]
    variant = r.randrange(8)
    c[0] = [b"-" + s, b"+" + s, b" " + s, b"0x" + s, s + b" ", s + b"\t", b"", b"g"][variant]
    if variant in (4, 5):  # whitespace then CRLF is not allowed; whitespace then ";" is BWS
        if not c[1]:
            return "chunk-ws"
        q.undo.append(lambda c=c: undo_bws(c))
        return "chunk-ext-bws"
    return ""


def m_chunk_size_zeros(r, q):
    if q.framing != "chunked":
        return False
    c = pick(r, q.chunks) if q.chunks else q.last_chunk
    c[0] = b"0" * r.randint(1, max(1, 22 - len(c[0]))) + c[0]
    return "chunk-size-digits"


def m_chunk_size_huge(r, q):
    if q.framing != "chunked" or not q.chunks:
        return False
    size = pick(r, [b"ffffffffffff", b"100001", b"ffffffffffffffff", b"fffffffffffffffff"])
    pick(r, q.chunks)[0] = size
    return "chunk-size-digits" if len(size) > 16 else "body-limit"


def m_chunk_ext_bws(r, q):
    if q.framing != "chunked":
        return False
    c = pick(r, q.chunks) if q.chunks else q.last_chunk
    c[1] = pick(r, [b" ;a=b", b"\t;a", b" ; a = \"v\""])
    q.undo.append(lambda c=c: undo_bws(c))
    return "chunk-ext-bws"


def m_chunk_ext_bad(r, q):
    if q.framing != "chunked":
        return False
    c = pick(r, q.chunks) if q.chunks else q.last_chunk
    c[1] = pick(r, [b";", b";=b", b";a=", b';a="x', b";a=b c", b";a\x01", b";a=\x7f", b";a=b;", b";a=b ", b";a==b",
                    b';a="\x00"', b";\xff", b";a\rb", b";a=\"\\\x01\""])
    return "chunk-ext-syntax"


def m_chunk_data_len(r, q):
    if q.framing != "chunked" or not q.chunks:
        return False
    c = pick(r, q.chunks)
    c[3] = c[3] + b"x" if r.random() < 0.5 else c[3][:-1]
    return ""


def m_missing_host(r, q):
    q.fields = [f for f in q.fields if f[0].lower() != b"host"]
    return ""


def m_duplicate_host(r, q):
    q.fields.insert(r.randint(0, len(q.fields)), [b"Host", pick(r, [b"x", b"y", b""]), b" ", b"", CRLF])
    return ""


def m_bad_host(r, q):
    hosts = q.field(b"host")
    if not hosts:
        return False
    hosts[0][1] = pick(r, [b"exa mple.com", b"x/y", b"a@b", b"[::1", b"x:8o", b"x:80:80", b"<x>", b"x\\y", b'"x"', b"x?y", b"x#y", b"[]", b"%zz"])
    return "host-value"


def m_bad_method(r, q):
    q.method = pick(r, [b"G(T", b"GE\x01T", b"G\xffT", b"GET/", b"G@T", b"G:T", b"", b"G{T"])
    return ""


def m_bad_target(r, q):
    target, tag = pick(r, [
        (b"nopath", "target-syntax"), (b"/a\"b", "target-syntax"), (b"/a<b", "target-syntax"), (b"/a>b", "target-syntax"),
        (b"/a{b}", "target-syntax"), (b"/a|b", "target-syntax"), (b"/a\\b", "target-syntax"), (b"/a^b", "target-syntax"),
        (b"/a`b", "target-syntax"), (b"/a#frag", "target-syntax"), (b"/%zz", "target-syntax"), (b"/%", "target-syntax"),
        (b"/%4", "target-syntax"), (b"/?q=%g0", "target-syntax"), (b"example.com:443", "target-syntax"), (b"http:///x", "target-syntax"),
        (b"ftp://x/y", "target-syntax"), (b"http://u@x/y", "target-syntax"), (b"*", "target-syntax"), (b"/[x]", "target-syntax"),
        (b"/%ff", "target-utf8"), (b"/?a=%c3", "target-utf8"),
        (b"/a b", ""), (b"/a\tb", ""), (b"/\x00", ""), ("/é".encode(), ""), (b"", ""), (b"http\x1a//x/", ""), (b"/a\x7fb", ""),
        (b"\x01/", ""), (b"http://x/\x0b", ""),
    ])
    if target == b"*" and q.method == b"OPTIONS":
        q.method = b"GET"
    q.target = target
    return tag


def m_good_target(r, q):
    q.target, method = pick(r, [(b"*", b"OPTIONS"), (b"//x", None), (b"/a/../b", None), (b"HTTP://Example.COM/x", None),
                                (b"http://[::1]:80/p?q", None), (b"/~user/!$&'()*+,;=:@", None), (b"/?/?", None)])
    if method:
        q.method = method
    return ""


def m_bad_version(r, q):
    v = pick(r, [b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0", b"HTTP/9.9",
                 b"http/1.1", b"HTTP/1.10", b"HTTP/1", b"HTTP/ 1.1", b"HTTP/1.1 ", b"HTTP/11", b"HTTPS/1.1", b"HTTP/1.a", b""])
    q.version = v
    return "version" if re.fullmatch(rb"HTTP/\d\.\d", v) else ""


def m_request_line_ws(r, q):
    variant = r.randrange(4)
    if variant == 0:
        q.method += b" "
    elif variant == 1:
        q.prefix = b" "
    elif variant == 2:
        q.target = q.target + b"\t"
    else:
        q.target += b" "
    return ""


def m_many_headers(r, q):
    for i in range(r.randint(90, 130)):
        q.fields.append([b"X-H%d" % i, b"v", b" ", b"", CRLF])
    return "header-count"


def m_big_head(r, q):
    if r.random() < 0.5:
        q.fields.append([b"X-Big", b"a" * r.randint(16200, 16500), b" ", b"", CRLF])
    else:
        q.target = b"/" + b"a" * r.randint(8150, 8300)
    return "head-size"


def m_leading_crlf(r, q):
    q.prefix = pick(r, [b"\r\n", b"\r\n\r\n", b"\n", b"\r"])
    if q.prefix.startswith(b"\r\n"):
        q.undo.append(lambda: setattr(q, "prefix", b""))
    return "leading-crlf" if q.prefix in (b"\r\n", b"\r\n\r\n") else "bare-lf" if q.prefix == b"\n" else ""


def m_value_whitespace(r, q):
    fields = [f for f in q.fields if f[0].lower() != b"host"]
    if not fields:
        return False
    f = pick(r, fields)
    f[1] = b"a\tb  c" if r.random() < 0.5 else b""
    f[2], f[3] = pick(r, [b"", b" ", b"\t\t"]), pick(r, [b"", b" \t", b"\t"])
    return ""


def m_truncate(r, q):
    q.truncate = True
    return ""


# Timing, not a difference: one side rejects at the first bad byte, the other waits for the rest
# of the line or head. Such a case is settled by completing it (the untruncated request, and the
# bytes plus CRLFCRLF) and comparing again: when one completion is accepted by one side only,
# that pair must be a documented difference; otherwise both rejecting one completion settles it
# as "early-reject"; otherwise the pair for the first completion must agree or be documented.
TIMING = {
    "early-reject": ("RFC 9112 §2.2, §5 (nothing requires waiting for the whole head to reject it)",
                     "we reject at the first invalid byte (and h11 at a first byte below 0x21); the other side waits for the line or head to end, and rejects once the bytes are completed"),
}


def completions(case):
    return ([case.full] if case.full != case.data else []) + [case.data + b"\r\n\r\n"]


def settle(case, pairs):
    for o, t in pairs:
        if "accept" in (o["verdict"], t["verdict"]) and o["verdict"] != t["verdict"]:
            return classify(case, o, t)
    if any(o["verdict"] == t["verdict"] == "reject" for o, t in pairs):
        return "early-reject"
    return classify(case, *pairs[0])


MUTATIONS = [m_bare_lf, m_bare_cr, m_obs_fold, m_trailer_fold, m_space_before_colon, m_bad_name, m_ctl_in_value, m_trailer_bad,
             m_cl_te, m_te_http10, m_cl_duplicate, m_cl_different, m_cl_malformed, m_cl_leading_zeros, m_cl_huge, m_te_value,
             m_te_twice, m_chunk_size_bad, m_chunk_size_zeros, m_chunk_size_huge, m_chunk_ext_bws, m_chunk_ext_bad,
             m_chunk_data_len, m_missing_host, m_duplicate_host, m_bad_host, m_bad_method, m_bad_target, m_good_target,
             m_bad_version, m_request_line_ws, m_value_whitespace, m_leading_crlf, m_truncate]
RARE = [m_many_headers, m_big_head]   # large cases, kept rare so a run stays fast


@dataclass
class Case:
    data: bytes
    mutations: list
    tags: set
    full: bytes
    alt: bytes  # with q.undo applied: the request as h11 would take it


def generate(r):
    q = Request(r)
    q.truncate = False
    names, tags = [], set()
    count = pick(r, [0, 0, 0, 1, 1, 1, 1, 2, 2])
    while len(names) < count:
        m = pick(r, RARE) if r.random() < 0.01 else pick(r, MUTATIONS)
        tag = m(r, q)
        if tag is False:
            continue
        names.append(m.__name__[2:])
        if tag:
            tags.add(tag)
    # Mutations can combine into a fold (a field whose name became empty, then got a space).
    if any(line[:1] in (b" ", b"\t") for line in [f[0] for f in q.fields] + [t[0] for t in q.trailers]):
        tags.add("obs-fold")
    if q.undo and q.truncate:  # the undone bytes must be the same request: keep it whole
        q.truncate = False
        names.remove("truncate")
    full = q.serialize()
    data = full[:r.randrange(len(full))] if q.truncate else full
    for undo in q.undo:
        undo()
    return Case(data, names, tags, full, q.serialize())


def h11_verdict(data):
    conn = h11.Connection(h11.SERVER)
    if data:  # receive_data(b"") would mean end of stream
        conn.receive_data(data)
    request, body = None, bytearray()
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return {"verdict": "incomplete"}
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return {"verdict": "accept", "method": request.method, "target": request.target,
                        "version": request.http_version.decode(), "headers": [(n, v) for n, v in request.headers], "body": bytes(body)}
            else:
                return {"verdict": "unexpected", "event": repr(event)}
    except h11.RemoteProtocolError as e:
        return {"verdict": "reject", "status": e.error_status_hint, "message": str(e)}


def our_verdicts(harness, datas):
    proc = subprocess.run([harness], input=b"".join(d.hex().encode() + b"\n" for d in datas),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, timeout=600)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(datas), f"harness answered {len(lines)} lines for {len(datas)} cases"
    out = []
    for line in lines:
        v = json.loads(line)
        if v["verdict"] == "accept":
            v = {"verdict": "accept", "method": bytes.fromhex(v["method"]), "target": bytes.fromhex(v["target"]), "version": v["version"],
                 "headers": [(bytes.fromhex(n), bytes.fromhex(x)) for n, x in v["headers"]], "body": bytes.fromhex(v["body"])}
        out.append(v)
    return out


def lossy(value):
    """h11's value as our parser holds it: a Swift String, invalid UTF-8 replaced by U+FFFD."""
    return value.decode("utf-8", "replace").encode("utf-8")


def classify(case, ours, theirs):
    """'agree', a documented difference id, or None (a failure)."""
    o, t = ours["verdict"], theirs["verdict"]
    if o == t == "accept":
        return same_request(ours, theirs)
    if o == t:
        return "agree"
    for tag in sorted(case.tags):
        _, _, allowed, proof = DIFFERENCES[tag]
        if (o, t) not in allowed:
            continue
        if proof is UNDONE:
            if o == "accept" and h11_verdict(case.alt)["verdict"] == "accept" and same_request(ours, h11_verdict(case.alt)):
                return tag
        elif re.search(proof, ours.get("message", "")):
            return tag
    return None


def same_request(ours, theirs):
    """'agree', 'value-utf8' or None for two accepted requests."""
    # h11 lowercases Transfer-Encoding values; the same on our side is not a difference.
    ours = dict(ours, headers=[(n, v.lower() if n == b"transfer-encoding" else v) for n, v in ours["headers"]])
    if ours == theirs:
        return "agree"
    normalized = dict(theirs, headers=[(n, lossy(v)) for n, v in theirs["headers"]])
    if ours == normalized:
        return "value-utf8"
    return None


# Not a parser difference but a representation one, found by comparing, not by a mutation tag.
REPRESENTATION = {
    "value-utf8": ("RFC 9110 §5.5 (obs-text is opaque data)",
                   "our header values are Swift Strings: bytes that are not UTF-8 read as U+FFFD; compared after the same replacement"),
}


@dataclass
class Summary:
    cases: int = 0
    agree: int = 0
    documented: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)

    @property
    def documented_total(self):
        return sum(self.documented.values())

    def line(self):
        return (f"http differential: {self.cases} cases, {self.agree} agree, {self.documented_total} documented differences, "
                f"{len(self.failures)} failures")


def run(n, seed, harness, batch=10000):
    r = random.Random(seed)
    summary = Summary()
    done = 0
    while done < n:
        cases = [generate(r) for _ in range(min(batch, n - done))]
        ours = our_verdicts(harness, [c.data for c in cases])
        theirs = [h11_verdict(c.data) for c in cases]
        timing = [i for i, (o, t) in enumerate(zip(ours, theirs)) if {o["verdict"], t["verdict"]} == {"reject", "incomplete"}]
        extra = [(i, data) for i in timing for data in completions(cases[i])]
        verdicts = our_verdicts(harness, [data for _, data in extra]) if extra else []
        completed = {}
        for (i, data), o in zip(extra, verdicts):
            completed.setdefault(i, []).append((o, h11_verdict(data)))
        for i, (case, o, t) in enumerate(zip(cases, ours, theirs)):
            if i in completed:
                verdict = settle(case, completed[i])
                o, t = completed[i][0]
            else:
                verdict = classify(case, o, t)
            summary.cases += 1
            if verdict == "agree":
                summary.agree += 1
            elif verdict:
                summary.documented[verdict] = summary.documented.get(verdict, 0) + 1
            else:
                summary.failures.append((case, o, t, i in completed))
        done += len(cases)
    return summary


def describe(failure):
    case, ours, theirs, completed = failure
    return (f"mutations {case.mutations} tags {sorted(case.tags)}\n  bytes  {case.data[:400]!r}\n"
            f"  (verdicts for {'the completed bytes' if completed else 'these bytes'})\n  ours   {ours}\n  h11    {theirs}")


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 200000
    seed = int(os.environ.get("SEED", "9112"))
    harness = os.environ["SB_HTTP_PARSE"]
    summary = run(n, seed, harness)
    print(f"seed {seed}; documented differences seen:")
    for tag, count in sorted(summary.documented.items()):
        rfc, what = (DIFFERENCES.get(tag) or REPRESENTATION.get(tag) or TIMING[tag])[:2]
        print(f"  {tag:18} {count:7}  {what} [{rfc}]")
    for failure in summary.failures[:20]:
        print("FAILURE " + describe(failure))
    print(summary.line())
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
