"""What every mode shares: the launchers (the test suite's), the load generators (wsload, wrk),
CPU readings from /proc, medians and ratios, the JSON records and the Markdown tables."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "python"))

from conftest import Hub, free_port  # noqa: E402,F401  (re-exported for the modes)
from nginx_server import Nginx  # noqa: E402,F401
from redis_server import RedisServer  # noqa: E402,F401
from tls_certs import ThrowawayPKI  # noqa: E402,F401

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
PEERS = os.path.join(SHARED, "peers")
# The shared load generator, as the published figures used; this repository's copy (TLS and
# permessage-deflate added) where it is missing, and always for the tls and deflate modes.
WSLOAD_TLS = os.path.join(ROOT, "Scripts", "bench", "wsload", "run")
_SHARED_WSLOAD = os.path.join(SHARED, "bench", "wsload", "run")
WSLOAD = _SHARED_WSLOAD if os.access(_SHARED_WSLOAD, os.X_OK) else WSLOAD_TLS
POST_LUA = os.path.join(ROOT, "Scripts", "bench", "post-event.lua")
HZ = os.sysconf("SC_CLK_TCK")


def log(message):
    """Progress and per-round figures go to stderr; tables go to stdout."""
    print(message, file=sys.stderr, flush=True)


def need(packages):
    """apt-get install the Debian packages of the commands that are missing ({command: package})."""
    missing = sorted({pkg for cmd, pkg in packages.items() if not shutil.which(cmd)})
    if not missing:
        return
    log(f"installing: {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=sys.stderr)


def swift_build(directory):
    """A release build of `switchboard` in `directory`; its path."""
    if not shutil.which("swift") and os.access("/opt/swift/usr/bin/swift", os.X_OK):
        os.environ["PATH"] = "/opt/swift/usr/bin:" + os.environ["PATH"]
    subprocess.run(["swift", "build", "-c", "release", "--product", "switchboard"], cwd=directory, check=True, stdout=sys.stderr)
    return os.path.join(directory, ".build", "release", "switchboard")


def baseline_build(rev):
    """(short revision, binary): `rev` built (release) in a worktree under /tmp, kept for the next run."""
    short = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", rev], check=True, capture_output=True, text=True).stdout.strip()
    source = f"/tmp/switchboard-baseline-{short}"
    if not os.path.isdir(source):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", source, short], check=True, stdout=sys.stderr)
    return short, swift_build(source)


# --- numbers ---------------------------------------------------------------------------------

def median(values):
    return statistics.median(values) if values else None


def ratio(a, b):
    """a / b as "1.23x"; "n/a" when either is missing or b is 0."""
    return f"{a / b:.2f}x" if a is not None and b else "n/a"


def fmt(value, digits=2):
    """A table cell: integers as they are, floats rounded, None as "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def cpu_ticks(pid):
    """utime + stime of one process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def per_cpu_second(count, ticks):
    """`count` per second of CPU, `ticks` clock ticks of it (at least one)."""
    return round(count * HZ / max(1, ticks))


def us_per(cpu_seconds, count):
    return round(cpu_seconds * 1e6 / max(1, count), 3)


# --- load generators -------------------------------------------------------------------------

class LoadError(RuntimeError):
    pass


def wsload(*args, exe=None):
    """One wsload run with --json: (its report, its own CPU seconds, wall seconds)."""
    exe = exe or WSLOAD
    with tempfile.TemporaryFile() as err:
        started = time.time()
        proc = subprocess.Popen([exe, *map(str, args), "--json"], stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage, not every child's
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - started
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            err.seek(0)
            raise LoadError(f"wsload {' '.join(map(str, args[:1]))} failed ({proc.returncode}): {err.read().decode()[-1500:]}")
    return json.loads(lines[-1]), usage.ru_utime + usage.ru_stime, wall


def wrk(url, duration, post=False, connections=64):
    """`wrk -t1 -c64` for `duration` s (GET, or the POST script): requests/s, requests, non-2xx."""
    script = ["-s", POST_LUA] if post else []
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", *script, url],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    rps = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if not rps:
        raise LoadError(f"wrk against {url} printed no rate:\n{out[-1500:]}")
    return {"requests_per_s": float(rps.group(1)), "requests": int(requests.group(1)) if requests else 0,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def fanout_args(sub_urls, pub_url, subs, sessions, size):
    args = []
    for url in sub_urls:
        args += ["--sub-url", url]
    return ["fanout", *args, "--pub-url", pub_url, "--subs", subs, "--sessions", sessions, "--size", size]


# --- servers ---------------------------------------------------------------------------------

def switchboard(binary, env=None, name="bench", wait="/health", timeout=60):
    """One switchboard on a free loopback port (the suite's launcher: another port when the one it
    picked is taken meanwhile)."""
    return Hub({"LOG_LEVEL": "warning", **(env or {})}, name=name, wait=wait, timeout=timeout, executable=binary)


def stop(hub):
    """Stops `hub` by PID and removes its log (kept when it did not exit cleanly)."""
    status = hub.stop()
    if status in (0, -15, 143):
        os.unlink(hub.log.name)
    else:
        log(f"  note: {hub.name} exited with {status}; its log: {hub.log.name}")


def redis_info(server, section):
    """INFO `section` as {field: value string}."""
    fields = {}
    for line in server.cli("INFO", section).splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def redis_cpu(server):
    """used_cpu_sys + used_cpu_user of one redis-server, seconds."""
    info = redis_info(server, "cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def commandstats(server):
    """{command: (calls, usec)} from INFO commandstats."""
    stats = {}
    for key, value in redis_info(server, "commandstats").items():
        if key.startswith("cmdstat_"):
            parts = dict(item.split("=", 1) for item in value.split(","))
            stats[key[len("cmdstat_"):]] = (int(parts["calls"]), int(parts["usec"]))
    return stats


# --- output ----------------------------------------------------------------------------------

class Records:
    """One JSON object per line and per measurement, each tagged with the mode and the run."""

    def __init__(self, path, mode, context):
        self.path = path
        self.mode = mode
        self.file = open(path, "a")
        self.add("run", **context)

    def add(self, measure, **fields):
        self.file.write(json.dumps({"mode": self.mode, "measure": measure, **fields}) + "\n")
        self.file.flush()

    def close(self):
        self.file.close()


def heading(text):
    print(f"\n### {text}\n", flush=True)


def table(header, rows):
    """A Markdown table, columns padded so it also reads as text."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"  # noqa: E731
    print(line(cells[0]))
    print("| " + " | ".join("-" * max(3, w) for w in widths) + " |")
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


def note(text):
    print(text, flush=True)
