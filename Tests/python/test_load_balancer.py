"""Two instances behind a real nginx: the instance holding a dashboard's WebSocket is killed with
SIGKILL; the dashboard reconnects through nginx with lastEventId and misses nothing, duplicates
nothing."""
import http.client
import threading
import time

from conftest import Hub, wait_until
from nginx_server import Nginx
from redis_server import RedisServer
from wire import RawWebSocket

TS = "2026-11-24T12:00:00Z"


def reconnect(port):
    """A WebSocket through nginx once an instance accepts it; None meanwhile."""
    try:
        ws = RawWebSocket(port)
    except (OSError, AssertionError):
        return None
    if ws.status == 101:
        return ws
    ws.close()
    return None


def test_instance_killed_client_resumes_through_nginx():
    with RedisServer() as redis:
        one = Hub({"REDIS_URL": redis.url, "INSTANCE_ID": "one"}, name="lb-one")
        two = Hub({"REDIS_URL": redis.url, "INSTANCE_ID": "two"}, name="lb-two")
        nginx = Nginx([one.port, two.port])
        try:
            ws = RawWebSocket(nginx.port)
            assert ws.status == 101
            holder = ws.next_json()["payload"]["instanceId"]
            ws.send_json({"type": "subscribe", "sessionId": "lb"})
            ws.next_type("subscription_confirmed")

            # Publish through nginx on a background thread, retrying until each event gets a 2xx.
            acknowledged = []
            done = threading.Event()

            def publish():
                body = '{"sessionId":"lb","type":"t","timestamp":"%s","n":%d}'
                for n in range(1, 301):
                    for _ in range(200):
                        conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
                        try:
                            conn.request("POST", "/api/events", body=body % (TS, n), headers={"Content-Type": "application/json"})
                            response = conn.getresponse()
                            answer = response.read()
                            if response.status == 201:
                                acknowledged.append(answer)
                                break
                        except (OSError, http.client.HTTPException):
                            pass
                        finally:
                            conn.close()
                        time.sleep(0.02)  # a publisher's pause before it retries
                    time.sleep(0.003)  # pacing: a steady flow across the failure
                done.set()

            threading.Thread(target=publish, daemon=True).start()

            seen = []
            ws.settimeout(1)
            while len(seen) < 60 and (m := ws.poll_json()) is not None:
                if m["type"] == "event":
                    seen.append(m["seq"])
            assert len(seen) == 60
            (one if holder == "one" else two).kill()
            # Drain whatever the dead connection still delivered, then reconnect with lastEventId.
            while (m := ws.poll_json()) is not None:
                if m["type"] == "event":
                    seen.append(m["seq"])
            ws.close()
            ws = wait_until(lambda: reconnect(nginx.port), 5, step=0.1, what="a WebSocket through nginx again")
            ws.next_json()
            ws.send_json({"type": "subscribe", "sessionId": "lb", "lastEventId": seen[-1] if seen else 0})
            assert done.wait(60)
            total = len(acknowledged)
            assert total == 300
            ws.settimeout(1)
            deadline = time.time() + 20
            while len(seen) < total and time.time() < deadline:
                m = ws.poll_json()
                if m is not None and m["type"] == "event":
                    seen.append(m["seq"])
            assert seen == list(range(1, total + 1)), "no gap, no duplicate across the instance failure"
        finally:
            nginx.stop()
            one.stop()
            two.stop()
