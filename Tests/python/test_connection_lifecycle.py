"""Connection lifecycle bugs, each against a real switchboard process: pipelining behind
`Connection: close`, read resumption after backpressure, half-close while a Redis reply is
pending, and running out of file descriptors."""
import json
import os
import re
import socket
import subprocess
import time

from conftest import Hub, request, wait_until
from redis_server import RedisServer
from wire import complete_responses, connect, post_bytes, receive_until_close, server_side_state

TS = "2026-11-24T12:00:00Z"


def event_count(hub, session):
    return request(hub, "GET", f"/api/events/{session}")[1]["count"]


def cpu_seconds(pid):
    """utime + stime of the whole process, in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # after "comm)": state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid, seconds):
    """CPU used per wall-clock second over `seconds`."""
    before = cpu_seconds(pid)
    time.sleep(seconds)  # the measuring window
    return (cpu_seconds(pid) - before) / seconds


def healthy(hub):
    try:
        return request(hub, "GET", "/health")[0] == 200
    except OSError:
        return False


def test_nothing_after_a_connection_close_request_is_executed(hub):
    first = json.dumps({"sessionId": "cc-first", "type": "t", "timestamp": TS})
    second = json.dumps({"sessionId": "cc-second", "type": "t", "timestamp": TS})
    with connect(hub.port, timeout=5) as sock:
        sock.sendall(post_bytes("/api/events", first, extra="Connection: close\r\n") + post_bytes("/api/events", second))
        answer = receive_until_close(sock)
    assert complete_responses(answer) == [201], answer
    assert event_count(hub, "cc-first") == 1
    assert event_count(hub, "cc-second") == 0, "a request pipelined behind Connection: close must not be executed"


def test_reads_resume_when_the_send_queue_drains():
    """A pipelining client that reads slowly fills the send queue past SEND_QUEUE_BYTES; reads
    stop, and must start again when the queue drains, or the requests sent meanwhile stall."""
    hub = Hub({"SEND_QUEUE_BYTES": "65536"})
    try:
        blob = "x" * 250_000
        for i in range(4):
            assert request(hub, "POST", "/api/events", {"sessionId": "bp", "type": "t", "timestamp": TS, "n": i, "data": blob})[0] == 201
        get = b"GET /api/events/bp HTTP/1.1\r\nHost: x\r\n\r\n"
        with connect(hub.port, rcvbuf=8192, timeout=10) as sock:
            # 8 MB of responses: more than the kernel buffers hold (tcp_wmem max is 4 MB), so the
            # server's own queue goes over its limit and it stops reading.
            sock.sendall(get * 8)
            time.sleep(0.5)  # time to fill the queue and stop reading (no outside signal for it)
            sock.sendall(get * 4)
            received = b""
            deadline = time.time() + 30
            while len(complete_responses(received)) < 12 and time.time() < deadline:
                chunk = sock.recv(32768)
                assert chunk, "server closed the connection"
                received += chunk
                time.sleep(0.001)  # a slow reader
        assert complete_responses(received) == [200] * 12
        assert len(received) > 12 * 1_000_000, "every response carries the four events"
    finally:
        hub.stop()


def test_half_close_while_a_redis_reply_is_pending_does_not_spin():
    """The client sends a request and half-closes while the answer waits for Redis: the loop
    must not spin meanwhile, and the response still arrives, followed by EOF."""
    with RedisServer() as redis:
        hub = Hub({"REDIS_URL": redis.url})
        try:
            event = json.dumps({"sessionId": "hc", "type": "t", "timestamp": TS})
            # /health answers before every loop's Redis connection is up: the first event may
            # meet a 503 on a loaded machine, so it is retried until stored (at most 10 s).
            statuses = []
            wait_until(lambda: statuses.append(request(hub, "POST", "/api/events", raw=event.encode())[0]) or statuses[-1] != 503,
                       10, what="a first event not refused with 503")
            assert statuses[-1] == 201

            # Redis holds every command for 1.2 s (well under the 2 s command timeout, so a
            # loaded machine still gets the reply in time).
            assert redis.cli("CLIENT", "PAUSE", "1200") == "OK"
            with connect(hub.port, timeout=5) as sock:
                sock.sendall(post_bytes("/api/events", event))
                sock.shutdown(socket.SHUT_WR)
                client_port = sock.getsockname()[1]
                wait_until(lambda: server_side_state(hub.port, client_port) == "08", 2,
                           what="the server to see the half-close (CLOSE_WAIT)")
                share = cpu_share(hub.proc.pid, 0.8)
                assert share < 0.3, f"the server must not spin while a half-closed client waits ({share})"
                answer = b""
                saw_eof = False
                try:
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            saw_eof = True
                            break
                        answer += chunk
                except OSError:
                    pass
            assert complete_responses(answer) == [201], answer
            assert saw_eof, "the connection closes after the response"
            assert event_count(hub, "hc") == 2
        finally:
            hub.stop()


def test_running_out_of_descriptors_does_not_spin(hub):
    """Out of descriptors (the limit lowered under a running server), accept4 fails with EMFILE
    for every pending connection. The server must not spin or flood its log, and serves again
    once connections close."""
    subprocess.run(["prlimit", "--pid", str(hub.proc.pid), "--nofile=128:128"], check=True)
    sockets = [connect(hub.port, timeout=5) for _ in range(400)]
    try:
        wait_until(lambda: "out of file descriptors" in hub.log_text(), 5, what="the server to run out of descriptors")
        share = cpu_share(hub.proc.pid, 3.0)
        assert share < 0.3, f"the server must not spin on EMFILE ({share})"
        log = hub.log_text()
        assert "out of file descriptors" in log, log
        lines = [l for l in log.splitlines() if "accept" in l or "descriptors" in l or "refused" in l]
        assert len(lines) < 20, "warnings are rate-limited:\n" + "\n".join(lines[:30])
    finally:
        for s in sockets:
            s.close()
    wait_until(lambda: healthy(hub), 10, what="serving again once connections close")


def refused_with_503(sockets):
    """How many sockets were sent a 503 unasked (peeked, not read)."""
    refused = 0
    for s in sockets:
        timeout = s.gettimeout()
        s.setblocking(False)  # a socket with a timeout would wait for data first
        try:
            if s.recv(512, socket.MSG_PEEK).startswith(b"HTTP/1.1 503"):
                refused += 1
        except (BlockingIOError, ConnectionResetError):  # nothing to read
            pass
        finally:
            s.settimeout(timeout)
    return refused


def test_max_connections_is_capped_to_the_open_file_limit():
    """Started with `ulimit -n 256`, MAX_CONNECTIONS is lowered to fit, said at startup, and
    connections beyond it get a 503 instead of EMFILE."""
    hub = Hub(launcher=["/bin/sh", "-c", 'ulimit -n 256 && exec "$@"', "sh"])
    try:
        log = hub.log_text()
        line = next((l for l in log.splitlines() if "MAX_CONNECTIONS lowered" in l), None)
        assert line is not None, log
        cap = int(re.search(r" to (\d+)", line).group(1))
        assert cap < 256
        sockets = [connect(hub.port, timeout=5) for _ in range(cap + 20)]
        try:
            # Refused connections got a 503 unasked; admitted ones have nothing to read.
            wait_until(lambda: refused_with_503(sockets) >= 20, 5, what="the connections beyond the cap refused")
            refusal = next((l for l in hub.log_text().splitlines() if "connection refused" in l), "")
            assert "open-file limit (RLIMIT_NOFILE 256) is reached, not MAX_CONNECTIONS" in refusal, \
                f"the log says the file limit, not MAX_CONNECTIONS, refused them: {refusal}"
            assert cpu_share(hub.proc.pid, 1.0) < 0.3
            assert refused_with_503(sockets) == 20, f"exactly the connections beyond MAX_CONNECTIONS ({cap}) get 503"
        finally:
            for s in sockets:
                s.close()
        wait_until(lambda: healthy(hub), 10, what="serving again once connections close")
    finally:
        hub.stop()
