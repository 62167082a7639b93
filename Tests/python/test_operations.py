"""Metrics exposition and graceful shutdown under load."""
import http.client
import json
import os
import signal
import subprocess
import threading
import time

from conftest import Hub, request, wait_until
from redis_server import RedisServer
from wire import open_websocket

KEY = "ops-key-0123456789ab"
TS = "2026-11-24T12:00:00Z"


def metric_value(text, prefix):
    for line in text.split("\n"):
        if line.startswith(prefix + " "):
            return float(line.split(" ")[-1])
    return None


def test_metrics_pass_promtool_and_counters_move():
    hub = Hub({"METRICS_PUBLIC": "true", "API_KEY": KEY})
    try:
        ws = open_websocket(hub.port, headers=[("x-api-key", KEY)])
        ws.next_json()
        ws.send_json({"type": "subscribe", "sessionId": "m"})
        ws.next_type("subscription_confirmed")
        for _ in range(7):
            assert request(hub, "POST", "/api/events", {"sessionId": "m", "type": "t", "timestamp": TS}, {"x-api-key": KEY})[0] == 201
        for _ in range(7):
            ws.next_type("event")
        # A late subscriber gets the seven from history: counted apart, under kind="replay".
        late = open_websocket(hub.port, headers=[("x-api-key", KEY)])
        late.next_json()
        late.send_json({"type": "subscribe", "sessionId": "m", "lastEventId": 0})
        for _ in range(7):
            late.next_type("event")
        status, body = request(hub, "GET", "/metrics")
        assert status == 200, "METRICS_PUBLIC serves /metrics without the key"
        text = body.decode()
        assert metric_value(text, "switchboard_deliveries_total") == 7
        assert metric_value(text, "switchboard_events_accepted_total") == 7
        assert metric_value(text, "switchboard_subscriptions") == 2, "the live and the late subscriber"
        assert metric_value(text, "switchboard_open_websockets") == 2
        assert metric_value(text, 'switchboard_http_requests_total{route="/api/events",method="POST",status="201"}') == 7, text
        assert "switchboard_publish_to_delivery_seconds_bucket" in text
        assert "switchboard_http_request_duration_seconds_bucket" in text
        # Delivery lag: seven live deliveries within a second on one host; seven replayed
        # events timed from their own timestamp (days ago), so all above the last bound.
        assert metric_value(text, 'switchboard_delivery_lag_seconds_count{kind="live"}') == 7, text
        assert metric_value(text, 'switchboard_delivery_lag_seconds_bucket{kind="live",le="1"}') == 7, text
        assert metric_value(text, 'switchboard_delivery_lag_seconds_count{kind="replay"}') == 7, text
        assert metric_value(text, 'switchboard_delivery_lag_seconds_bucket{kind="replay",le="300"}') == 0, text
        assert metric_value(text, 'switchboard_delivery_lag_seconds_bucket{kind="replay",le="+Inf"}') == 7, text
        if os.access("/usr/bin/promtool", os.X_OK):
            checked = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
            assert checked.returncode == 0, f"promtool: {checked.stdout.decode()}{checked.stderr.decode()}"
    finally:
        hub.stop()


def test_sigterm_under_load_drains_cleanly():
    """SIGTERM while subscribers receive and a client posts: every 2xx event is in Redis (read
    back from another instance), every WebSocket client saw 1001, exit 0 in time."""
    with RedisServer() as redis:
        target = Hub({"REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT": "5"}, name="drain-target")
        witness = Hub({"REDIS_URL": redis.url}, name="drain-witness")
        stop = threading.Event()
        try:
            clients = []
            for i in range(20):
                ws = open_websocket(target.port)
                ws.next_json()
                ws.send_json({"type": "subscribe", "sessionId": f"drain-{i % 4}"})
                ws.next_type("subscription_confirmed")
                clients.append(ws)
            acknowledged = []

            def poster():
                n = 0
                while not stop.is_set():
                    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=3)
                    try:
                        conn.connect()
                    except OSError:
                        return  # the listener is closed
                    while not stop.is_set():
                        n += 1
                        body = json.dumps({"sessionId": f"drain-{n % 4}", "type": "t", "timestamp": TS, "n": n})
                        try:
                            conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json"})
                            response = conn.getresponse()
                            answer = response.read()
                        except (OSError, http.client.HTTPException):
                            break
                        if response.status == 201:
                            acknowledged.append(json.loads(answer)["eventId"])
                    conn.close()

            thread = threading.Thread(target=poster, daemon=True)
            thread.start()
            wait_until(lambda: len(acknowledged) > 200, 10, what="200 events acknowledged")
            started = time.time()
            target.proc.send_signal(signal.SIGTERM)
            codes = []
            for ws in clients:
                ws.settimeout(5)
                codes.append(ws.close_code())
                try:
                    ws.send_close(1001)
                except OSError:
                    pass
            assert target.proc.wait(timeout=8) == 0, target.log_text()[-3000:]
            elapsed = time.time() - started
            stop.set()
            thread.join(10)
            assert elapsed < 5, "drained within SHUTDOWN_TIMEOUT"
            assert codes == [1001] * len(clients), "every client got 1001"
            # Every acknowledged event is stored: read all four sessions back from the other instance.
            stored = set()
            for s in range(4):
                stored |= {e["eventId"] for e in request(witness, "GET", f"/api/events/drain-{s}?limit=10000")[1]["events"]}
            missing = set(acknowledged) - stored
            assert not missing, f"{len(missing)} acknowledged events missing"
            assert "draining" in target.log_text(), "shutdown is logged step by step"
        finally:
            stop.set()
            target.stop()
            witness.stop()
