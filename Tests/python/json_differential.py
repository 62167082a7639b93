"""Differential test of Switchboard's JSON scanner against Python's json and Foundation.

A seeded generator writes JSON documents, valid and invalid: nesting up to past the depth
limit, every escape, surrogate pairs and lone halves, numbers at the edges of binary64 and of
the grammar, UTF-8 of every length, whitespace in and out of RFC 8259's set; every truncation
of some valid documents; byte flips, insertions, deletions and trailing commas. Each goes to
the `sb-json-scan` harness (our scanner, and Foundation's JSONSerialization in the same
process) and to Python's `json.loads` (strict: UTF-8 only, NaN/Infinity refused).

Verdicts must agree. When all accept, the top-level kind, array element count, element kinds
and byte ranges, and for each top-level object (or object element of a top-level array) the
kind and value of the members the hub reads and the first repeated one must agree.
A disagreement passes only when a documented difference explains it (DIFFERENCES for Python,
JSONDifferences.swift for Foundation, which the harness applies and reports as `explained`).
Used by test_json_differential.py and Scripts/json-differential.sh.
"""
import json
import math
import random
import subprocess
import sys
from dataclasses import dataclass, field

NAMES = ["sessionId", "eventId", "type", "timestamp", "seq", "lastEventId", "epoch", "token", "payload"]
MAX_DEPTH = 512

# Where Python's json accepts what we refuse: our error reason -> (RFC text, what differs).
# Each is checked against the value Python built: the construct must really be in it.
DIFFERENCES = {
    "loneSurrogate": ("RFC 8259 §8.2 (unpaired surrogates: behavior unpredictable); RFC 7493 §2.1 forbids them",
                      "Python decodes a \\u escape of a lone UTF-16 surrogate into a str; we refuse it"),
    "numberOutOfRange": ("RFC 8259 §6 (implementations may limit the range of numbers)",
                         "Python reads numbers beyond binary64 as inf (floats) or big ints; we refuse them, as Foundation does"),
    "tooDeep": ("RFC 8259 §9 (implementations may limit the depth of nesting)",
                "Python nests until its recursion limit (~1000); we stop at 512, as Foundation does"),
}


class Pairs(list):
    """A JSON object as Python's decoder saw it: every (name, value) pair, in order."""


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def python_verdict(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "reject", None, None
    try:
        return "accept", json.loads(text, object_pairs_hook=Pairs, parse_constant=_refuse_constant), text
    except RecursionError:
        return "reject", None, None
    except ValueError:
        return "reject", None, None


def kind(value):
    if isinstance(value, Pairs):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return "number"


def walk(value, depth=1):
    """(max nesting depth, has a lone surrogate, has a number beyond binary64)."""
    if isinstance(value, str):
        return 0, any(0xD800 <= ord(c) <= 0xDFFF for c in value), False
    if isinstance(value, float):
        return 0, False, math.isinf(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)  # correctly rounded, as the scanner's binary64 check
            return 0, False, False
        except OverflowError:
            return 0, False, True
    if isinstance(value, list):
        items = [v for pair in value for v in pair] if isinstance(value, Pairs) else value
        deepest, lone, big = depth, False, False
        for item in items:
            d, l, b = walk(item, depth + 1)
            deepest, lone, big = max(deepest, d), lone or l, big or b
        return deepest, lone, big
    return 0, False, False


def explained_for_python(reason, value):
    depth, lone, big = walk(value)
    return {"loneSurrogate": lone, "numberOutOfRange": big, "tooDeep": depth > MAX_DEPTH}.get(reason, False)


# ---------------------------------------------------------------------------------------------
# Generator

NUMBERS = ["0", "-0", "0.0", "-0.0e-0", "1", "-1", "10", "1E+2", "1e-2", "2.5E3", "0.1", "123.456e-7",
           "9007199254740993", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
           "18446744073709551616", "123456789012345678901234567890", "1e308", "1.7976931348623157e308",
           "17976931348623157e292", "100e306", "4.9e-324", "2.4703282292062327e-324", "1e-400", "0e99999",
           "1e309", "-1e309", "1.7976931348623159e308", "1000e306", "0.1e310", "1" + "0" * 308, "1" + "0" * 309,
           "0." + "0" * 30 + "1", "5e-1", "5.0", "5e0", "1.5e308", "-1.79769313486231580793e308",
           "01", "-", "1.", ".5", "+1", "1e", "1e+", "NaN", "Infinity", "-Infinity", "0x1", "1.0e", "--1"]
BAD_NUMBER_START = NUMBERS.index("01")
WHITESPACE = [" ", "\t", "\n", "\r"]
NOT_WHITESPACE = ["\f", "\v", "\u00a0", "\u2028", "\ufeff"]
ESCAPES = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]
UNICODE = ["é", "ß", "€", "中", "😀", "𝄞", "\U0010ffff", "\uffff", "\u0080", "\u2028", "\u007f"]


