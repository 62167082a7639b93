"""The served OpenAPI 3.1 document: valid (openapi-spec-validator), and the live server conforms
to it (schemathesis, a bounded seeded run: no 5xx, no undocumented status, no response that
breaks its schema, no schema-violating request accepted)."""
import json
import shutil
import subprocess
import urllib.request

import pytest

from conftest import Hub

KEY = "openapi-test-key"
SECRET = "0123456789abcdef0123456789abcdef"


def test_served_document_is_valid_openapi_31():
    from openapi_spec_validator import validate
    hub = Hub()
    try:
        with urllib.request.urlopen(hub.url + "/openapi.json", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            doc = json.loads(r.read())
    finally:
        assert hub.stop() == 0
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    # Every route the router knows is described (README's API table).
    for path in ["/health", "/ready", "/metrics", "/api/stats", "/api/events", "/api/events/{sessionId}",
                 "/api/events/{sessionId}/recent", "/api/events/{sessionId}/stream", "/api/sessions", "/api/sessions/{id}",
                 "/api/sessions/{id}/chains", "/api/chains/{chainId}", "/api/sessions/{id}/input", "/api/sessions/{id}/commands",
                 "/api/commands/{commandId}/ack", "/api/tokens", "/ws", "/echo", "/", "/console", "/switchboard.js", "/openapi.json"]:
        assert path in doc["paths"], path


def test_live_server_conforms_to_its_document():
    """About a few hundred generated requests. Left out: the SSE stream (it never ends: its own
    tests are in test_sse.py) and /ws, /echo (WebSocket upgrades: Autobahn and the WebSocket
    tests cover them). Check left out: positive_data_acceptance, because some rules span
    fields in ways OpenAPI cannot state (Idempotency-Key only on a single event, a token's
    session patterns), so a request valid by the schema may rightly get a 400."""
    st = shutil.which("schemathesis") or shutil.which("st")
    if st is None:
        pytest.fail("schemathesis is not installed (Scripts/test.sh installs it)")
    hub = Hub({"API_KEY": KEY, "TOKEN_SECRET": SECRET})
    try:
        checks = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                           "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
                           "missing_required_header", "unsupported_method"])
        out = subprocess.run(
            [st, "run", f"{hub.url}/openapi.json", "-H", f"Authorization: Bearer {KEY}", "-n", "25", "--seed", "11",
             "-w", "2", "--phases", "examples,fuzzing", "--checks", checks,
             "--exclude-path", "/api/events/{sessionId}/stream", "--exclude-path", "/ws", "--exclude-path", "/echo",
             "--request-timeout", "10"],
            capture_output=True, text=True, timeout=240, cwd=hub.log.name.rsplit("/", 1)[0])
        tail = out.stdout[-6000:]
        print(tail)
        assert out.returncode == 0, tail
        assert " generated" in out.stdout
    finally:
        assert hub.stop() == 0, "the server survived the run and exits cleanly"
