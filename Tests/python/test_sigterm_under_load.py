"""SIGTERM under real load: wsload fanout subscribers are receiving, wsload's publishers and a
client of our own post continuously, and the instance gets SIGTERM. Every POST answered 2xx must
be in Redis (read back through a second instance), every WebSocket client must see close 1001,
and the process must exit 0 within SHUTDOWN_TIMEOUT. Prints the drain time and the counts."""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
import websockets

from conftest import Hub, free_port

WSLOAD = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "bench", "wsload", "run")
SHUTDOWN_TIMEOUT = 5
SESSIONS = 10


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sb-sigterm-redis-")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by PID
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/events", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=3) as r:
        return r.status, json.loads(r.read())


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")
@pytest.mark.skipif(not os.path.exists(WSLOAD), reason="wsload (../shared/bench) not available")
def test_sigterm_while_wsload_fanout_runs():
    redis = Redis()
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis.port}", "SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)}
    target = Hub(env)
    witness = Hub(env)
    try:
        # wsload: 400 subscribers over 10 sessions, its 4 publishers posting at full speed.
        wsload = subprocess.Popen([WSLOAD, "fanout", "--sub-url", f"ws://127.0.0.1:{target.port}/ws",
                                   "--pub-url", f"http://127.0.0.1:{target.port}", "--subs", "400",
                                   "--sessions", str(SESSIONS), "--prefix", "term-", "--duration", "8",
                                   "--drain", "2", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # Our own poster, which records the eventId of every 2xx, and three strict clients that
        # record the close code they get.
        acked, stop = [], threading.Event()

        def poster():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    status, body = post(target.port, {"sessionId": f"term-{n % SESSIONS}", "type": "t",
                                                      "timestamp": "2026-11-24T12:00:00Z", "n": n})
                    if 200 <= status < 300:
                        acked.append(body["eventId"])
                except (OSError, urllib.error.URLError, ValueError):
                    time.sleep(0.01)  # 503 while draining, refused once the listener is closed

        close_codes, subscribed = [], []

        async def watcher(i):
            async with websockets.connect(f"ws://127.0.0.1:{target.port}/ws") as ws:
                await ws.recv()
                await ws.send(json.dumps({"type": "subscribe", "sessionId": f"term-{i}"}))
                subscribed.append(i)
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
                except websockets.ConnectionClosed as closed:
                    close_codes.append(closed.rcvd.code if closed.rcvd else None)

        async def watch_all():
            await asyncio.wait_for(asyncio.gather(*(watcher(i) for i in range(3))), 60)

        watchers = threading.Thread(target=lambda: asyncio.run(watch_all()))
        watchers.start()
        thread = threading.Thread(target=poster)
        thread.start()
        deadline = time.time() + 20
        while (len(acked) < 200 or len(subscribed) < 3) and time.time() < deadline:
            time.sleep(0.05)
        assert len(acked) >= 200 and len(subscribed) == 3, "the poster and the strict clients got going"
        time.sleep(1.0)  # wsload is in full flow

        started = time.monotonic()
        target.proc.send_signal(signal.SIGTERM)
        code = target.proc.wait(timeout=SHUTDOWN_TIMEOUT + 5)
        drain_seconds = time.monotonic() - started
        stop.set()
        thread.join(10)
        watchers.join(30)
        out, _ = wsload.communicate(timeout=60)
        report = json.loads(out.strip().splitlines()[-1])

        assert code == 0, "exit 0"
        assert drain_seconds < SHUTDOWN_TIMEOUT, drain_seconds
        assert close_codes == [1001, 1001, 1001], close_codes
        assert report["closed_by_server"] == 400, report
        assert report["duplicates"] == 0 and report["out_of_order"] == 0 and report["foreign"] == 0, report

        # Every event answered 2xx, ours and wsload's, is stored: read back from the other instance.
        stored_ids, stored_per_session = set(), {}
        for s in range(SESSIONS):
            _, body = witness.get(f"/api/events/term-{s}?limit=10000")
            stored_ids.update(e["eventId"] for e in body["events"])
            stored_per_session[s] = sum(1 for e in body["events"] if "wsl_n" in e.get("data", {}))
        missing = set(acked) - stored_ids
        assert not missing, f"{len(missing)} acknowledged events are not stored"
        assert sum(stored_per_session.values()) >= report["posted"], (stored_per_session, report["posted"])
        print(f"\nSIGTERM drain: {drain_seconds:.3f} s (SHUTDOWN_TIMEOUT {SHUTDOWN_TIMEOUT} s), exit {code}; "
              f"{len(acked)} own POSTs and {report['posted']} wsload POSTs answered 2xx, all stored; "
              f"{report['delivered']} deliveries before the drain; {report['closed_by_server']} wsload subscribers "
              f"and {len(close_codes)} strict clients closed (codes {sorted(set(close_codes))})")
    finally:
        for hub in (target, witness):
            if hub.proc.poll() is None:
                hub.proc.kill()
                hub.proc.wait()
        redis.stop()