class Generator:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def space(self):
        r = self.r
        if r.random() < 0.7:
            return ""
        return "".join(r.choice(WHITESPACE) if r.random() < 0.995 else r.choice(NOT_WHITESPACE)
                       for _ in range(r.randint(1, 3)))

    def string(self):
        r = self.r
        out = ['"']
        for _ in range(r.randint(0, 12)):
            roll = r.random()
            if roll < 0.45:
                out.append(chr(r.randint(0x61, 0x7A)))
            elif roll < 0.5:
                out.append(r.choice(" !#$%&'()*+,-./:;<=>?@[]^_`{|}~"))
            elif roll < 0.6:
                out.append(r.choice(ESCAPES))
            elif roll < 0.65:
                out.append("\\u%04x" % r.randint(0, 0xD7FF))
            elif roll < 0.68:
                out.append("\\u%04X" % r.randint(0xE000, 0xFFFF))
            elif roll < 0.73:
                out.append("\\u%04x\\u%04X" % (r.randint(0xD800, 0xDBFF), r.randint(0xDC00, 0xDFFF)))
            elif roll < 0.85:
                out.append(r.choice(UNICODE))
            else:
                out.append(r.choice(["sessionId", "2026-11-24T12:00:00Z", "s-1", "tool_use"]))
        if r.random() < 0.01:
            # One construct the grammar refuses or leaves unpredictable.
            out.insert(r.randint(1, len(out)), r.choice([
                "\\u%04x" % r.randint(0xD800, 0xDFFF),                      # a lone surrogate
                "\\u%04x\\u%04x" % (r.randint(0xD800, 0xDBFF), r.randint(0, 0xFFFF)),
                chr(r.randint(0, 0x1F)),                                        # a raw control character
                r.choice(["\\x", "\\u12", "\\U0041", "\\'", "\\"]),
            ]))
        out.append('"')
        return "".join(out)

    def number(self):
        r = self.r
        if r.random() < 0.4:
            # Mostly valid edges; the grammar's near misses a tenth of the time.
            return r.choice(NUMBERS[BAD_NUMBER_START:] if r.random() < 0.03 else NUMBERS[:BAD_NUMBER_START])
        out = "-" if r.random() < 0.5 else ""
        out += "0" if r.random() < 0.2 else str(r.randint(1, 9)) + "".join(str(r.randint(0, 9)) for _ in range(r.randint(0, 20)))
        if r.random() < 0.4:
            out += "." + "".join(str(r.randint(0, 9)) for _ in range(r.randint(1, 18)))
        if r.random() < 0.3:
            out += r.choice("eE") + (r.choice("+-") if r.random() < 0.6 else "") + str(r.randint(0, 400 if r.random() < 0.1 else 30))
        return out

    def name(self):
        r = self.r
        if r.random() < 0.6:
            name = r.choice(NAMES)
            if r.random() < 0.05:
                return '"\\u%04x%s"' % (ord(name[0]), name[1:])  # the same name, escaped
            return '"%s"' % name
        return self.string()

    def obj(self, depth, top=False):
        members = []
        for _ in range(self.r.randint(0, 8 if top else 4)):
            members.append(self.space() + self.name() + self.space() + ":" + self.space() + self.value(depth + 1) + self.space())
        return "{" + ",".join(members) + "}"

    def value(self, depth):
        r = self.r
        roll = r.random()
        container = 0.3 if depth < 6 else 0.05
        if roll < container:
            if r.random() < 0.5:
                return self.obj(depth)
            return "[" + ",".join(self.space() + self.value(depth + 1) + self.space() for _ in range(r.randint(0, 4))) + "]"
        if roll < container + 0.3:
            return self.string()
        if roll < container + 0.55:
            return self.number()
        return r.choice(["true", "false", "null", "tru", "nul", "True"] if r.random() < 0.005 else ["true", "false", "null"])

    def valid(self):
        r = self.r
        roll = r.random()
        if roll < 0.5:
            body = self.obj(1, top=True)
        elif roll < 0.8:
            body = "[" + ",".join(self.space() + (self.obj(2, top=True) if r.random() < 0.7 else self.value(2)) + self.space()
                                  for _ in range(r.randint(0, 5))) + "]"
        elif roll < 0.9:
            depth = r.choice([10, 100, 511, 512, 513, 600, 900])
            opener, closer = r.choice([("[", "]"), ('{"a":', "}")])
            body = opener * (depth - 1) + "[]" + closer * (depth - 1)
        else:
            body = self.value(1)
        return (self.space() + body + self.space()).encode("utf-8", "surrogatepass")

    INTERESTING = list(b'{}[]":,\\ \t\r\n0123456789-+.eEtrufalsn/u') + [0, 1, 0x0B, 0x0C, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3,
                                                                         0xE2, 0xED, 0xF0, 0xF4, 0xFF]

    def cases(self):
        """An endless stream of documents."""
        r = self.r
        while True:
            base = bytearray(self.valid())
            roll = r.random()
            if roll < 0.45:
                yield bytes(base)
            elif roll < 0.453 and len(base) <= 400:
                for cut in range(len(base)):  # every truncation
                    yield bytes(base[:cut])
            elif roll < 0.6:
                for _ in range(r.randint(1, 3)):
                    if base:
                        base[r.randrange(len(base))] = r.randrange(256)
                yield bytes(base)
            elif roll < 0.7:
                for _ in range(r.randint(1, 3)):
                    if base:
                        base[r.randrange(len(base))] = r.choice(self.INTERESTING)
                yield bytes(base)
            elif roll < 0.8:
                base.insert(r.randint(0, len(base)), r.choice(self.INTERESTING))
                yield bytes(base)
            elif roll < 0.9:
                if base:
                    del base[r.randrange(len(base))]
                yield bytes(base)
            else:
                closers = [i for i, c in enumerate(base) if c in b"]}"]
                if closers:
                    base.insert(r.choice(closers), ord(","))  # a trailing comma
                yield bytes(base)


