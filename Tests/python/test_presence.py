"""Presence (issue 26) against real switchboard processes: REST presence of two WebSocket
clients with the token's `info`; `presence: true` subscribers get presence_join /
presence_leave; SSE `?presence=1`; the WebSocket `presence` query under WS_RATE_LIMIT; a burst
of joins coalesced into `presence_diff`; and two instances on one real Redis, where a client on
B shows in A's presence and, after B is SIGKILLed, leaves it (presence_leave to A's watcher)
within PRESENCE_TTL."""
import asyncio
import json
import time

import jwt
import pytest
import websockets

from conftest import Hub, recv_json, recv_type, request
from redis_server import RedisServer
from test_sse import StreamReader

KEY = "presence-key-for-tests-0123"
SECRET = "presence-secret-0123456789abcdef0123456789"
AUTH = {"x-api-key": KEY}


def mint(sessions, scope, sub="dash", **extra):
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600, "sessions": sessions, "scope": scope, **extra},
                      SECRET, algorithm="HS256")


async def connect(hub, headers=None, token=None):
    """A WebSocket and its clientId (from the open message)."""
    path = f"/ws?token={token}" if token else "/ws"
    ws = await websockets.connect(f"ws://127.0.0.1:{hub.port}{path}", additional_headers=headers if headers is not None else AUTH)
    hello = await recv_json(ws)
    return ws, hello["payload"]["clientId"]


async def subscribe(ws, session, **options):
    await ws.send(json.dumps({"type": "subscribe", "sessionId": session, **options}))
    return await recv_type(ws, "subscription_confirmed")


def presence(hub, session, headers=AUTH):
    status, body = request(hub, "GET", f"/api/sessions/{session}/presence", headers=headers)
    assert status == 200, body
    return body


def wait_for(condition, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope="module")
def hub():
    h = Hub({"API_KEY": KEY, "TOKEN_SECRET": SECRET, "INSTANCE_ID": "presence-a"})
    yield h
    assert h.stop() == 0


def test_rest_presence_lists_both_clients_with_the_token_info(hub):
    async def main():
        a, a_id = await connect(hub)
        token = mint(["p-rest"], ["subscribe"], sub="ada", info={"name": "Ada", "team": ["x"]})
        b, b_id = await connect(hub, headers={}, token=token)
        await subscribe(a, "p-rest")
        await subscribe(b, "p-rest")
        body = wait_for(lambda: (lambda p: p if p["count"] == 2 else None)(presence(hub, "p-rest")))
        assert body["sessionId"] == "p-rest" and body["count"] == 2
        clients = {c["clientId"]: c for c in body["clients"]}
        assert set(clients) == {a_id, b_id}
        assert clients[a_id]["info"] == {}, "API-key clients carry no info"
        assert clients[b_id]["info"] == {"sub": "ada", "info": {"name": "Ada", "team": ["x"]}}
        assert all(c["instanceId"] == "presence-a" for c in body["clients"])
        assert all(c["since"].endswith("Z") for c in body["clients"])
        # A second session of the same connection is a second entry with the same clientId.
        await subscribe(a, "p-rest-2")
        assert [c["clientId"] for c in wait_for(lambda: presence(hub, "p-rest-2")["clients"])] == [a_id]
        await b.close()
        assert wait_for(lambda: presence(hub, "p-rest")["count"] == 1)
        await a.send(json.dumps({"type": "unsubscribe", "sessionId": "p-rest"}))
        assert wait_for(lambda: presence(hub, "p-rest")["count"] == 0)
        assert presence(hub, "p-rest")["clients"] == []
        await a.close()
        # The read scope, as the session GET routes: a token with only subscribe gets 403.
        status, body = request(hub, "GET", "/api/sessions/p-rest/presence",
                               headers={"Authorization": "Bearer " + mint(["p-rest"], ["subscribe"])})
        assert status == 403 and "'read'" in body["error"]
        status, body = request(hub, "GET", "/api/sessions/p-rest/presence",
                               headers={"Authorization": "Bearer " + mint(["p-rest"], ["read"])})
        assert status == 200 and body["count"] == 0
        assert request(hub, "GET", "/api/sessions/bad%20id/presence", headers=AUTH)[0] == 400
        assert request(hub, "GET", "/api/sessions/p-rest/presence")[0] == 401
        assert request(hub, "POST", "/api/sessions/p-rest/presence", headers=AUTH)[0] == 405
    asyncio.run(main())


