"""Scripts/bench.py in a tiny configuration (Switchboard only, one round of a second or so, no
peers): each mode run here must exit 0, print its table and write JSON records whose figures are
positive, so the tool cannot rot unnoticed. Not a benchmark: no figure is compared with a bar."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, binary

TOOL = os.path.join(ROOT, "Scripts", "bench.py")


def run_tool(tmp_path, *args):
    """(stdout, the records) of one run of the tool against the binary under test."""
    path = tmp_path / "records.jsonl"
    proc = subprocess.Popen([sys.executable, TOOL, *args, "--bin", os.path.abspath(binary()), "--json", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the tool stops the servers it started on SIGTERM
        stdout, stderr = proc.communicate(timeout=60)
        pytest.fail(f"bench.py {' '.join(args)} did not finish in 120 s:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    [run] = [r for r in records if r["measure"] == "run"]
    assert run["binary"] == os.path.abspath(binary()) and run["cores"] >= 1
    return stdout, records


def measures(records, name):
    return [r for r in records if r["measure"] == name]


def test_fanout_and_latency_curve(tmp_path):
    stdout, records = run_tool(tmp_path, "fanout", "--servers", "sb", "--rounds", "1", "--duration", "1",
                               "--curve-duration", "1", "--subs", "100", "--curve-base-dps", "2000")
    [fanout] = measures(records, "fanout")
    assert fanout["server"] == "sb(default)"
    assert fanout["deliveries_per_s"] > 0 and fanout["delivered"] > 0 and fanout["lat_p99_ms"] > 0
    [median] = measures(records, "fanout_median")
    assert median["deliveries_per_s"] == fanout["deliveries_per_s"]
    curve = measures(records, "latency_curve")
    # 1x = 2000 deliveries/s over 10 subscribers per session = 200 events/s.
    assert [r["rate"] for r in curve] == [50, 100, 200, 400, 800]
    assert all(r["publish_rate"] > 0 and r["lat_p50_ms"] > 0 and r["wsload_cores"] > 0 for r in curve)
    assert sum(r["server_cores"] for r in curve) > 0
    assert "| deliveries/s " in stdout and "| 0.25x = 50/s " in stdout and "flatness" in stdout


def test_idle(tmp_path):
    stdout, records = run_tool(tmp_path, "idle", "--servers", "sb", "--rounds", "1", "--idle-conns", "200")
    [idle] = measures(records, "idle")
    assert idle["established"] == 200 and idle["rss_after_kb"] > idle["rss_before_kb"] > 0
    assert idle["rss_per_conn_bytes"] > 0
    assert "| bytes/conn " in stdout


def test_deflate(tmp_path):
    """The repository's wsload copy (TLS and deflate) is built and run by this mode."""
    stdout, records = run_tool(tmp_path, "deflate", "--rounds", "1", "--duration", "1", "--deflate-subs", "50",
                               "--deflate-fixed-rate", "50", "--idle-conns", "100")
    runs = {(r["extension"], r["rate"]): r for r in measures(records, "deflate_fanout")}
    assert set(runs) == {("plain", "max"), ("plain", 50), ("deflate", "max"), ("deflate", 50)}
    assert all(r["deliveries_per_s"] > 0 and r["wire_bytes_per_delivery"] > 0 for r in runs.values())
    assert runs[("deflate", "max")]["compressed_deliveries"] > 0 and runs[("plain", "max")]["compressed_deliveries"] == 0
    assert {r["extension"] for r in measures(records, "deflate_idle") if r["rss_per_conn_bytes"] > 0} == {"plain", "deflate"}
    assert "| wire bytes per delivery " in stdout


def test_scale_fanout(tmp_path):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed (Scripts/test.sh installs it)")
    stdout, records = run_tool(tmp_path, "scale", "fanout", "--duration", "1", "--subs", "100", "--sessions", "10")
    [row] = measures(records, "fanout_1_instance")
    assert row["deliveries_per_s"] > 0 and row["events_posted"] > 0
    assert row["instance_cpu_us_per_delivery"] > 0
    assert row["redis_cpu_us_per_event"] > 0 and row["redis_command_us_per_event"] > 0
    assert "| instance CPU per delivery " in stdout