# ---------------------------------------------------------------------------------------------
# Comparison

def byte_offsets(text):
    """char index -> byte offset in UTF-8, for texts that are not all ASCII."""
    offsets = [0]
    for c in text:
        offsets.append(offsets[-1] + len(c.encode("utf-8", "surrogatepass")))
    return offsets


def element_ranges(text, value):
    """Byte ranges of a top-level array's elements, found by Python's own decoder."""
    decoder = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=_refuse_constant)
    offsets = None if text.isascii() else byte_offsets(text)
    at = lambda i: i if offsets is None else offsets[i]
    i = 0
    ws = " \t\n\r"
    while text[i] in ws:
        i += 1
    i += 1  # [
    ranges = []
    for _ in value:
        while text[i] in ws:
            i += 1
        _, end = decoder.raw_decode(text, i)
        ranges.append((at(i), at(end)))
        i = end
        while text[i] in ws:
            i += 1
        i += 1  # , or ]
    return ranges


def members_of(pairs):
    first, repeated, seen = {}, None, set()
    for name, value in pairs:
        if name in NAMES:
            if name in seen:
                repeated = repeated or name
            else:
                seen.add(name)
                first[name] = value
    return first, repeated


def compare_members(ours, pairs):
    first, repeated = members_of(pairs)
    if ours["repeated"] != repeated:
        return f"repeated {ours['repeated']} vs {repeated}"
    if set(ours["members"]) != set(first):
        return f"members {sorted(ours['members'])} vs {sorted(first)}"
    for name, (k, value) in ours["members"].items():
        theirs = first[name]
        if k != kind(theirs):
            return f"{name}: kind {k} vs {kind(theirs)}"
        if k == "string" and value != theirs:
            return f"{name}: string {value!r} vs {theirs!r}"
        if k == "number" and float(value) != float(theirs):
            return f"{name}: number {value} vs {theirs!r}"
        if k not in ("string", "number") and json.loads(value, object_pairs_hook=Pairs) != theirs:
            return f"{name}: value {value!r} vs {theirs!r}"
    return None


