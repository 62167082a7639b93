"""Our HTTP/1.1 request parser against h11 on 20,000 seeded cases (see http_differential.py).

The harness `sb-http-parse` is built next to the switchboard binary. When SWITCHBOARD_BIN is set
(as Scripts/test.sh does) a missing harness is a failure, not a skip.
"""
import os

import pytest

import http_differential

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = 20000
SEED = 9112


def harness():
    switchboard = os.environ.get("SWITCHBOARD_BIN")
    if switchboard:
        path = os.path.join(os.path.dirname(switchboard), "sb-http-parse")
        assert os.access(path, os.X_OK), f"{path} is missing: build it with `swift build` (target sb-http-parse)"
        return path
    path = os.path.join(ROOT, ".build", "debug", "sb-http-parse")
    if not os.access(path, os.X_OK):
        pytest.skip("sb-http-parse not built and SWITCHBOARD_BIN not set")
    return path


def test_parser_agrees_with_h11_or_differs_as_documented():
    summary = http_differential.run(CASES, SEED, harness())
    details = "\n".join(http_differential.describe(f) for f in summary.failures[:10])
    assert not summary.failures, f"{summary.line()}\n{details}"
    assert summary.cases == CASES
    # The generator must keep exercising both sides: most cases agree, and every documented
    # difference still shows up (a difference that never occurs is a stale entry or a dead mutation).
    assert summary.agree > CASES // 2, summary.line()
    documented = set(http_differential.DIFFERENCES) | set(http_differential.REPRESENTATION) | set(http_differential.TIMING)
    assert set(summary.documented) == documented, f"seen {sorted(summary.documented)}, documented {sorted(documented)}"
