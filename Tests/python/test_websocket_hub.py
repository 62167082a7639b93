"""The /ws hub protocol against a real process."""
import signal
import threading
import time

import pytest

from conftest import Hub, request
from wire import open_websocket, receive_until_close

TS = "2026-11-24T12:00:00Z"


@pytest.fixture
def ws_hub():
    h = Hub({"SEND_QUEUE_BYTES": "262144", "ECHO_ENDPOINT": "true"})
    yield h
    assert h.stop() == 0, h.log_text()[-3000:]


def post(hub, session, n):
    status, answer = request(hub, "POST", "/api/events", {"sessionId": session, "type": "t", "timestamp": TS, "data": {"n": n}})
    assert status == 201, answer
    return answer["seq"]


def subscribe(ws, session, last_event_id=None):
    message = {"type": "subscribe", "sessionId": session}
    if last_event_id is not None:
        message["lastEventId"] = last_event_id
    ws.send_json(message)
    assert ws.next_type("subscription_confirmed")["sessionId"] == session


def test_greeting_ping_and_errors(ws_hub):
    ws = open_websocket(ws_hub.port)
    hello = ws.next_json()
    assert hello["type"] == "subscription_confirmed"
    client_id = hello["payload"]["clientId"]
    assert client_id is not None
    ws.send_json({"type": "ping"})
    assert ws.next_type("pong")["clientId"] == client_id
    ws.send_text("{not json")
    assert isinstance(ws.next_type("error")["payload"]["message"], str)
    ws.send_json({"type": "teleport"})
    assert ws.next_type("error")["type"] == "error"
    # Still open after errors.
    ws.send_json({"type": "ping"})
    assert ws.next_type("pong")["type"] == "pong"


SESSION_ID_RULE = "sessionId must be 1-200 characters of [A-Za-z0-9._:-]"
LAST_EVENT_ID_RULE = "lastEventId must be a non-negative integer"
EPOCH_RULE = "epoch must be a string of 1-64 characters"
NOT_AN_OBJECT = "message is not a JSON object"
TYPE_RULE = "type is required and must be a string"

ERROR_ROWS = [
    ("{not json", "invalid_json", NOT_AN_OBJECT),
    ("[1,2]", "invalid_json", NOT_AN_OBJECT),
    ('{"type":"ping",}', "invalid_json", NOT_AN_OBJECT),
    ('"ping"', "invalid_json", NOT_AN_OBJECT),
    ('{"type":5}', "invalid_message", TYPE_RULE),
    ('{"sessionId":"s"}', "invalid_message", TYPE_RULE),
    ('{"type":"ping","type":"subscribe"}', "invalid_message", "type appears more than once; each field may be given once"),
    ('{"type":"teleport"}', "unknown_type", "unknown message type 'teleport'"),
    ('{"type":"subscribe"}', "invalid_session_id", SESSION_ID_RULE),
    ('{"type":"subscribe","sessionId":"a b"}', "invalid_session_id", SESSION_ID_RULE),
    ('{"type":"subscribe","sessionId":"s","lastEventId":-1}', "invalid_last_event_id", LAST_EVENT_ID_RULE),
    ('{"type":"subscribe","sessionId":"s","lastEventId":1.5}', "invalid_last_event_id", LAST_EVENT_ID_RULE),
    ('{"type":"subscribe","sessionId":"s","lastEventId":"3"}', "invalid_last_event_id", LAST_EVENT_ID_RULE),
    ('{"type":"subscribe","sessionId":"s","lastEventId":true}', "invalid_last_event_id", LAST_EVENT_ID_RULE),
    ('{"type":"subscribe","sessionId":"s","epoch":""}', "invalid_epoch", EPOCH_RULE),
    ('{"type":"subscribe","sessionId":"s","epoch":7}', "invalid_epoch", EPOCH_RULE),
    ('{"type":"refresh","token":"t"}', "invalid_refresh", "refresh applies to connections opened with a token"),
]


def test_message_errors_table(ws_hub):
    """Each bad message gets its error code and message, and the connection stays usable."""
    ws = open_websocket(ws_hub.port)
    ws.next_json()
    for text, code, message in ERROR_ROWS:
        ws.send_text(text)
        payload = ws.next_type("error")["payload"]
        assert (payload["code"], payload["message"]) == (code, message), text
    # Accepted forms: an escaped name, a byte order mark, an integral lastEventId as 2e0, null
    # for the optional fields.
    ws.send_text('\ufeff{"typ\\u0065":"ping"}')
    assert ws.next_type("pong")["type"] == "pong"
    ws.send_text('{"type":"subscribe","sessionId":"ws-table","lastEventId":2e0,"epoch":null}')
    assert ws.next_type("subscription_confirmed")["sessionId"] == "ws-table"
    ws.send_text('{"type":"unsubscribe","sessionId":"ws-table"}')
    assert ws.next_type("unsubscribed")["sessionId"] == "ws-table"


