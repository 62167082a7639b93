#!/usr/bin/env python3
"""Writes Sources/SBHub/Console/Files/openapi.json, the OpenAPI 3.1 description of every HTTP
route, from the tables below (kept next to README's API section). The binary serves it at
/openapi.json (SwiftPM embeds it, Package.swift); Tests/python/test_openapi.py validates it with
openapi-spec-validator and runs schemathesis against a live server with it.

Usage: python3 Scripts/openapi.py [--check]"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "Sources", "SBHub", "Console", "Files", "openapi.json")

SESSION_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,200}$"}
ANY_ID = {"type": "string", "minLength": 1}
ISO = {"type": "string", "format": "date-time", "description": "ISO-8601 date-time"}
STATUSES = ["pending", "active", "running", "paused", "completed", "failed", "cancelled"]
NULLABLE_TEXT = {"type": ["string", "null"]}
COMMANDS = ["pause", "resume", "cancel", "abort", "retry", "skip"]


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required=(), **props):
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


SCHEMAS = {
    "Error": obj(["error"], error={"type": "string", "description": "what was wrong; names the field for 400s"}),
    "Health": obj(["status", "instanceId", "uptimeSeconds", "storage", "redis", "connections"],
                  status={"enum": ["ok", "degraded"]}, instanceId={"type": "string"}, uptimeSeconds={"type": "integer"},
                  storage={"enum": ["memory", "redis"]},
                  redis=obj(["connected"], connected={"type": "boolean"}, subscribed={"type": "boolean"}),
                  connections={"type": "integer"}, websockets={"type": "integer"}, draining={"type": "boolean"},
                  authRequired={"type": "boolean", "description": "requests need the API key or a token"}),
    "Event": {"type": "object", "required": ["sessionId", "type", "timestamp"],
              "description": "Any JSON object; these fields are read. Stored byte for byte with seq and eventId added.",
              "properties": {"sessionId": SESSION_ID, "type": {"type": "string"}, "timestamp": ISO,
                             "eventId": {"type": "string", "minLength": 1, "maxLength": 200,
                                         "description": "client id: a repeat within IDEMPOTENCY_TTL is not stored again"}},
              "not": {"required": ["seq"]}},
    "StoredEvent": {"type": "object", "required": ["seq", "eventId", "sessionId", "type", "timestamp"],
                    "properties": {"seq": {"type": "integer", "minimum": 1}, "eventId": {"type": "string"},
                                   "sessionId": {"type": "string"}, "type": {"type": "string"}, "timestamp": {"type": "string"}}},
    "Appended": obj(["success", "eventId", "sessionId", "seq"], success={"const": True}, eventId={"type": "string"},
                    sessionId={"type": "string"}, seq={"type": "integer"}, duplicate={"const": True}),
    "AppendedBatch": obj(["success", "count", "results"], success={"const": True}, count={"type": "integer"},
                         results={"type": "array", "items": ref("Appended")}),
    "EventList": obj(["sessionId", "count", "events"], sessionId={"type": "string"}, count={"type": "integer"},
                     events={"type": "array", "items": ref("StoredEvent")}, cutoffTime={"type": "string"}),
    "NewSession": {"type": "object", "required": ["cwd"],
                   "properties": {"cwd": {"type": "string", "minLength": 1}, "hostname": NULLABLE_TEXT,
                                  "platform": NULLABLE_TEXT, "userId": NULLABLE_TEXT,
                                  "id": {"anyOf": [SESSION_ID, {"type": "null"}], "description": "default: a new UUIDv7"}}},
    "Session": obj(["id", "cwd", "status", "startedAt", "chains"], id={"type": "string"}, cwd={"type": "string"},
                   hostname={"type": ["string", "null"]}, platform={"type": ["string", "null"]}, user={"type": ["string", "null"]},
                   status={"type": "string"}, startedAt={"type": "string"}, endedAt={"type": ["string", "null"]},
                   summary={"type": ["string", "null"]}, endReason={"type": ["string", "null"]},
                   chains={"type": "array", "items": ref("Chain")}),
    "SessionUpdate": {"type": "object", "properties": {"status": {"enum": STATUSES + [None]}, "summary": NULLABLE_TEXT,
                                                       "endReason": NULLABLE_TEXT}},
    "SessionList": obj(["count", "sessions"], count={"type": "integer"}, sessions={"type": "array", "items": obj(
        ["id", "status", "cwd", "startedAt", "chainsCount"], id={"type": "string"}, status={"type": "string"},
        cwd={"type": "string"}, startedAt={"type": "string"}, endedAt={"type": ["string", "null"]},
        chainsCount={"type": "integer"}, lastSeq={"type": "integer", "description": "seq of the last event: how many it posted"})}),
    "NewChain": {"type": "object", "description": "Any JSON object; stored with id and sessionId added."},
    "Chain": obj(["id", "sessionId"], id={"type": "string"}, sessionId={"type": "string"}),
    "PresenceEntry": obj(["clientId", "instanceId", "since", "info"],
                         clientId={"type": "string", "description": "the connection's id (a WebSocket's clientId); one per connection"},
                         instanceId={"type": "string", "description": "the instance the client is connected to"},
                         since=ISO,
                         info={"type": "object", "description": "from the client's token: `sub`, and `info` when the token has "
                                                                "that claim (a JSON object); `{}` for API-key clients"}),
    "Presence": obj(["sessionId", "count", "clients"], sessionId={"type": "string"},
                    count={"type": "integer", "minimum": 0, "description": "every client present, exactly"},
                    clients={"type": "array", "maxItems": 1000, "items": ref("PresenceEntry"),
                             "description": "at most 1,000 of them, oldest first"}),
    "ChainList": obj(["sessionId", "count", "chains"], sessionId={"type": "string"}, count={"type": "integer"},
                     chains={"type": "array", "items": ref("Chain")}),
    "NewInput": {"type": "object", "required": ["input"],
                 "properties": {"input": {"not": {"type": "null"}, "description": "any JSON value but null"}, "prompt": NULLABLE_TEXT}},
    "InputQueued": obj(["success", "sessionId", "inputQueued"], success={"const": True}, sessionId={"type": "string"},
                       inputQueued={"type": "object"}),
    "InputList": obj(["sessionId", "count", "inputs"], sessionId={"type": "string"}, count={"type": "integer"},
                     inputs={"type": "array", "items": {"type": "object"}}),
    "NewCommand": {"type": "object", "required": ["type"], "properties": {"type": {"enum": COMMANDS}, "payload": {}}},
    "CommandQueued": obj(["success", "sessionId", "commandId", "command"], success={"const": True}, sessionId={"type": "string"},
                         commandId={"type": "string"}, command={"type": "object"}),
    "CommandList": obj(["sessionId", "count", "commands"], sessionId={"type": "string"}, count={"type": "integer"},
                       commands={"type": "array", "items": {"type": "object"}}),
    "Ack": {"type": "object", "properties": {"result": {}, "error": NULLABLE_TEXT}},
    "Acked": obj(["success", "commandId", "acknowledged"], success={"const": True}, commandId={"type": "string"},
                 acknowledged={"const": True}),
    "TokenRequest": {"type": "object", "required": ["sub", "sessions", "scope"],
                     "properties": {"sub": {"type": "string", "minLength": 1, "maxLength": 200},
                                    "sessions": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string"},
                                                 "description": "session ids, or prefixes ending in *"},
                                    "scope": {"oneOf": [{"type": "string", "minLength": 1},
                                                        {"type": "array", "minItems": 1, "items": {"enum": ["subscribe", "read", "publish", "command", "input"]}}]},
                                    "ttl": {"type": "integer", "minimum": 1, "maximum": 86400}}},
    "Token": obj(["token", "exp", "expiresAt"], token={"type": "string"}, exp={"type": "integer"}, expiresAt={"type": "string"}),
    "Instance": obj(["instanceId", "uptimeSeconds", "storage"], instanceId={"type": "string"}, startedAt={"type": "string"},
                    uptimeSeconds={"type": "integer"}, storage={"enum": ["memory", "redis"]},
                    redis=obj([], connected={"type": "boolean"}, subscribed={"type": "boolean"}), draining={"type": "boolean"},
                    connections={"type": "integer"}, websockets={"type": "integer"}, streams={"type": "integer"},
                    subscriptions={"type": "integer"}, lastSeenAt={"type": "string"}),
    "Stats": {"allOf": [ref("Instance"), obj(
        ["totals", "history", "instances"],
        totals=obj(["eventsAccepted", "deliveries"], eventsAccepted={"type": "integer"}, deliveries={"type": "integer"},
                   slowClientsCutOff={"type": "integer"}),
        history=obj(["intervalSeconds", "samples"], intervalSeconds={"type": "integer"}, samples={"type": "array", "items": obj(
            ["at", "eventsPerSecond", "deliveriesPerSecond", "connections", "subscriptions"], at={"type": "string"},
            eventsPerSecond={"type": "number"}, deliveriesPerSecond={"type": "number"}, connections={"type": "integer"},
            subscriptions={"type": "integer"})}),
        instances={"type": "array", "items": ref("Instance"),
                   "description": "instances that announced themselves in the last 10 s (Redis); memory: this one"},
        deliveryLag=dict(obj(["windowSeconds", "live", "replay"], windowSeconds={"type": "integer"},
                             live=ref("LagFigures"), replay=ref("LagFigures")),
                         description="switchboard_delivery_lag_seconds over the last windowSeconds (up to five minutes)"))]},
    "LagFigures": obj(["deliveries", "p50", "p99"], deliveries={"type": "integer"},
                      p50={"type": ["number", "null"], "description": "seconds; null with no deliveries in the window"},
                      p99={"type": ["number", "null"], "description": "seconds; null with no deliveries in the window"}),
}

JSON = "application/json"


def error(description, headers=None):
    response = {"description": description, "content": {JSON: {"schema": ref("Error")}}}
    if headers:
        response["headers"] = headers
    return response


RETRY = {"Retry-After": {"schema": {"type": "string"}}}
RESPONSES = {
    "Unauthorized": error("missing or invalid API key or token"),
    "Forbidden": error("outside the token's grant, or Origin not allowed"),
    "RateLimited": error("rate limited", RETRY),
    "Unavailable": error("storage unavailable or draining", RETRY),
    "BadRequest": error("invalid input: the message names the field"),
    "TooLarge": error("body over MAX_BODY_BYTES"),
    "NotJSON": error("not JSON"),
    "OutOfMemory": error("The store is at its memory limit (Redis over its maxmemory, or MEMORY_STORE_MAX_BYTES with MEMORY_STORE_EVICTION=off or nothing evictable): the write was refused and nothing was stored (reads keep working)"),
}


def shared(name):
    return {"$ref": f"#/components/responses/{name}"}


COMMON_ERRORS = {"401": shared("Unauthorized"), "403": shared("Forbidden"), "429": shared("RateLimited"), "503": shared("Unavailable")}
# Writes refused at the store's memory limit: Redis's maxmemory (REDIS_INTEGRATION.md, the
# scripts' flags) or MEMORY_STORE_MAX_BYTES (README).
FULL = {"507": shared("OutOfMemory")}
BODY_ERRORS = {"400": shared("BadRequest"), "413": shared("TooLarge"), "415": shared("NotJSON")}


def ok(status, schema, description="OK", headers=None):
    response = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return {str(status): response}


def body(schema):
    return {"required": True, "content": {JSON: {"schema": schema}}}


def path_param(name, schema=None):
    return {"name": name, "in": "path", "required": True, "schema": schema or ANY_ID}


def query(name, schema, description=""):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def op(summary, responses, tags, parameters=None, request=None, security=True, errors=COMMON_ERRORS, description=None):
    operation = {"summary": summary, "tags": tags, "responses": {**responses, **errors}}
    if parameters:
        operation["parameters"] = parameters
    if request:
        operation["requestBody"] = request
        operation["responses"].update(BODY_ERRORS)
    if description:
        operation["description"] = description
    if not security:
        operation["security"] = []
    operation["responses"]["400"] = operation["responses"].get("400", shared("BadRequest"))
    return operation


SID = path_param("sessionId", SESSION_ID)
ID = path_param("id", SESSION_ID)
TEXT = {"type": "string"}
STATIC = {"400": shared("BadRequest")}


def static(summary, media, description=None):
    return {"get": op(summary, {"200": {"description": "the file", "content": {media: {"schema": TEXT}},
                                         "headers": {"ETag": {"schema": TEXT}, "Cache-Control": {"schema": TEXT}}},
                                "304": {"description": "not modified (If-None-Match)"}},
                      ["Console"], security=False, errors=STATIC, description=description)}


PATHS = {
    "/health": {"get": op("Liveness and a summary of this instance", ok(200, ref("Health")), ["System"], security=False,
                          errors=STATIC)},
    "/ready": {"get": op("Readiness for a load balancer", ok(200, obj(["status"], status={"const": "ready"})), ["System"],
                         security=False, errors={"503": error("draining, Redis unreachable or Pub/Sub down", RETRY)})},
    "/metrics": {"get": op("Prometheus text exposition", {"200": {"description": "metrics", "content": {
        "text/plain": {"schema": TEXT}}}}, ["System"], description="Needs the API key unless METRICS_PUBLIC=true.")},
    "/api/stats": {"get": op("This instance's counters, rates over the last minutes and the instances it knows of",
                             ok(200, ref("Stats")), ["System"])},
    "/api/events": {"post": op(
        "Store and broadcast one event or a batch of up to 1000",
        {**ok(201, {"oneOf": [ref("Appended"), ref("AppendedBatch")]}, "stored"),
         **ok(200, {"oneOf": [ref("Appended"), ref("AppendedBatch")]}, "a repeat of an idempotency key: nothing stored"), **FULL},
        ["Events"], parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                                 "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"}}],
        request=body({"oneOf": [ref("Event"), {"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("Event")}]}))},
    "/api/events/{sessionId}": {"get": op(
        "Stored events, oldest first", ok(200, ref("EventList")), ["Events"],
        parameters=[SID, query("since", ISO), query("after", {"type": "integer", "minimum": 0}),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000})])},
    "/api/events/{sessionId}/recent": {"get": op(
        "The newest events within a time window", ok(200, ref("EventList")), ["Events"],
        parameters=[SID, query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
                    query("seconds", {"type": "integer", "minimum": 1, "maximum": 31536000, "default": 60})])},
    "/api/events/{sessionId}/stream": {"get": op(
        "Server-Sent Events: the session's events live, resumable",
        {"200": {"description": "text/event-stream: `id:` is the seq, `event:` the message type (event, command, input, "
                                "subscription_confirmed, session_deleted, error, and with ?presence=1 presence, presence_join, "
                                "presence_leave, presence_diff), `data:` the same JSON as on the WebSocket; "
                                "`: heartbeat` comments every HEARTBEAT_SECONDS",
                 "content": {"text/event-stream": {"schema": TEXT}}}},
        ["Events"],
        parameters=[SID, {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string", "pattern": "^[0-9]*$"},
                          "description": "the last seq received: the stream replays every later stored event first"},
                    query("lastEventId", {"type": "integer", "minimum": 0}, "as Last-Event-ID"),
                    query("epoch", {"type": "string", "minLength": 1, "maxLength": 64}, "the stream epoch the seq belongs to"),
                    query("token", TEXT, "a token, for EventSource (which cannot set headers)"),
                    query("presence", {"enum": ["1", "0", "true", "false"]},
                          "1: also presence (the list at open), presence_join, presence_leave and presence_diff")],
        description="Needs `subscribe` on the session. A stalled reader is cut off at SEND_QUEUE_BYTES; a replay is paced by "
                    "the client's reading. The stream ends on shutdown (clients reconnect) and, for a token, at its exp.")},
    "/api/sessions": {
        "get": op("Every live session", ok(200, ref("SessionList")), ["Sessions"]),
        "post": op("Create a session", {**ok(201, ref("Session"), "created"), **FULL}, ["Sessions"], request=body(ref("NewSession")),
                   errors={**COMMON_ERRORS, "409": error("a session with this id exists")}),
    },
    "/api/sessions/{id}": {
        "get": op("A session with its chains", {**ok(200, ref("Session")), "404": error("no such session")}, ["Sessions"],
                  parameters=[ID]),
        "put": op("Update status, summary, endReason", {**ok(200, ref("Session")), "404": error("no such session"), **FULL}, ["Sessions"],
                  parameters=[ID], request=body(ref("SessionUpdate"))),
        "delete": op("Remove a session, its events, chains and queues",
                     {"204": {"description": "removed: any of its record, events, chains or queues existed"},
                      "404": error("nothing of the session exists; nothing changed")}, ["Sessions"], parameters=[ID]),
    },
    "/api/sessions/{id}/chains": {
        "get": op("A session's chains", ok(200, ref("ChainList")), ["Sessions"], parameters=[ID]),
        "post": op("Add a chain", {**ok(201, ref("Chain"), "added"), "404": error("no such session"), **FULL}, ["Sessions"],
                   parameters=[ID], request=body(ref("NewChain"))),
    },
    "/api/sessions/{id}/presence": {"get": op(
        "Who is subscribed to the session now, on every instance", ok(200, ref("Presence")), ["Sessions"], parameters=[ID],
        description="A client is present while it holds a WebSocket subscription to the session or a Server-Sent Events "
                    "stream of it. Needs `read` on the session. A session nobody watches answers count 0 (no 404). With Redis, "
                    "the clients of an instance that stopped without a word leave within PRESENCE_TTL.")},
    "/api/chains/{chainId}": {"get": op("A chain", {**ok(200, ref("Chain")), "404": error("no such chain")}, ["Sessions"],
                                        parameters=[path_param("chainId")])},
    "/api/sessions/{id}/input": {
        "get": op("Drain the input queue atomically", ok(200, ref("InputList")), ["Queues"], parameters=[ID]),
        "post": op("Queue input (pushed to subscribers as `input`)", {**ok(201, ref("InputQueued"), "queued"), **FULL}, ["Queues"],
                   parameters=[ID], request=body(ref("NewInput"))),
    },
    "/api/sessions/{id}/commands": {
        "get": op("Drain the command queue atomically", ok(200, ref("CommandList")), ["Queues"], parameters=[ID]),
        "post": op("Queue a command (pushed to subscribers as `command`)", {**ok(201, ref("CommandQueued"), "queued"), **FULL}, ["Queues"],
                   parameters=[ID], request=body(ref("NewCommand"))),
    },
    "/api/commands/{commandId}/ack": {"post": op(
        "Acknowledge a command", {**ok(200, ref("Acked")), "404": error("unknown or expired command id"), **FULL}, ["Queues"],
        parameters=[path_param("commandId")], request=body(ref("Ack")), description="API key only.")},
    "/api/tokens": {"post": op(
        "Mint a scoped token (API key only; needs TOKEN_SECRET)",
        {**ok(201, ref("Token"), "minted"), "404": error("minting is off: this server has no API_KEY or no TOKEN_SECRET (the message says which)")},
        ["Access"],
        request=body(ref("TokenRequest")))},
    "/ws": {"get": op("The WebSocket endpoint (RFC 6455): subscribe, unsubscribe, input, ping",
                      {"101": {"description": "switching protocols"}, "426": error("not a WebSocket upgrade")},
                      ["Realtime"], description="Messages are described in README, \"WebSocket\".")},
    "/echo": {"get": op("An echo WebSocket for conformance testing",
                        {"101": {"description": "switching protocols"}, "401": error("missing or invalid API key or token"),
                         "403": error("Origin not in ALLOWED_ORIGINS"),
                         "404": error("the endpoint is off (the default): ECHO_ENDPOINT=true turns it on"),
                         "426": error("not a WebSocket upgrade")}, ["Realtime"],
                        description="Off unless ECHO_ENDPOINT=true; then it passes the same checks as /ws.")},
    "/": static("The console (same as /console)", "text/html"),
    "/console": static("The built-in console", "text/html",
                       "Static HTML; its script and stylesheet have content-hashed names under /console/ and are cached immutably."),
    "/switchboard.js": static("The JavaScript client (an ES module)", "text/javascript"),
    "/openapi.json": static("This document", JSON),
}


def document():
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard", "version": "1.0.0",
                 "description": "A multi-instance event broadcast hub: agents POST events, dashboards subscribe over WebSocket "
                                "or Server-Sent Events. Every error is `{\"error\": message}`. With API_KEY or TOKEN_* set, "
                                "requests need the key (Bearer, x-api-key or ?apiKey=) or a token (Bearer or ?token=)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}, {"tokenQuery": []}, {}],
        "tags": [{"name": n} for n in ["System", "Events", "Sessions", "Queues", "Access", "Realtime", "Console"]],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the API key, or a token (JWT)"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "apiKey"},
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }


if __name__ == "__main__":
    import sys
    text = json.dumps(document(), indent=1) + "\n"
    if "--check" in sys.argv:
        current = open(TARGET, encoding="utf-8").read() if os.path.exists(TARGET) else ""
        sys.exit(0 if current == text else f"{os.path.relpath(TARGET, ROOT)} is out of date: run python3 Scripts/openapi.py")
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(TARGET, ROOT)}")