def test_a_presence_subscriber_gets_the_list_then_joins_and_leaves(hub):
    async def main():
        watcher, watcher_id = await connect(hub)
        await subscribe(watcher, "p-watch", presence=True)
        snapshot = await recv_type(watcher, "presence")
        assert snapshot["sessionId"] == "p-watch"
        assert snapshot["payload"]["sessionId"] == "p-watch"
        assert [c["clientId"] for c in snapshot["payload"]["clients"]] in ([watcher_id], []), snapshot
        other, other_id = await connect(hub)
        await subscribe(other, "p-watch")
        join = await recv_type(watcher, "presence_join")
        while join["payload"]["clientId"] == watcher_id:  # its own join may come after the list
            join = await recv_type(watcher, "presence_join")
        assert join["sessionId"] == "p-watch" and join["payload"]["clientId"] == other_id
        assert join["payload"]["instanceId"] == "presence-a" and join["payload"]["info"] == {}
        await other.close()
        leave = await recv_type(watcher, "presence_leave")
        assert leave["payload"]["clientId"] == other_id
        # The query over the WebSocket answers the REST object as a `presence` message.
        await watcher.send(json.dumps({"type": "presence", "sessionId": "p-watch"}))
        answer = await recv_type(watcher, "presence")
        assert answer["payload"]["count"] == 1 and answer["payload"]["clients"][0]["clientId"] == watcher_id
        # A subscriber without the option hears nothing of presence.
        plain, _ = await connect(hub)
        await subscribe(plain, "p-watch")
        third, _ = await connect(hub)
        await subscribe(third, "p-watch")
        await recv_type(watcher, "presence_join")
        with pytest.raises(asyncio.TimeoutError):
            await recv_type(plain, "presence_join", timeout=0.5)
        await watcher.send(json.dumps({"type": "subscribe", "sessionId": "p-watch", "presence": "yes"}))
        error = await recv_type(watcher, "error")
        assert error["payload"]["code"] == "invalid_message"
        for ws in (watcher, plain, third):
            await ws.close()
    asyncio.run(main())


def test_server_sent_events_take_presence_1(hub):
    stream = StreamReader(hub.port, f"/api/events/p-sse/stream?presence=1&apiKey={KEY}")
    try:
        assert " 200 " in stream.read_head().splitlines()[0]
        seen = []

        def until(kind):
            deadline = time.time() + 10
            while time.time() < deadline:
                seen.extend(stream.messages(0.2))
                found = [json.loads(m["data"]) for m in seen if m.get("event") == kind]
                if found:
                    return found
            raise AssertionError(f"no {kind} in {seen}")

        snapshot = until("presence")[0]
        assert snapshot["sessionId"] == "p-sse" and snapshot["payload"]["count"] in (0, 1)

        async def join_and_leave():
            ws, ws_id = await connect(hub)
            await subscribe(ws, "p-sse")
            await asyncio.sleep(0.3)  # present for a while: a join and a leave, not one coalesced away
            await ws.close()
            return ws_id
        ws_id = asyncio.run(join_and_leave())
        assert any(j["payload"]["clientId"] == ws_id for j in until("presence_join"))
        assert any(m["payload"]["clientId"] == ws_id for m in until("presence_leave"))
        # The stream is present itself while it is open.
        assert wait_for(lambda: presence(hub, "p-sse")["count"] == 1)
    finally:
        stream.close()
    assert wait_for(lambda: presence(hub, "p-sse")["count"] == 0)
    assert request(hub, "GET", f"/api/events/p-sse/stream?presence=maybe&apiKey={KEY}")[0] == 400


def test_presence_queries_are_rate_limited_like_every_message():
    h = Hub({"WS_RATE_LIMIT": "5"})
    try:
        async def main():
            ws, _ = await connect(h, headers={})
            # 10 at once against a limit of 5/s (burst 5): the excess gets `rate_limited`
            # (a whole second of excess, more than 5 more, would close the connection).
            for _ in range(10):
                await ws.send(json.dumps({"type": "presence", "sessionId": "p-rate"}))
            answers, limited = 0, 0
            while answers + limited < 10:
                message = await recv_json(ws)
                if message["type"] == "presence":
                    answers += 1
                elif message["type"] == "error" and message["payload"]["code"] == "rate_limited":
                    limited += 1
            assert answers <= 6 and limited >= 4, (answers, limited)
            await ws.close()
        asyncio.run(main())
    finally:
        assert h.stop() == 0