def test_input_payload_is_passed_on(ws_hub):
    """`input` passes its payload on as JSON values, whatever their kind."""
    ws = open_websocket(ws_hub.port)
    ws.next_json()
    ws.send_text('{"payload":{"text":"hi é","n":[1,2.5,null,true]},"type":"input","sessionId":"ws-input"}')
    assert ws.next_type("input_queued")["sessionId"] == "ws-input"
    ws.send_text('{"type":"input","sessionId":"ws-input","payload":"plain"}')
    ws.next_type("input_queued")
    ws.send_text('{"type":"input","sessionId":"ws-input"}')
    ws.next_type("input_queued")
    drained = request(ws_hub, "GET", "/api/sessions/ws-input/input")[1]
    inputs = drained["inputs"]
    assert len(inputs) == 3, drained
    assert inputs[0]["input"]["text"] == "hi é"
    assert len(inputs[0]["input"]["n"]) == 4
    assert inputs[1]["input"] == "plain"
    assert "input" in inputs[2] and inputs[2]["input"] is None, drained


def test_only_subscribed_sessions_are_delivered(ws_hub):
    a, b = open_websocket(ws_hub.port), open_websocket(ws_hub.port)
    a.next_json()
    b.next_json()
    subscribe(a, "iso-A")
    subscribe(b, "iso-B")
    for n in range(1, 6):
        post(ws_hub, "iso-A", n)
        post(ws_hub, "iso-B", n)
    for n in range(1, 6):
        ea = a.next_type("event")
        assert (ea["sessionId"], ea["seq"], ea["payload"]["data"]["n"]) == ("iso-A", n, n)
        assert b.next_type("event")["sessionId"] == "iso-B"
    # Nothing else is pending for A: a ping round-trip comes back before any foreign event.
    a.send_json({"type": "ping"})
    assert a.next_json()["type"] == "pong"

    # Commands and input reach subscribers too.
    assert request(ws_hub, "POST", "/api/sessions/iso-A/commands", {"type": "pause"})[0] == 201
    assert a.next_type("command")["sessionId"] == "iso-A"
    assert request(ws_hub, "POST", "/api/sessions/iso-A/input", {"input": "go"})[0] == 201
    assert a.next_type("input")["sessionId"] == "iso-A"

    # Unsubscribe stops delivery.
    a.send_json({"type": "unsubscribe", "sessionId": "iso-A"})
    post(ws_hub, "iso-A", 6)
    a.send_json({"type": "ping"})
    saw_event = False
    while True:
        m = a.next_json()
        saw_event |= m["type"] == "event"
        if m["type"] == "pong":
            break
    assert not saw_event


def test_last_event_id_replay_has_no_gap_and_no_duplicate(ws_hub):
    for n in range(1, 21):
        post(ws_hub, "replay", n)
    ws = open_websocket(ws_hub.port)
    ws.next_json()
    # Publish concurrently with the subscribe so live and replayed events race.
    publisher = threading.Thread(target=lambda: [post(ws_hub, "replay", n) for n in range(21, 61)])
    publisher.start()
    ws.send_json({"type": "subscribe", "sessionId": "replay", "lastEventId": 7})
    seqs = []
    while len(seqs) < 53:
        m = ws.next_json()
        if m["type"] == "event":
            seqs.append(m["seq"])
    publisher.join()
    assert seqs == list(range(8, 61))


def test_stalled_reader_is_cut_off_while_others_continue(ws_hub):
    stalled = open_websocket(ws_hub.port)
    stalled.next_json()
    subscribe(stalled, "flood")
    healthy = open_websocket(ws_hub.port)
    healthy.next_json()
    subscribe(healthy, "flood")
    pad = "x" * 16_000
    received = 0
    for n in range(1, 301):
        status, answer = request(ws_hub, "POST", "/api/events", {"sessionId": "flood", "type": "t", "timestamp": TS, "pad": pad, "n": n})
        assert status == 201, answer
        # The healthy client keeps reading.
        while received < n and healthy.next_type("event")["seq"] is not None:
            received += 1
    assert received == 300
    # The stalled one was cut off: reading now ends with a 1008 close (or EOF) before 300 events.
    events, close_code, ended = 0, None, None
    stalled.settimeout(5)
    while True:
        try:
            opcode, _, payload, _ = stalled.recv_message()
        except (EOFError, ConnectionResetError) as error:
            ended = error
            break
        if opcode == 1:
            events += 1
        elif opcode == 8:
            close_code = int.from_bytes(payload[:2], "big")
            break
    assert events < 300
    if close_code is not None:
        assert close_code == 1008
    else:
        # The close frame may not fit behind the discarded queue: then the connection ends.
        assert ended is not None, "cut off: a 1008 close or the end of the connection, not a stall"
    _, metrics = request(ws_hub, "GET", "/metrics")
    assert b"switchboard_slow_clients_cut_off 1" in metrics, metrics


def test_echo_endpoint_and_close_handshake(ws_hub):
    ws = open_websocket(ws_hub.port, path="/echo")
    ws.send_text("hello")
    assert ws.recv_message()[::2] == (1, b"hello")
    ws.send_frame(2, bytes([1, 2, 3]))
    assert ws.recv_message()[::2] == (2, bytes([1, 2, 3]))
    ws.send_close(1000)
    assert ws.recv_message()[::2] == (8, (1000).to_bytes(2, "big"))
    assert ws.buffer == b"" and receive_until_close(ws.sock) == b"", "server closes TCP after the close handshake"


def test_sigterm_sends_going_away_and_exits_zero(ws_hub):
    ws = open_websocket(ws_hub.port)
    ws.next_json()
    started = time.time()
    ws_hub.proc.send_signal(signal.SIGTERM)
    assert ws.close_code() == 1001
    ws.close()
    assert ws_hub.proc.wait(timeout=10) == 0, ws_hub.log_text()[-3000:]
    assert time.time() - started < 10