def compare_accepted(ours, value, text):
    if ours["root"] != kind(value):
        return f"root {ours['root']} vs {kind(value)}"
    if kind(value) == "array":
        if ours["count"] != len(value):
            return f"count {ours['count']} vs {len(value)}"
        shown = value[:len(ours["elements"])]
        if [e[0] for e in ours["elements"]] != [kind(v) for v in shown]:
            return "element kinds differ"
        if [(e[1], e[2]) for e in ours["elements"]] != element_ranges(text, shown):
            return f"element ranges {[(e[1], e[2]) for e in ours['elements']]} vs {element_ranges(text, shown)}"
        objects = [v for v in shown if isinstance(v, Pairs)]
    elif kind(value) == "object":
        objects = [value]
    else:
        objects = []
    if len(objects) != len(ours["objects"]):
        return f"{len(ours['objects'])} objects vs {len(objects)}"
    for i, (o, pairs) in enumerate(zip(ours["objects"], objects)):
        why = compare_members(o, pairs)
        if why:
            return f"object {i}: {why}"
    return None


@dataclass
class Summary:
    cases: int = 0
    accepted: int = 0
    agree: int = 0
    documented: dict = field(default_factory=dict)      # Python differences by reason
    foundation_documented: int = 0
    failures: list = field(default_factory=list)

    def line(self):
        docs = ", ".join(f"{k} {v}" for k, v in sorted(self.documented.items()))
        return (f"{self.cases} documents: {self.accepted} accepted by us; Python: {self.agree} agree, "
                f"{sum(self.documented.values())} documented ({docs}); Foundation: {self.foundation_documented} documented "
                f"(JSONDifferences); {len(self.failures)} failures")


def check(data, ours, summary):
    summary.cases += 1
    py, value, text = python_verdict(data)
    problems = []
    # Foundation, as the harness saw it.
    if ours["ours"] == "reject" and ours["foundation"] == "accept":
        if ours["explained"]:
            summary.foundation_documented += 1
        else:
            problems.append(f"Foundation accepts, we reject ({ours['reason']} at {ours['offset']}), unexplained")
    if ours["ours"] == "accept":
        summary.accepted += 1
        if ours["foundation"] != "accept":
            problems.append("we accept, Foundation rejects")
        elif not ours["agree"]:
            problems.append(f"Foundation's values differ: {ours['why']}")
    # Python.
    if ours["ours"] == "accept" and py == "accept":
        why = compare_accepted(ours, value, text)
        if why:
            problems.append(f"Python's values differ: {why}")
        else:
            summary.agree += 1
    elif ours["ours"] == "reject" and py == "reject":
        summary.agree += 1
    elif ours["ours"] == "reject":
        reason = ours["reason"]
        if reason in DIFFERENCES and explained_for_python(reason, value):
            summary.documented[reason] = summary.documented.get(reason, 0) + 1
        else:
            problems.append(f"Python accepts, we reject ({reason} at {ours['offset']})")
    else:
        problems.append("we accept, Python rejects")
    if problems:
        summary.failures.append((data, ours, problems))


def run(count, seed, harness, chunk=20000):
    summary = Summary()
    stream = Generator(seed).cases()
    done = 0
    while done < count:
        batch = [next(stream) for _ in range(min(chunk, count - done))]
        result = subprocess.run([harness], input="\n".join(d.hex() for d in batch) + "\n",
                                capture_output=True, text=True, check=True)
        lines = result.stdout.split("\n")[:-1]  # not splitlines(): U+2028 and the like stay inside lines
        assert len(lines) == len(batch), f"harness answered {len(lines)} of {len(batch)}"
        for data, line in zip(batch, lines):
            check(data, json.loads(line), summary)
        done += len(batch)
    return summary


def describe(failure):
    data, ours, problems = failure
    return f"{data[:200]!r}\n    ours: {json.dumps(ours)[:300]}\n    " + "; ".join(problems)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 8259
    harness = sys.argv[3]
    summary = run(count, seed, harness)
    print(summary.line())
    for f in summary.failures[:20]:
        print(describe(f))
    print("documented differences with Python:")
    for reason, (rfc, what) in DIFFERENCES.items():
        print(f"  {reason}: {what} — {rfc}")
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
