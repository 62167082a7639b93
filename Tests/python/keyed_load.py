"""Load for the failover tests (Sentinel, Redis Cluster): publishers that post one keyed event at
a time and retry it with the same Idempotency-Key until it is acknowledged, and WebSocket
subscribers that record every event they receive."""
import asyncio
import json
import threading
import time

import websockets

from conftest import request

TS = "2026-11-24T12:00:00Z"


class KeyedPublisher(threading.Thread):
    """Events `p<index>-<n>`, round robin over `sessions` (starting at `index`), each retried with
    the same key until acknowledged (for up to 60 s)."""

    def __init__(self, instance, index, stop, sessions, pause=0.01):
        super().__init__(daemon=True)
        self.instance, self.index, self.stop_event, self.sessions, self.pause = instance, index, stop, sessions, pause
        self.acknowledged = {}   # key -> (session, seq, time acknowledged)
        self.retried = 0

    def run(self):
        n = 0
        while not self.stop_event.is_set():
            key = f"p{self.index}-{n}"
            session = self.sessions[(n + self.index) % len(self.sessions)]
            body = {"sessionId": session, "type": "tick", "timestamp": TS, "key": key}
            give_up = time.time() + 60
            while time.time() < give_up:
                try:
                    status, answer = request(self.instance, "POST", "/api/events", body, {"Idempotency-Key": key})
                except OSError:
                    status, answer = 0, None
                if status in (200, 201):
                    self.acknowledged[key] = (session, answer["seq"], time.time())
                    break
                self.retried += 1
                time.sleep(0.05)  # a publisher's pause before it retries
            n += 1
            time.sleep(self.pause)  # pacing: a steady flow, not a flood


async def subscribe(port, sessions, received, stop_at, confirmed=None):
    """Subscribes to every session and appends (session, seq, key) per event until `stop_at()`;
    each session's confirmation goes to `confirmed`."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        for s in sessions:
            await ws.send(json.dumps({"type": "subscribe", "sessionId": s}))
        while time.time() < stop_at():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                continue
            message = json.loads(raw)
            if message.get("type") == "subscription_confirmed" and confirmed is not None:
                confirmed.append(message["sessionId"])
            if message.get("type") == "event":
                received.append((message["sessionId"], message["seq"], message["payload"]["key"]))
