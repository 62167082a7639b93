#!/usr/bin/env python3
"""SSE against WebSocket delivery rate, same load shape, interleaved rounds in one run.

Starts one switchboard (SWITCHBOARD_BIN, default the release build), then per round: SUBS
subscribers of one session (all WebSocket, or all SSE), a publisher POSTing EVENTS events in
batches of 100 (~200-byte events), and measures deliveries/s = SUBS x EVENTS / (time from the
first POST to the last subscriber holding every event). The readers only count messages
(`"type":"event"` in the bytes), so the client costs the same for both. Rounds alternate
WS, SSE, WS, SSE…, so load from other processes on a shared machine hits both alike.

Usage: python3 Scripts/bench/sse_vs_ws.py [ROUNDS=3] [SUBS=100] [EVENTS=2000]"""
import base64
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = b'"type":"event"'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, kind, session):
    s = socket.create_connection(("127.0.0.1", port))
    if kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        payload = json.dumps({"type": "subscribe", "sessionId": session}).encode()
        mask = os.urandom(4)
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        confirm = b'"sessionId":"' + session.encode() + b'"'
    else:
        s.sendall(f"GET /api/events/{session}/stream HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = b""
        confirm = b"event: subscription_confirmed"
    # Wait for the subscription to be confirmed before publishing.
    while confirm not in buf or (kind == "ws" and buf.count(b"subscription_confirmed") < 2):
        buf += s.recv(65536)
    s.setblocking(False)
    return s


def round_(port, kind, subs, events, session):
    socks = [connect(port, kind, session) for _ in range(subs)]
    counts = {s: 0 for s in socks}
    tails = {s: b"" for s in socks}
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    body = json.dumps([{"sessionId": session, "type": "t", "timestamp": "2026-11-24T12:00:00Z", "data": "x" * 120}] * 100).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    started = time.perf_counter()
    posted = 0
    done = 0
    while done < subs:
        if posted < events:
            conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 201, r.status
            posted += 100
        for key, _ in sel.select(timeout=0 if posted < events else 1):
            s = key.fileobj
            data = s.recv(1 << 20)
            if not data:
                raise SystemExit(f"{kind} subscriber closed")
            chunk = tails[s] + data
            counts[s] += chunk.count(MARK) - tails[s].count(MARK)
            tails[s] = chunk[-(len(MARK) - 1):]
            if counts[s] >= events:
                sel.unregister(s)
                done += 1
    elapsed = time.perf_counter() - started
    for s in socks:
        s.close()
    conn.close()
    return subs * events / elapsed


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    subs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    events = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    binary = os.environ.get("SWITCHBOARD_BIN") or os.path.join(ROOT, ".build", "release", "switchboard")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "API_KEY", "AFW_API_KEY")}
    env["LOG_LEVEL"] = "warning"
    proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port)], env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        rates = {"ws": [], "sse": []}
        for r in range(rounds):
            for kind in ("ws", "sse"):
                rate = round_(port, kind, subs, events, f"bench-{kind}-{r}")
                rates[kind].append(rate)
                print(f"round {r + 1} {kind:3}: {rate:,.0f} deliveries/s", flush=True)
        med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
        print(f"median ws {med['ws']:,.0f}/s, sse {med['sse']:,.0f}/s: sse/ws = {med['sse'] / med['ws']:.2f} "
              f"({subs} subscribers, {events} events of ~200 B, batches of 100, {rounds} interleaved rounds)")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


if __name__ == "__main__":
    main()
