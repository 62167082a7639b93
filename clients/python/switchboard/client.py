"""The REST side: publish (with idempotent retries), history, sessions, chains, the command
and input queues. ``Client`` is synchronous; ``AsyncClient`` offers the same calls as
coroutines (each HTTP exchange runs in a worker thread, retries wait with ``asyncio.sleep``)
plus ``subscribe``."""
from __future__ import annotations

import asyncio
import random
import secrets
import ssl
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Union

from ._http import (CONNECTION_ERRORS, Attempts, Endpoint, RetryDeadlineExceeded, RetryPolicy, SwitchboardError,
                    env_default, error_message, raise_for, retry_after)
from .models import Chain, Command, History, Input, PublishResult, Session, SessionSummary

COMMAND_TYPES = ("pause", "resume", "cancel", "abort", "retry", "skip")

TokenRefresher = Callable[[], Union[str, Awaitable[str]]]


def new_event_id() -> str:
    """A fresh RFC 9562 version-7 UUID (time-ordered, as the hub's own ids): the
    ``Idempotency-Key`` of a single event, the ``eventId`` of each event in a batch."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def make_event(session_id: str, type: str, fields: Optional[Dict[str, Any]] = None,
               timestamp: Optional[str] = None) -> Dict[str, Any]:
    """An event object: ``fields`` merged with ``sessionId``, ``type`` and ``timestamp`` (now,
    UTC, when neither ``timestamp`` nor ``fields['timestamp']`` gives one)."""
    event = dict(fields or {})
    event["sessionId"] = session_id
    event["type"] = type
    event["timestamp"] = timestamp or event.get("timestamp") or now_iso()
    return event


class _Base:
    def __init__(self, url: Optional[str] = None, *, api_key: Optional[str] = None, token: Optional[str] = None,
                 refresh_token: Optional[TokenRefresher] = None, retry: RetryPolicy = RetryPolicy(),
                 timeout: float = 10.0, ssl_context: Optional[ssl.SSLContext] = None,
                 rng: Optional[random.Random] = None):
        if api_key is None and token is None:
            api_key = env_default("SWITCHBOARD_API_KEY")
            token = env_default("SWITCHBOARD_TOKEN")
        self.endpoint = Endpoint(url, api_key, token, ssl_context, timeout)
        self.refresh_token = refresh_token
        self.retry = retry
        self.rng = rng or random.Random()

    @property
    def url(self) -> str:
        return self.endpoint.url

    @property
    def token(self) -> Optional[str]:
        """The current token (renewed by ``refresh_token`` on a subscription's ``token_expiring``)."""
        return self.endpoint.token

    @token.setter
    def token(self, value: Optional[str]) -> None:
        self.endpoint.token = value

    # Each REST call is described once (method, path, body, how to read the answer) and run by
    # the sync or async executor.
    @staticmethod
    def _prepare_single(event: Dict[str, Any], idempotency_key: Optional[str]):
        key = idempotency_key or new_event_id()
        return event, {"Idempotency-Key": key}

    @staticmethod
    def _prepare_batch(events: Sequence[Dict[str, Any]]):
        if not 1 <= len(events) <= 1000:
            raise ValueError("a batch holds 1 to 1000 events")
        prepared = []
        for e in events:
            e = dict(e)
            e.setdefault("timestamp", now_iso())
            e.setdefault("eventId", new_event_id())
            prepared.append(e)
        return prepared

    @staticmethod
    def _read_publish(status: int, body: Any, attempts: int):
        if isinstance(body, dict) and "results" in body:
            return [PublishResult.from_json(r, attempts) for r in body["results"]]
        return PublishResult.from_json(body, attempts)

    def _publish_outcome(self, status: int, headers: Dict[str, str], body: Any, attempts: Attempts):
        """('done', result) | ('retry', hinted delay) | raises for a final error."""
        if status in (200, 201):
            return "done", self._read_publish(status, body, attempts.count)
        if status in self.retry.statuses:
            return "retry", retry_after(headers)
        raise_for(status, body)
        raise SwitchboardError(status, f"unexpected answer {status}", body)


class Client(_Base):
    """A synchronous client.

    ``url`` defaults to ``$SWITCHBOARD_URL``, else ``http://localhost:3001``; ``api_key`` /
    ``token`` to ``$SWITCHBOARD_API_KEY`` / ``$SWITCHBOARD_TOKEN`` when neither is given.
    ``retry`` governs publishing (other calls are not retried: a drain or a queued command
    must not run twice). ``timeout`` bounds each HTTP exchange.

    >>> hub = Client("http://127.0.0.1:3001", api_key="0123456789abcdef")
    >>> hub.publish("build-7", "step", {"data": {"name": "compile"}}).seq
    1
    """

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, session_id: str, type: str, fields: Optional[Dict[str, Any]] = None, *,
                timestamp: Optional[str] = None, idempotency_key: Optional[str] = None) -> PublishResult:
        """Posts one event and returns its ``seq``. A fresh ``Idempotency-Key`` is generated
        (unless given) and sent with every attempt, so retries after 429 / 502 / 503 / 504 or a
        lost connection store it at most once (``PublishResult.duplicate`` tells when an
        earlier attempt had stored it)."""
        return self.publish_event(make_event(session_id, type, fields, timestamp), idempotency_key=idempotency_key)

    def publish_event(self, event: Dict[str, Any], *, idempotency_key: Optional[str] = None) -> PublishResult:
        """Posts an event object as given (it needs ``sessionId``, ``type``, ``timestamp``)."""
        body, headers = self._prepare_single(event, idempotency_key)
        return self._publish(body, headers)

    def publish_batch(self, events: Sequence[Dict[str, Any]]) -> List[PublishResult]:
        """Posts 1–1000 event objects in one request (validated whole by the hub: one bad
        event refuses them all). Each gets an ``eventId`` (unless it has one) and a
        ``timestamp`` (unless it has one); retries resend the same ids, so every event is
        stored at most once. Results are in the order of ``events``."""
        return self._publish(self._prepare_batch(events), {})

    def _publish(self, body: Any, headers: Dict[str, str]):
        attempts = Attempts(self.retry, self.rng)
        while True:
            attempts.count += 1
            try:
                status, resp_headers, answer = self.endpoint.request(
                    "POST", "/api/events", body, headers, timeout=attempts.attempt_timeout(self.endpoint.timeout))
                outcome, value = self._publish_outcome(status, resp_headers, answer, attempts)
                if outcome == "done":
                    return value
                last = (status, error_message(status, answer), answer)
            except ssl.SSLCertVerificationError as e:  # no retry makes a certificate valid
                raise SwitchboardError(0, f"{type(e).__name__}: {e}") from e
            except CONNECTION_ERRORS as e:
                value, last = 0.0, (0, f"{type(e).__name__}: {e}", None)
            delay = attempts.next_delay(value)
            if delay is None:
                raise RetryDeadlineExceeded(last[0], last[1], attempts.count, last[2])
            time.sleep(delay)

    # -- everything else ----------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, expect=(200, 201, 204)) -> Any:
        try:
            status, _, answer = self.endpoint.request(method, path, body)
        except CONNECTION_ERRORS as e:
            raise SwitchboardError(0, f"{type(e).__name__}: {e}") from e
        raise_for(status, answer)
        return answer

    def history(self, session_id: str, *, after: Optional[int] = None, since: Optional[str] = None,
                limit: Optional[int] = None) -> History:
        """Stored events, oldest first: ``after`` a seq, ``since`` an ISO time, at most ``limit``
        (1–10000; the hub's default is 1000)."""
        return History.from_json(self._call("GET", _history_path(session_id, after, since, limit)))

    def all_events(self, session_id: str, *, after: int = 0, page: int = 1000):
        """Every stored event after ``after``, paging through history; a generator."""
        while True:
            events = self.history(session_id, after=after, limit=page).events
            yield from events
            if len(events) < page:
                return
            after = events[-1].seq

    def list_sessions(self) -> List[SessionSummary]:
        return [SessionSummary.from_json(s) for s in self._call("GET", "/api/sessions")["sessions"]]

    def create_session(self, cwd: str, *, id: Optional[str] = None, hostname: Optional[str] = None,
                       platform: Optional[str] = None, user_id: Optional[str] = None) -> Session:
        return Session.from_json(self._call("POST", "/api/sessions", _session_body(cwd, id, hostname, platform, user_id)))

    def get_session(self, session_id: str) -> Optional[Session]:
        """The session with its chains, or None when it does not exist."""
        try:
            return Session.from_json(self._call("GET", f"/api/sessions/{quote(session_id)}"))
        except SwitchboardError as e:
            if e.status == 404:
                return None
            raise

    def update_session(self, session_id: str, *, status: Optional[str] = None, summary: Optional[str] = None,
                       end_reason: Optional[str] = None) -> Session:
        return Session.from_json(self._call("PUT", f"/api/sessions/{quote(session_id)}",
                                            _update_body(status, summary, end_reason)))

    def delete_session(self, session_id: str) -> None:
        """Removes the session, its events, chains and queues (subscribers get a new epoch)."""
        self._call("DELETE", f"/api/sessions/{quote(session_id)}")

    def list_chains(self, session_id: str) -> List[Chain]:
        return [Chain.from_json(c) for c in self._call("GET", f"/api/sessions/{quote(session_id)}/chains")["chains"]]

    def add_chain(self, session_id: str, chain: Dict[str, Any]) -> Chain:
        return Chain.from_json(self._call("POST", f"/api/sessions/{quote(session_id)}/chains", chain))

    def get_chain(self, chain_id: str) -> Optional[Chain]:
        try:
            return Chain.from_json(self._call("GET", f"/api/chains/{quote(chain_id)}"))
        except SwitchboardError as e:
            if e.status == 404:
                return None
            raise

    def send_command(self, session_id: str, type: str, payload: Any = None) -> Command:
        """Queues a command (``pause``, ``resume``, ``cancel``, ``abort``, ``retry``, ``skip``) and
        pushes it to the session's subscribers. Not retried: a lost answer raises."""
        answer = self._call("POST", f"/api/sessions/{quote(session_id)}/commands", _command_body(type, payload))
        return Command.from_json(answer.get("command") or {"id": answer.get("commandId"), "type": type})

    def drain_commands(self, session_id: str) -> List[Command]:
        """Takes every queued command at once (atomic: two pollers never both get one). Not
        retried: commands in a lost answer are gone, as with any drain."""
        return [Command.from_json(c) for c in self._call("GET", f"/api/sessions/{quote(session_id)}/commands")["commands"]]

    def ack_command(self, command_id: str, *, result: Any = None, error: Optional[str] = None) -> bool:
        """Acknowledges a command (API key only); False when the id is unknown or expired."""
        try:
            self._call("POST", f"/api/commands/{quote(command_id)}/ack", _ack_body(result, error))
            return True
        except SwitchboardError as e:
            if e.status == 404:
                return False
            raise

    def send_input(self, session_id: str, input: Any, prompt: Any = None) -> Input:
        answer = self._call("POST", f"/api/sessions/{quote(session_id)}/input", _input_body(input, prompt))
        return Input.from_json(answer.get("inputQueued") or {"input": input, "prompt": prompt})

    def drain_input(self, session_id: str) -> List[Input]:
        """Takes every queued input item at once (atomic)."""
        return [Input.from_json(i) for i in self._call("GET", f"/api/sessions/{quote(session_id)}/input")["inputs"]]

    def mint_token(self, sub: str, sessions: Sequence[str], scope: Sequence[str], ttl: Optional[int] = None) -> Dict[str, Any]:
        """``POST /api/tokens`` (API key and ``TOKEN_SECRET`` on the hub): ``{token, exp, expiresAt}``."""
        body: Dict[str, Any] = {"sub": sub, "sessions": list(sessions), "scope": list(scope)}
        if ttl is not None:
            body["ttl"] = ttl
        return self._call("POST", "/api/tokens", body)

    def health(self) -> Dict[str, Any]:
        return self._call("GET", "/health")

    # -- subscribing --------------------------------------------------------------------------
    def subscribe(self, *session_ids: str, after: Union[None, int, Dict[str, int]] = None,
                  epoch: Union[None, str, Dict[str, str]] = None, transport: str = "auto", **options):
        """A blocking iterator over a subscription (see ``AsyncClient.subscribe`` for the
        arguments and what it yields). It runs an event loop in a background thread; call
        ``close()`` (or use it as a context manager) to stop it."""
        from .subscription import SyncSubscription
        return SyncSubscription(self, session_ids, after=after, epoch=epoch, transport=transport, **options)


