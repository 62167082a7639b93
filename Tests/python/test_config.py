"""Settings on the real binary (issue 21): every numeric setting refuses what is outside its
range (0, -1, NaN, inf, 1e-30, 1e30 and the values just past each bound) with exit 64 and
`Error: NAME must be …`, and never traps; the rate settings that crashed the first REST write
are refused and the extremes of their ranges serve; `.env` is strict (unknown names and
malformed lines stop the start, naming the line) while the process environment is not;
`--print-config` shows each setting's source with secrets masked; HOST, ALLOWED_ORIGINS and
LOG_FORMAT=json fatal lines; the help points to the serve flags.

The numeric settings and their ranges come from the binary (`--print-config` and its own
error messages), so a new setting is covered without touching this file."""
import json
import math
import os
import re
import subprocess
import tempfile

import pytest

from conftest import Hub, binary, request

SCRUB = ("REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "API_KEY", "AFW_API_KEY", "ALLOWED_ORIGINS")


def run(args=(), env=None, dotenv=None, timeout=20):
    """The binary in a fresh directory (with `dotenv` as its .env): (exit code, stdout, stderr)."""
    full = {k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith(("RATE_", "WS_RATE", "LOG_"))}
    full.update(env or {})
    with tempfile.TemporaryDirectory() as cwd:
        if dotenv is not None:
            with open(os.path.join(cwd, ".env"), "w") as f:
                f.write(dotenv)
        p = subprocess.run([binary(), *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def print_config(env=None, dotenv=None, args=()):
    """`--print-config` parsed: {NAME: (source, value)}; asserts it succeeded."""
    code, out, err = run(["--print-config", *args], env, dotenv)
    assert code == 0, err
    settings = {}
    for line in out.splitlines():
        name, source, value = line.split(None, 2)
        settings[name] = (source, value)
    return settings


def numeric_settings():
    """{NAME: default} of every setting whose default is a number."""
    found = {}
    for name, (source, value) in print_config().items():
        try:
            found[name] = float(value)
        except ValueError:
            pass
    return found


NUMERIC = numeric_settings()


def test_the_numeric_settings_are_found():
    # The derivation itself: the ones the issue names, and no fewer than there were.
    assert {"PORT", "THREADS", "RATE_LIMIT", "RATE_BURST", "WS_RATE_LIMIT", "SEND_QUEUE_BYTES", "HEARTBEAT_SECONDS"} <= set(NUMERIC)
    assert len(NUMERIC) >= 24


def bounds(name):
    """(low, high, integer?) from the binary's own message for a value it must refuse."""
    code, _, err = run(env={name: "not-a-number"})
    assert code == 64, err
    match = re.search(rf"Error: {name} must be (?:0 \([^)]*\) or )?(an integer|a number) in ([-0-9.e+]+)\.\.\.([-0-9.e+]+)", err)
    assert match, err
    integer = match.group(1) == "an integer"
    convert = int if integer else float
    return convert(match.group(2)), convert(match.group(3)), integer


def outcome(name, value):
    """'ok' (and the value shown) or 'refused'; fails on anything else (a trap, a wrong code)."""
    code, out, err = run(["--print-config"], {name: value})
    if code == 64 and re.search(rf"^Error: {name} needs ", err, re.M):
        # In range, but it needs another setting (TLS_HSTS_SECONDS > 0 needs TLS_CERT_FILE):
        # the range check passed first.
        return "depends", value
    if code == 64:
        assert re.search(rf"^Error: {name} must be ", err, re.M), f"{name}={value}: {err}"
        return "refused", None
    assert code == 0, f"{name}={value}: exit {code} (a trap?) {err}"
    line = next(l for l in out.splitlines() if l.split()[0] == name)
    return "ok", line.split()[2]


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_every_numeric_setting_is_range_checked(name):
    low, high, integer = bounds(name)
    zero_allowed = low <= 0 <= high or outcome(name, "0")[0] == "ok"
    for value in ["0", "-1", "nan", "NaN", "inf", "-inf", "1e999", "1e-30", "1e30", " ", "0x10", "1_000"]:
        result, shown = outcome(name, value)
        if result in ("ok", "depends"):
            number = float(shown)
            assert math.isfinite(number), f"{name}={value} accepted as {shown}"
            assert low <= number <= high or (number == 0 and zero_allowed), f"{name}={value} accepted as {shown}, outside {low}...{high}"
            assert value not in ("nan", "NaN", "inf", "-inf", "1e999", "1e30", " ", "1_000"), f"{name}={value} accepted as {shown}"
    # The bounds themselves are taken, one step past each is refused.
    if integer:
        inside, outside = [low, high], [low - 1, high + 1]
    else:
        inside, outside = [low, high], [math.nextafter(low, -math.inf), math.nextafter(high, math.inf)]
    for value in inside:
        assert outcome(name, repr(value))[0] in ("ok", "depends"), f"{name}={value} is inside {low}...{high}"
    for value in outside:
        if value == 0 and zero_allowed:
            continue
        assert outcome(name, repr(value))[0] == "refused", f"{name}={value} is outside {low}...{high}"


@pytest.mark.parametrize("env", [{"RATE_LIMIT": "1e999"}, {"RATE_LIMIT": "inf"}, {"RATE_LIMIT": "1e-30"},
                                 {"RATE_LIMIT": "1", "RATE_BURST": "1e12"}, {"WS_RATE_LIMIT": "inf"}])
def test_rate_values_that_crashed_the_first_write_stop_the_start(env):
    code, _, err = run(env=env)
    assert code == 64, err
    assert re.search(r"^Error: (RATE_LIMIT|RATE_BURST|WS_RATE_LIMIT) must be ", err, re.M), err


@pytest.mark.parametrize("rate,burst", [("0.001", "1000000"), ("1000000", "1"), ("0.001", "1"), ("1000000", "1000000")])
def test_rate_limits_at_the_ends_of_their_ranges_serve(rate, burst):
    """The end-to-end side of the crash: REST writes under the extreme accepted limits answer
    201 or 429 with a Retry-After of at most a day, and the process lives on."""
    hub = Hub({"RATE_LIMIT": rate, "RATE_BURST": burst, "WS_RATE_LIMIT": rate})
    try:
        statuses = set()
        for _ in range(4):
            conn_status, answer = request(hub, "POST", "/api/events", {"sessionId": "r", "type": "t", "timestamp": "2026-11-30T12:00:00Z"})
            statuses.add(conn_status)
        assert statuses <= {201, 429}, statuses
        if float(rate) < 1 and float(burst) < 4:  # the burst is at least the rate
            assert 429 in statuses
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
        conn.request("POST", "/api/events", body=b'{"sessionId":"r","type":"t","timestamp":"2026-11-30T12:00:00Z"}',
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 429:
            assert 1 <= int(resp.getheader("Retry-After")) <= 86400
        assert hub.get("/health")[0] == 200
        assert hub.proc.poll() is None
    finally:
        assert hub.stop() == 0


# .env

def test_unknown_variable_in_dotenv_stops_the_start_naming_the_line():
    code, _, err = run(dotenv="PORT=4000\n# a comment\n\nPROT=4000\n")
    assert code == 64
    assert ".env:4: unknown variable PROT" in err, err


@pytest.mark.parametrize("text,line", [("LOG_LEVEL debug\n", 1), ("PORT=1\n=5\n", 2), ("PORT=1\nHOST='127.0.0.1\n", 2),
                                       ("PORT=1\nPORT=2\n", 2), ("1PORT=1\n", 1)])
def test_malformed_dotenv_line_stops_the_start_naming_it(text, line):
    code, _, err = run(dotenv=text)
    assert code == 64, err
    assert f"Error: .env:{line}: " in err, err


def test_dotenv_forms_that_are_accepted():
    settings = print_config(dotenv="# comment\n\nexport PORT=4005\nHOST = \"127.0.0.1\"\nLOG_LEVEL='debug'\r\nAFW_API_KEY=abcdefghijklmnopq\n")
    assert settings["PORT"] == (".env", "4005")
    assert settings["HOST"] == (".env", "127.0.0.1")
    assert settings["LOG_LEVEL"] == (".env", "debug")
    assert settings["API_KEY"] == (".env", "****")


def test_the_process_environment_is_not_checked_for_unknown_names():
    settings = print_config(env={"PROT": "4000", "SWITCHBOARD_SOMETHING": "x"})
    assert settings["PORT"] == ("default", "3001")


def test_print_config_shows_sources_and_masks_secrets():
    settings = print_config(
        env={"HOST": "127.0.0.1", "REDIS_URL": "redis://user:hunter2@10.0.0.1:6379/2,redis://:pa55@10.0.0.2:6379",
             "TOKEN_SECRET": "s" * 40, "REDIS_SENTINEL_PASSWORD": "sentinel-secret", "REDIS_SENTINELS": "10.0.0.5:26379",
             "REDIS_SENTINEL_MASTER": "m"},
        dotenv="PORT=4010\nAPI_KEY=dotenv-key-secret\nSESSION_TTL=99\n", args=["--session-ttl", "77"])
    assert settings["HOST"] == ("env", "127.0.0.1")
    assert settings["PORT"] == (".env", "4010")
    assert settings["SESSION_TTL"] == ("flag", "77"), "the flag wins over .env"
    assert settings["QUEUE_TTL"] == ("default", "300")
    assert settings["REDIS_URL"] == ("env", "redis://user:****@10.0.0.1:6379/2,redis://:****@10.0.0.2:6379")
    assert settings["API_KEY"] == (".env", "****")
    assert settings["TOKEN_SECRET"] == ("env", "****")
    assert settings["REDIS_SENTINEL_PASSWORD"] == ("env", "****")
    code, out, _ = run(["--print-config"], {"TOKEN_SECRET": "s" * 40, "REDIS_URL": "redis://u:hunter2@h:1"},
                       "API_KEY=dotenv-key-secret\n")
    for secret in ("hunter2", "dotenv-key-secret", "s" * 40):
        assert secret not in out


# Messages

def test_bad_host_names_host_and_blames_no_other_process():
    code, _, err = run(env={"HOST": "bogus.invalid"})
    assert code == 64
    assert "Error: HOST must be" in err and "bogus.invalid" in err, err
    assert "another process" not in err


def test_allowed_origins_without_an_origin_is_refused():
    for value in (",", " , ,"):
        code, _, err = run(env={"ALLOWED_ORIGINS": value})
        assert code == 64, err
        assert "Error: ALLOWED_ORIGINS lists no origin" in err, err
    assert print_config(env={"ALLOWED_ORIGINS": "https://a.example,"})["ALLOWED_ORIGINS"][0] == "env"


@pytest.mark.parametrize("how", ["env", "flag", "dotenv"])
def test_log_format_json_covers_fatal_lines(how):
    env, args, dotenv = {"RATE_LIMIT": "inf"}, [], None
    if how == "env":
        env["LOG_FORMAT"] = "json"
    elif how == "flag":
        args = ["--log-format", "json"]
    else:
        dotenv = "LOG_FORMAT=json\n"
    code, out, err = run(args, env, dotenv)
    assert code == 64
    lines = [l for l in (out + err).splitlines() if l.strip()]
    assert lines, "a fatal line"
    for line in lines:
        record = json.loads(line)  # every line is JSON
        assert record["level"] == "critical"
        assert record["msg"].startswith("RATE_LIMIT must be"), record
    # A fatal line after the settings were taken (the port is taken) is JSON too.
    hub = Hub()
    try:
        code, out, err = run(["--host", "127.0.0.1", "--port", str(hub.port)], {"LOG_FORMAT": "json"})
        assert code != 0
        lines = [l for l in (out + err).splitlines() if l.strip()]
        assert lines and all(json.loads(l) for l in lines), out + err
    finally:
        assert hub.stop() == 0


def test_startup_lines_are_json_with_log_format_json():
    hub = Hub({"LOG_FORMAT": "json"})
    try:
        pass
    finally:
        assert hub.stop() == 0
    lines = [l for l in hub.log_text().splitlines() if l.strip()]
    assert len(lines) >= 2
    for line in lines:
        json.loads(line)


def test_help_points_to_the_serve_flags():
    code, out, _ = run(["--help"])
    assert code == 0
    assert "switchboard serve --help" in out
    code, out, _ = run(["serve", "--help"])
    assert code == 0
    for flag in ("--port", "--rate-limit", "--threads", "--print-config"):
        assert flag in out
    # --header-timeout covers the whole request, as README says.
    assert re.search(r"--header-timeout.*head\s+and\s+body", out, re.S), out


def test_invalid_setting_message_points_to_serve_help():
    code, _, err = run(env={"PORT": "99999"})
    assert code == 64
    assert "Error: PORT must be an integer in 0...65535" in err
    assert "switchboard serve --help" in err


@pytest.mark.parametrize("env,expected", [
    ({}, (404, 404)),                                          # auth off: minting off (a 4xx, never 5xx)
    ({"API_KEY": "k" * 16}, (401, 404)),                       # the key holder, but no TOKEN_SECRET
    ({"TOKEN_SECRET": "s" * 40}, (401, 401)),                  # no key to hold: 401, not 404
    ({"API_KEY": "k" * 16, "TOKEN_SECRET": "s" * 40}, (401, 201)),
])
def test_token_minting_statuses_are_the_ones_readme_gives(env, expected):
    """README, Access, Minting: no credential / the API key as credential."""
    hub = Hub(env)
    try:
        body = {"sub": "a", "sessions": ["s"], "scope": ["read"]}
        without = request(hub, "POST", "/api/tokens", body)[0]
        with_key = request(hub, "POST", "/api/tokens", body, headers={"Authorization": "Bearer " + "k" * 16})[0]
        assert (without, with_key) == expected
    finally:
        assert hub.stop() == 0
