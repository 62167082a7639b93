"""Server-Sent Events (`GET /api/events/:sessionId/stream`) against a real switchboard process:
`curl -N` as the client, a raw-socket reader for resume and cut-off, and the same auth as REST.
Chromium's EventSource is in test_console.py."""
import json
import socket
import subprocess
import threading
import time

import jwt

from conftest import Hub, request, wait_subscriptions

TS = "2026-11-24T12:00:00Z"


def post(hub, session, n, **extra):
    status, body = request(hub, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS, "n": n, **extra})
    assert status == 201, body
    return body["seq"]


def parse_sse(text):
    """The messages of an event stream: dicts with id/event/data, and comments as {'comment': …}."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        m = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                messages.append({"comment": line[1:].strip()})
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            m[field] = m[field] + "\n" + value if field == "data" and field in m else value
        if m:
            messages.append(m)
    return messages


class StreamReader:
    """One SSE connection on a raw socket, parsed incrementally."""

    def __init__(self, port, path, headers=None, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
        self.buffer = b""
        self.head = None
        self.closed = False

    def read_head(self, timeout=5):
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before the head: {self.buffer!r}")
            self.buffer += chunk
        self.head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return self.head.decode()

    def messages(self, timeout=1.0):
        """Complete messages received within `timeout` (fewer if the server closes)."""
        if self.head is None:
            self.read_head()
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                self.closed = True
            self.buffer += chunk
        except socket.timeout:
            pass
        cut = self.buffer.rfind(b"\n\n")
        if cut < 0:
            return []
        done, self.buffer = self.buffer[:cut + 2], self.buffer[cut + 2:]
        return parse_sse(done.decode())

    def close(self):
        self.sock.close()


def events_of(messages):
    return [m for m in messages if m.get("event") == "event"]


def test_curl_gets_live_events_resumes_from_last_event_id_and_sees_heartbeats():
    hub = Hub({"HEARTBEAT_SECONDS": "1"})
    try:
        for n in range(1, 6):
            post(hub, "curl-1", n)
        curl = subprocess.Popen(["curl", "-sN", "-i", "--max-time", "3.5", "-H", "Last-Event-ID: 2",
                                 f"{hub.url}/api/events/curl-1/stream"], stdout=subprocess.PIPE, text=True)
        wait_subscriptions(hub, 1)  # curl's stream is open: what follows is live
        for n in range(6, 9):
            post(hub, "curl-1", n)
        post(hub, "curl-2", 1)  # another session: never on this stream
        status, _ = request(hub, "POST", "/api/sessions/curl-1/commands", {"type": "pause"})
        assert status == 201
        out, _ = curl.communicate(timeout=10)
        head, _, body = out.partition("\n\n")  # text mode: CRLF arrives as LF
        assert head.startswith("HTTP/1.1 200")
        assert "Content-Type: text/event-stream; charset=utf-8" in head
        assert "X-Accel-Buffering: no" in head and "Cache-Control: no-cache, no-transform" in head
        messages = parse_sse(body)
        events = events_of(messages)
        assert [int(m["id"]) for m in events] == [3, 4, 5, 6, 7, 8], "replay after Last-Event-ID, then live"
        assert [json.loads(m["data"])["payload"]["n"] for m in events] == [3, 4, 5, 6, 7, 8]
        assert all(json.loads(m["data"])["sessionId"] == "curl-1" for m in events)
        confirmed = [json.loads(m["data"]) for m in messages if m.get("event") == "subscription_confirmed"]
        assert confirmed and confirmed[0]["payload"]["recovered"] is True and confirmed[0]["payload"]["lastSeq"] == 5
        assert [json.loads(m["data"])["payload"]["type"] for m in messages if m.get("event") == "command"] == ["pause"]
        assert sum(1 for m in messages if m.get("comment") == "heartbeat") >= 2, "a heartbeat a second for 3.5 s"

        # ?lastEventId= does the same, for clients that cannot set headers.
        out = subprocess.run(["curl", "-sN", "--max-time", "1.5", f"{hub.url}/api/events/curl-1/stream?lastEventId=6"],
                             capture_output=True, text=True).stdout
        assert [int(m["id"]) for m in events_of(parse_sse(out))] == [7, 8]
        # A bad Last-Event-ID is a 400, not a stream.
        out = subprocess.run(["curl", "-s", "-H", "Last-Event-ID: x7", f"{hub.url}/api/events/curl-1/stream"],
                             capture_output=True, text=True).stdout
        assert "Last-Event-ID" in json.loads(out)["error"]
    finally:
        assert hub.stop() == 0


def test_reconnects_with_last_event_id_miss_nothing_and_repeat_nothing():
    hub = Hub()
    total = 400
    stop = threading.Event()

    def publish():
        for n in range(1, total + 1):
            post(hub, "resume-1", n)
            time.sleep(0.002)  # pacing: a flow the reader reconnects into, not one burst
        stop.set()

    try:
        publisher = threading.Thread(target=publish)
        publisher.start()
        seen = []
        last = None
        for cut in (120, 260, None):  # two disconnects mid-stream, then read to the end
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            reader = StreamReader(hub.port, "/api/events/resume-1/stream" + ("" if last is not None else "?lastEventId=0"),
                                  headers)
            deadline = time.time() + 30
            while time.time() < deadline:
                for m in events_of(reader.messages(0.2)):
                    seen.append(int(m["id"]))
                    last = int(m["id"])
                if cut is not None and last is not None and last >= cut:
                    break
                if cut is None and len(seen) >= total:
                    break
            reader.close()
        publisher.join()
        assert seen == list(range(1, total + 1)), "no gap, no duplicate across two reconnects"
    finally:
        assert hub.stop() == 0


def test_stalled_reader_is_cut_off_without_affecting_others():
    hub = Hub({"SEND_QUEUE_BYTES": "262144", "MAX_BODY_BYTES": "4194304"})
    try:
        healthy = StreamReader(hub.port, "/api/events/stall-1/stream")
        healthy.read_head()
        staller = StreamReader(hub.port, "/api/events/stall-1/stream", rcvbuf=4096)
        staller.read_head()
        wait_subscriptions(hub, 2)
        got = []
        done = threading.Event()

        def read_healthy():
            while not done.is_set():
                got.extend(int(m["id"]) for m in events_of(healthy.messages(0.2)))

        reader = threading.Thread(target=read_healthy)
        reader.start()
        blob = "x" * 2000
        batches, per = 300, 10  # 3,000 events of 2 KB (~6 MB owed to each reader), 20 KB per request
        for b in range(batches):
            batch = [{"sessionId": "stall-1", "type": "t", "timestamp": TS, "blob": blob} for _ in range(per)]
            status, body = request(hub, "POST", "/api/events", batch)
            assert status == 201, body
        deadline = time.time() + 30
        while len(got) < batches * per and time.time() < deadline:
            time.sleep(0.1)
        done.set()
        reader.join()
        assert got == list(range(1, batches * per + 1)), "the healthy reader got everything, in order"
        # The staller was cut off: reading what the kernel holds ends in EOF well short of the end.
        received = []
        deadline = time.time() + 20
        while not staller.closed and time.time() < deadline:
            received.extend(int(m["id"]) for m in events_of(staller.messages(0.5)))
        assert staller.closed, "the server closed the stalled stream"
        assert len(received) < batches * per
        assert received == list(range(1, len(received) + 1)), "what it did get was in order"
        status, stats = request(hub, "GET", "/api/stats")
        assert stats["totals"]["slowClientsCutOff"] >= 1
        assert stats["streams"] == 1, "the healthy stream is still open"
        # Shutdown drains open streams too (exit 0 asserted below).
        staller.close()
    finally:
        assert hub.stop() == 0


def test_same_auth_as_rest_key_and_scoped_tokens():
    secret = "s" * 32
    hub = Hub({"API_KEY": "k-sse-0123456789abcdef", "TOKEN_SECRET": secret})
    try:
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{hub.url}/api/events/auth-1/stream"],
                             capture_output=True, text=True).stdout
        assert out == "401"
        out = subprocess.run(["curl", "-sN", "--max-time", "1", f"{hub.url}/api/events/auth-1/stream?apiKey=k-sse-0123456789abcdef"],
                             capture_output=True, text=True).stdout
        assert "event: subscription_confirmed" in out
        now = int(time.time())
        token = jwt.encode({"sub": "dash", "sessions": ["auth-1"], "scope": "subscribe", "exp": now + 60}, secret, algorithm="HS256")
        out = subprocess.run(["curl", "-sN", "--max-time", "1", f"{hub.url}/api/events/auth-1/stream?token={token}"],
                             capture_output=True, text=True).stdout
        assert "event: subscription_confirmed" in out
        out = subprocess.run(["curl", "-s", "-w", " %{http_code}", f"{hub.url}/api/events/auth-2/stream?token={token}"],
                             capture_output=True, text=True).stdout
        assert out.endswith(" 403") and "subscribe" in out
        read_only = jwt.encode({"sub": "dash", "sessions": ["auth-1"], "scope": "read", "exp": now + 60}, secret, algorithm="HS256")
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {read_only}",
                              f"{hub.url}/api/events/auth-1/stream"], capture_output=True, text=True).stdout
        assert out == "403", "a stream needs subscribe, as the WebSocket does"
        # A token's stream ends at its exp.
        short = jwt.encode({"sub": "dash", "sessions": ["auth-1"], "scope": "subscribe", "exp": now + 2}, secret, algorithm="HS256")
        started = time.time()
        out = subprocess.run(["curl", "-sN", "--max-time", "8", f"{hub.url}/api/events/auth-1/stream?token={short}"],
                             capture_output=True, text=True).stdout
        assert "event: token_expired" in out and time.time() - started < 6
    finally:
        assert hub.stop() == 0