def _history_path(session_id, after, since, limit) -> str:
    query = {k: v for k, v in (("after", after), ("since", since), ("limit", limit)) if v is not None}
    return f"/api/events/{quote(session_id)}" + ("?" + urllib.parse.urlencode(query) if query else "")


def _session_body(cwd, id, hostname, platform, user_id):
    body: Dict[str, Any] = {"cwd": cwd}
    for key, value in (("id", id), ("hostname", hostname), ("platform", platform), ("userId", user_id)):
        if value is not None:
            body[key] = value
    return body


def _update_body(status, summary, end_reason):
    return {k: v for k, v in (("status", status), ("summary", summary), ("endReason", end_reason)) if v is not None}


def _command_body(type, payload):
    if type not in COMMAND_TYPES:
        raise ValueError(f"command type must be one of {', '.join(COMMAND_TYPES)}")
    body: Dict[str, Any] = {"type": type}
    if payload is not None:
        body["payload"] = payload
    return body


def _ack_body(result, error):
    return {k: v for k, v in (("result", result), ("error", error)) if v is not None}


def _input_body(input, prompt):
    body: Dict[str, Any] = {"input": input}
    if prompt is not None:
        body["prompt"] = prompt
    return body


class AsyncClient(_Base):
    """The asyncio client: the same calls as ``Client``, as coroutines, plus ``subscribe``.

    Each HTTP exchange runs in a worker thread (``asyncio.to_thread``) over the standard
    library; publishing retries wait with ``asyncio.sleep``, so cancelling a publish stops its
    retries (an attempt already sent may still be stored — once, by its key)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync = Client.__new__(Client)
        self._sync.__dict__ = self.__dict__  # one endpoint, one token, one policy

    async def publish(self, session_id: str, type: str, fields: Optional[Dict[str, Any]] = None, *,
                      timestamp: Optional[str] = None, idempotency_key: Optional[str] = None) -> PublishResult:
        """As ``Client.publish``."""
        return await self.publish_event(make_event(session_id, type, fields, timestamp), idempotency_key=idempotency_key)

    async def publish_event(self, event: Dict[str, Any], *, idempotency_key: Optional[str] = None) -> PublishResult:
        body, headers = self._prepare_single(event, idempotency_key)
        return await self._publish(body, headers)

    async def publish_batch(self, events: Sequence[Dict[str, Any]]) -> List[PublishResult]:
        """As ``Client.publish_batch``."""
        return await self._publish(self._prepare_batch(events), {})

    async def _publish(self, body: Any, headers: Dict[str, str]):
        attempts = Attempts(self.retry, self.rng)
        while True:
            attempts.count += 1
            try:
                status, resp_headers, answer = await asyncio.to_thread(
                    self.endpoint.request, "POST", "/api/events", body, headers,
                    attempts.attempt_timeout(self.endpoint.timeout))
                outcome, value = self._publish_outcome(status, resp_headers, answer, attempts)
                if outcome == "done":
                    return value
                last = (status, error_message(status, answer), answer)
            except ssl.SSLCertVerificationError as e:  # no retry makes a certificate valid
                raise SwitchboardError(0, f"{type(e).__name__}: {e}") from e
            except CONNECTION_ERRORS as e:
                value, last = 0.0, (0, f"{type(e).__name__}: {e}", None)
            delay = attempts.next_delay(value)
            if delay is None:
                raise RetryDeadlineExceeded(last[0], last[1], attempts.count, last[2])
            await asyncio.sleep(delay)

    # The other calls: Client's, each in a worker thread.
    async def _thread(self, method, *args, **kwargs):
        return await asyncio.to_thread(method, self._sync, *args, **kwargs)

    async def history(self, session_id: str, *, after: Optional[int] = None, since: Optional[str] = None, limit: Optional[int] = None) -> History:
        """As ``Client.history``."""
        return await self._thread(Client.history, session_id, after=after, since=since, limit=limit)

    async def list_sessions(self) -> List[SessionSummary]:
        """As ``Client.list_sessions``."""
        return await self._thread(Client.list_sessions)

    async def create_session(self, cwd: str, *, id: Optional[str] = None, hostname: Optional[str] = None, platform: Optional[str] = None, user_id: Optional[str] = None) -> Session:
        """As ``Client.create_session``."""
        return await self._thread(Client.create_session, cwd, id=id, hostname=hostname, platform=platform, user_id=user_id)

    async def get_session(self, session_id: str) -> Optional[Session]:
        """As ``Client.get_session``."""
        return await self._thread(Client.get_session, session_id)

    async def update_session(self, session_id: str, *, status: Optional[str] = None, summary: Optional[str] = None, end_reason: Optional[str] = None) -> Session:
        """As ``Client.update_session``."""
        return await self._thread(Client.update_session, session_id, status=status, summary=summary, end_reason=end_reason)

    async def delete_session(self, session_id: str) -> None:
        """As ``Client.delete_session``."""
        return await self._thread(Client.delete_session, session_id)

    async def list_chains(self, session_id: str) -> List[Chain]:
        """As ``Client.list_chains``."""
        return await self._thread(Client.list_chains, session_id)

    async def add_chain(self, session_id: str, chain: Dict[str, Any]) -> Chain:
        """As ``Client.add_chain``."""
        return await self._thread(Client.add_chain, session_id, chain)

    async def get_chain(self, chain_id: str) -> Optional[Chain]:
        """As ``Client.get_chain``."""
        return await self._thread(Client.get_chain, chain_id)

    async def send_command(self, session_id: str, type: str, payload: Any = None) -> Command:
        """As ``Client.send_command``."""
        return await self._thread(Client.send_command, session_id, type, payload)

    async def drain_commands(self, session_id: str) -> List[Command]:
        """As ``Client.drain_commands``."""
        return await self._thread(Client.drain_commands, session_id)

    async def ack_command(self, command_id: str, *, result: Any = None, error: Optional[str] = None) -> bool:
        """As ``Client.ack_command``."""
        return await self._thread(Client.ack_command, command_id, result=result, error=error)

    async def send_input(self, session_id: str, input: Any, prompt: Any = None) -> Input:
        """As ``Client.send_input``."""
        return await self._thread(Client.send_input, session_id, input, prompt)

    async def drain_input(self, session_id: str) -> List[Input]:
        """As ``Client.drain_input``."""
        return await self._thread(Client.drain_input, session_id)

    async def mint_token(self, sub: str, sessions: Sequence[str], scope: Sequence[str], ttl: Optional[int] = None) -> Dict[str, Any]:
        """As ``Client.mint_token``."""
        return await self._thread(Client.mint_token, sub, sessions, scope, ttl)

    async def health(self) -> Dict[str, Any]:
        """As ``Client.health``."""
        return await self._thread(Client.health)

    async def all_events(self, session_id: str, *, after: int = 0, page: int = 1000):
        """Every stored event after ``after``, paging through history; an async generator."""
        while True:
            events = (await self.history(session_id, after=after, limit=page)).events
            for event in events:
                yield event
            if len(events) < page:
                return
            after = events[-1].seq

    def subscribe(self, *session_ids: str, after: Union[None, int, Dict[str, int]] = None,
                  epoch: Union[None, str, Dict[str, str]] = None, transport: str = "auto", **options):
        """Subscribes to sessions; an async iterator (and async context manager) of ``Event``,
        ``StreamReset`` and ``Message`` objects. See ``switchboard.subscription.Subscription``."""
        from .subscription import Subscription
        return Subscription(self, session_ids, after=after, epoch=epoch, transport=transport, **options)
