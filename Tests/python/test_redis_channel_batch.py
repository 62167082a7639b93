"""Group commit on the Redis channel, with real switchboard processes on one real redis-server:
the appends one instance makes in one loop turn go as one script call, which publishes one
channel message per session (REDIS_CHANNEL_BATCH=on, the default) or one per event (off, for
old-backend consumers); every other instance splits a multi-event message into its events."""
import http.client
import json
import re
import threading
import time

from conftest import Hub, request, wait_until
from redis_server import redis_server  # noqa: F401 (the fixture)
from test_shared_redis import subscribed

TS = "2026-12-07T12:00:00Z"
SESSIONS = ("gc-a", "gc-b", "gc-c")
POSTERS = 16
PER_POSTER = 30


def instance(redis, extra=None, name="batch"):
    hub = Hub({"REDIS_URL": redis.url, "METRICS_PUBLIC": "true", **(extra or {})}, name=name)
    assert hub.wait_ready(10), hub.log_text()[-3000:]
    return hub


def calls(redis, command):
    """How often `command` ran (INFO commandstats counts the calls scripts make too)."""
    match = re.search(rf"cmdstat_{command}:calls=(\d+)", redis.cli("INFO", "commandstats"))
    return int(match.group(1)) if match else 0


def post_concurrently(hub):
    """POSTERS keep-alive connections, each posting PER_POSTER events round the sessions at
    once; every answer must be 201. Returns {session: [(poster, i)...]} of what was posted."""
    errors = []

    def poster(p):
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=20)
        try:
            for i in range(PER_POSTER):
                session = SESSIONS[(p + i) % len(SESSIONS)]
                body = json.dumps({"sessionId": session, "type": "t", "timestamp": TS, "data": {"p": p, "i": i}})
                conn.request("POST", "/api/events", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status != 201:
                    errors.append(response.status)
        except OSError as error:
            errors.append(repr(error))
        finally:
            conn.close()

    threads = [threading.Thread(target=poster, args=(p,)) for p in range(POSTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    posted = {s: [] for s in SESSIONS}
    for p in range(POSTERS):
        for i in range(PER_POSTER):
            posted[SESSIONS[(p + i) % len(SESSIONS)]].append((p, i))
    return posted


def received(ws, count, timeout=30):
    """The events (seq, (p, i)) read until `count` arrive or the timeout passes, then half a
    second longer: a duplicate must not come."""
    out = []
    deadline = time.time() + timeout
    ws.settimeout(0.5)
    while time.time() < deadline:
        message = ws.poll_json()
        if message is not None and message["type"] == "event":
            data = message["payload"]["data"]
            out.append((message["seq"], (data["p"], data["i"])))
            if len(out) == count:
                deadline = time.time() + 0.5
    return out


def post_and_check_delivery(redis, a, b):
    """B subscribes to every session, A takes the concurrent POSTs (Redis's command counts
    reset first); B must deliver each event once, in seq order. Returns {session: posted}."""
    sockets = {s: subscribed(b.port, s) for s in SESSIONS}
    redis.cli("CONFIG", "RESETSTAT")
    posted = post_concurrently(a)
    for session, ws in sockets.items():
        got = received(ws, len(posted[session]))
        assert [seq for seq, _ in got] == list(range(1, len(posted[session]) + 1)), session
        assert sorted(ident for _, ident in got) == sorted(posted[session]), session
    return posted


def test_multi_event_messages_are_split_on_another_instance(redis_server):
    """Many concurrent POSTs to a one-loop instance: script calls and channel messages carry
    several events; the other instance delivers each event once, in seq order."""
    a = instance(redis_server, {"THREADS": "1"}, name="batch-a")
    b = instance(redis_server, name="batch-b")
    try:
        posted = post_and_check_delivery(redis_server, a, b)
        events = POSTERS * PER_POSTER
        scripts, publishes = calls(redis_server, "evalsha"), calls(redis_server, "publish")
        assert 0 < scripts < events, (scripts, events)
        # Each message reached B's bus once, counted per event; none was malformed.
        assert publishes < events, f"{publishes} messages for {events} events: none carried several"
        wait_until(lambda: b.metric("switchboard_bus_messages_total") >= events, what="B counted every event")
        assert b.metric("switchboard_bus_messages_total") == events
        assert b.metric("switchboard_bus_messages_malformed_total") == 0
        # Stored as before: one list entry per event, dense seqs.
        for session in SESSIONS:
            assert int(redis_server.cli("LLEN", f"afw:events:{session}")) == len(posted[session])
            assert redis_server.cli("GET", f"afw:seq:{session}") == str(len(posted[session]))
    finally:
        assert [h.stop() for h in (a, b)] == [0, 0]


def test_the_legacy_switch_publishes_one_message_per_event(redis_server):
    """REDIS_CHANNEL_BATCH=off on the publishing instance (a mixed deployment): appends still
    share script calls, but every event is its own single-event message, which an old-backend
    consumer reads; the other instance (batch on) delivers them all."""
    a = instance(redis_server, {"THREADS": "1", "REDIS_CHANNEL_BATCH": "off"}, name="legacy-a")
    b = instance(redis_server, name="legacy-b")
    raw = subscribe_raw(redis_server.port, "afw:events")
    try:
        posted = post_and_check_delivery(redis_server, a, b)
        events = POSTERS * PER_POSTER
        assert calls(redis_server, "evalsha") < events, "group commit itself stays on"
        messages = raw.read_messages(events)
        assert len(messages) == events, "one message per event (presence aside), none more"
        assert all(set(json.loads(m)) == {"sessionId", "event", "timestamp", "seq", "epoch"} for m in messages), messages[:3]
    finally:
        raw.close()
        assert [h.stop() for h in (a, b)] == [0, 0]


def test_a_malformed_multi_event_message_is_dropped_and_counted(redis_server):
    """Junk in the multi-event shape for a watched session: counted, logged, nothing of it
    delivered; the session's real first event still arrives as seq 1."""
    b = instance(redis_server, name="malformed-b")
    try:
        ws = subscribed(b.port, "gc-w")
        stored = [json.dumps({"seq": n, "eventId": f"x{n}", "sessionId": "gc-w", "type": "t", "timestamp": TS},
                             separators=(",", ":")) for n in (1, 3)]
        junk = ('{"sessionId":"gc-w","kind":"events","count":2,"events":[' + ",".join(stored)
                + '],"timestamp":"2026-12-07T12:00:00.000Z","epoch":"00ab"}')
        assert int(redis_server.cli("PUBLISH", "afw:events", junk)) >= 1
        wait_until(lambda: b.metric("switchboard_bus_messages_malformed_total") == 1, what="the junk counted")
        assert "ignored a malformed message" in b.log_text()
        assert request(b, "POST", "/api/events", {"sessionId": "gc-w", "type": "t", "timestamp": TS, "data": {"p": 0, "i": 0}})[0] == 201
        assert received(ws, 1, timeout=10) == [(1, (0, 0))]
        assert b.metric("switchboard_bus_messages_malformed_total") == 1
    finally:
        assert b.stop() == 0


class RawSubscriber:
    """SUBSCRIBE over a plain socket: the channel's payloads as Redis sends them."""

    def __init__(self, port, channel):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.sock.sendall(f"*2\r\n$9\r\nSUBSCRIBE\r\n${len(channel)}\r\n{channel}\r\n".encode())
        assert self._item()[0] == b"subscribe"

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "redis closed the subscription"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _item(self):
        head = self._line()
        if head[:1] == b"*":
            return [self._item() for _ in range(int(head[1:]))]
        if head[:1] == b"$":
            size = int(head[1:])
            while len(self.buffer) < size + 2:
                self.buffer += self.sock.recv(65536)
            data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
            return data
        return head[1:]

    def read_messages(self, count, timeout=20):
        """Payloads other than presence, until `count` came, then any more within half a second."""
        out = []
        self.sock.settimeout(timeout)
        try:
            while True:
                payload = self._item()[2].decode()
                if '"kind":"presence"' not in payload:
                    out.append(payload)
                if len(out) == count:
                    self.sock.settimeout(0.5)
        except OSError:
            pass
        return out

    def close(self):
        self.sock.close()


def subscribe_raw(port, channel):
    return RawSubscriber(port, channel)