def test_a_burst_of_joins_reaches_watchers_coalesced(hub):
    """40 joins at once: at most 20 one by one, the rest in presence_diff messages (one per
    second), and every join accounted for exactly once."""
    async def main():
        watcher, watcher_id = await connect(hub)
        await subscribe(watcher, "p-burst", presence=True)
        await recv_type(watcher, "presence")
        await asyncio.sleep(1.2)  # the watcher's own join is behind us: a fresh window
        others = [await connect(hub) for _ in range(40)]
        await asyncio.gather(*(subscribe(ws, "p-burst") for ws, _ in others))
        joined, messages = [], []
        deadline = time.time() + 6
        while len([i for i in joined if i != watcher_id]) < 40 and time.time() < deadline:
            try:
                message = await recv_json(watcher, max(deadline - time.time(), 0.01))
            except asyncio.TimeoutError:
                break
            if message["type"] == "presence_join":
                joined.append(message["payload"]["clientId"])
                if message["payload"]["clientId"] != watcher_id:
                    messages.append(message)
            elif message["type"] == "presence_diff":
                messages.append(message)
                assert message["payload"]["leaves"] == [] and message["payload"]["omittedJoins"] == 0
                joined += [c["clientId"] for c in message["payload"]["joins"]]
        joined = [i for i in joined if i != watcher_id]  # its own join, still unread before the burst
        assert sorted(joined) == sorted(i for _, i in others), "every join once"
        assert sum(m["type"] == "presence_join" for m in messages) <= 20
        assert any(m["type"] == "presence_diff" for m in messages)
        assert len(messages) <= 23
        for ws, _ in others:
            await ws.close()
        await watcher.close()
    asyncio.run(main())


@pytest.mark.parametrize("mode", ["shared", "session"])
def test_a_sigkilled_instance_leaves_every_presence_within_presence_ttl(mode):
    ttl = 3
    with RedisServer() as redis:
        env = {"REDIS_URL": redis.url, "PRESENCE_TTL": str(ttl), "REDIS_CHANNEL_MODE": mode}
        a = Hub({**env, "INSTANCE_ID": "inst-a"}, name="presence-a", wait="/ready")
        b = Hub({**env, "INSTANCE_ID": "inst-b"}, name="presence-b", wait="/ready")
        try:
            async def main():
                watcher, watcher_id = await connect(a, headers={})
                await subscribe(watcher, "p-kill", presence=True)
                await recv_type(watcher, "presence")
                remote, remote_id = await connect(b, headers={})
                await subscribe(remote, "p-kill")
                join = await recv_type(watcher, "presence_join")
                while join["payload"]["clientId"] != remote_id:
                    join = await recv_type(watcher, "presence_join")
                assert join["payload"]["instanceId"] == "inst-b"
                listed = presence(a, "p-kill", headers={})
                assert listed["count"] == 2
                assert {c["clientId"]: c["instanceId"] for c in listed["clients"]} == {watcher_id: "inst-a", remote_id: "inst-b"}
                assert redis.cli("PTTL", "afw:presence:p-kill").isdigit(), "the presence keys expire by themselves"

                b.kill()  # SIGKILL: no leave is sent, the lease runs out
                killed = time.time()
                leave = await recv_type(watcher, "presence_leave", timeout=ttl + 5)
                elapsed = time.time() - killed
                print(f"{mode}: presence_leave {elapsed:.2f} s after the SIGKILL (PRESENCE_TTL={ttl})")
                assert leave["payload"]["clientId"] == remote_id and leave["payload"]["instanceId"] == "inst-b"
                # PRESENCE_TTL, plus a second of slack for a loaded test machine.
                assert elapsed <= ttl + 1, f"presence_leave {elapsed:.2f} s after the SIGKILL"
                listed = presence(a, "p-kill", headers={})
                assert listed["count"] == 1 and [c["clientId"] for c in listed["clients"]] == [watcher_id], \
                    "only the watcher itself is left"
                # Exactly one leave: nothing more about the dead client comes later.
                with pytest.raises(asyncio.TimeoutError):
                    while True:
                        extra = await recv_json(watcher, timeout=ttl / 3 + 1)
                        assert not (extra["type"] == "presence_leave" and extra["payload"]["clientId"] == remote_id), extra
                await watcher.close()
                assert wait_for(lambda: presence(a, "p-kill", headers={})["count"] == 0)
            asyncio.run(main())
        finally:
            b.kill()
            assert a.stop() == 0
