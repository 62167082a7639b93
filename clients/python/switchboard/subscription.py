"""Subscriptions: WebSocket first, Server-Sent Events as the fallback, resumed from the last
delivered seq (and its epoch) on every reconnect, with stream resets surfaced.

Delivery rule: per session the subscription remembers the epoch and the last seq it handed to
the application. Every (re)connect subscribes with ``lastEventId`` = that seq and ``epoch``, so
the hub replays exactly what is missing; anything at or below it that still arrives is dropped.
When the hub answers ``recovered: false`` (the missing events were trimmed, expired, or belong
to an older epoch) or a ``session_deleted`` arrives, a ``StreamReset`` is yielded (and
``on_reset`` called) before the first event of the new position, which is then accepted from
the hub's ``oldestSeq``."""
from __future__ import annotations

import asyncio
import inspect
import json
import queue
import random
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException

from ._http import SwitchboardError
from .models import Event, Message, StreamReset

TRANSPORTS = ("auto", "websocket", "sse")
_END = object()


@dataclass
class _State:
    last_seq: Optional[int]   # last seq handed to the application (None: live only, nothing yet)
    epoch: Optional[str]


class _FallBack(Exception):
    """The WebSocket upgrade was refused in a way that means 'not here' (a proxy without
    upgrade support, a blocked path): use Server-Sent Events."""


class _AuthFailed(Exception):
    pass


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


class Subscription:
    """An async iterator over one or more sessions' streams.

    Arguments (through ``AsyncClient.subscribe``):

    * ``after`` — where to start: None = live events only (from now on); an int N = every
      stored event with ``seq > N`` first (0 = the whole kept history), then live; or a dict
      ``{sessionId: N}``.
    * ``epoch`` — the epoch that ``after`` belongs to (str or dict), when resuming from a
      position saved earlier; the hub then says ``recovered: false`` if the stream restarted.
    * ``transport`` — ``"auto"`` (WebSocket; Server-Sent Events when the upgrade is refused
      with anything but 401/403/429/5xx), ``"websocket"`` or ``"sse"``.
    * ``on_reset(StreamReset)`` — called (sync or async) on every stream reset; resets are
      also yielded unless ``yield_resets=False``.
    * ``on_status(str)`` — ``"connecting"``, ``"open websocket"``, ``"open sse"``,
      ``"reconnecting in 0.4s: …"``, ``"closed"``.
    * ``messages`` — also yield ``Message`` objects for commands, input, errors and other
      pushes (default True).
    * ``backoff`` — (initial, maximum) reconnect delay in seconds, jittered (half fixed, half
      random); default (0.25, 10).
    * ``read_timeout`` — SSE only: seconds without a byte (the hub sends a heartbeat every
      ``HEARTBEAT_SECONDS``) before the stream is considered dead; default 90.
    * ``queue_size`` — items buffered for a slow consumer (default 1000). When it is full the
      connection stops reading; if the hub cuts it off meanwhile the subscription reconnects
      and resumes, losing nothing.

    With a token, ``token_expiring`` is answered with a ``refresh`` carrying the token
    ``client.refresh_token()`` returns (sync or async); the new token is kept on the client for
    reconnects and REST. On SSE, where no refresh message exists, a stream that ended with
    ``token_expired`` is reopened with a fresh token from the same callback.

    ``last_seq`` / ``epochs`` expose the current position per session (save them to resume a
    later subscription); ``reconnects``, ``duplicates_dropped``, ``transport`` describe the
    connection."""

    def __init__(self, client, session_ids: Iterable[str], *, after=None, epoch=None, transport="auto",
                 on_reset: Optional[Callable[[StreamReset], Any]] = None,
                 on_status: Optional[Callable[[str], Any]] = None, yield_resets: bool = True,
                 messages: bool = True, backoff=(0.25, 10.0), read_timeout: float = 90.0,
                 queue_size: int = 1000, open_timeout: float = 10.0, rng: Optional[random.Random] = None):
        session_ids = list(dict.fromkeys(session_ids))
        if not session_ids:
            raise ValueError("subscribe to at least one session")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}")
        self.client = client
        self.session_ids = session_ids
        self.states: Dict[str, _State] = {}
        for sid in session_ids:
            start = after.get(sid) if isinstance(after, dict) else after
            ep = epoch.get(sid) if isinstance(epoch, dict) else epoch
            self.states[sid] = _State(last_seq=start, epoch=ep)
        self.requested_transport = transport
        self.transport = "websocket" if transport in ("auto", "websocket") else "sse"
        self.on_reset = on_reset
        self.on_status = on_status
        self.yield_resets = yield_resets
        self.messages = messages
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.open_timeout = open_timeout
        self.rng = rng or random.Random()
        self.reconnects = 0
        self.duplicates_dropped = 0
        self.refreshes = 0
        self._queue_size = queue_size
        self._queue: Optional[asyncio.Queue] = None   # made on the loop that runs the subscription
        self._background: set = set()
        self._task: Optional[asyncio.Task] = None
        self._closed = False

    # -- public surface ---------------------------------------------------------------------
    @property
    def last_seq(self) -> Dict[str, Optional[int]]:
        return {sid: st.last_seq for sid, st in self.states.items()}

    @property
    def epochs(self) -> Dict[str, Optional[str]]:
        return {sid: st.epoch for sid, st in self.states.items()}

    def __aiter__(self):
        self._start()
        return self

    async def __anext__(self):
        self._start()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def __aenter__(self):
        self._start()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self) -> None:
        """Stops the subscription and closes its connection."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        else:  # never started: iterating now ends at once
            self._start()
            self._queue.put_nowait(_END)
        self._status("closed")

    def _start(self):
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self._queue_size)
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _status(self, text: str):
        if self.on_status:
            try:
                self.on_status(text)
            except Exception:
                pass

    # -- connection loop --------------------------------------------------------------------
    async def _run(self):
        initial, maximum = self.backoff
        delay = initial
        try:
            while not self._closed:
                self._status("connecting")
                self._confirmed_once = False
                try:
                    if self.transport == "websocket":
                        await self._run_websocket()
                    else:
                        await self._run_sse()
                    error = "connection closed"
                except _FallBack as e:
                    self.transport = "sse"
                    self._status(f"websocket refused ({e}); falling back to server-sent events")
                    continue
                except _AuthFailed as e:
                    if self.client.refresh_token is not None and self.client.token and not self.client.endpoint.api_key:
                        await self._refresh_token()
                        error = f"refreshed the token after {e}"
                    else:
                        raise SwitchboardError(401, str(e))
                except ssl.SSLCertVerificationError as e:  # no reconnect makes a certificate valid
                    raise SwitchboardError(0, f"{type(e).__name__}: {e}") from e
                except (OSError, asyncio.TimeoutError, WebSocketException, ValueError, EOFError) as e:
                    error = f"{type(e).__name__}: {e}"
                if self._closed:
                    break
                if self._confirmed_once:
                    delay = initial
                wait = delay / 2 + self.rng.uniform(0, delay / 2)
                delay = min(maximum, delay * 2)
                self.reconnects += 1
                self._status(f"reconnecting in {wait:.2f}s: {error}")
                await asyncio.sleep(wait)
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # surfaced to the consumer, then the iteration ends
            self._closed = True
            await self._queue.put(e)
        finally:
            if self._closed:
                try:
                    self._queue.put_nowait(_END)
                except asyncio.QueueFull:
                    pass

    async def _refresh_token(self):
        token = await _maybe_await(self.client.refresh_token())
        if not token:
            raise SwitchboardError(401, "refresh_token returned no token")
        self.client.token = token
        self.refreshes += 1
        return token

    def _subscribe_message(self, sid: str) -> Dict[str, Any]:
        st = self.states[sid]
        msg: Dict[str, Any] = {"type": "subscribe", "sessionId": sid}
        if st.last_seq is not None:
            msg["lastEventId"] = st.last_seq
            if st.epoch:
                msg["epoch"] = st.epoch
        return msg

    async def _run_websocket(self):
        endpoint = self.client.endpoint
        try:
            ws = await ws_connect(endpoint.ws_url(), additional_headers=endpoint.auth_headers(),
                                  ssl=endpoint.ssl_context if endpoint.secure else None,
                                  open_timeout=self.open_timeout, max_size=None)
        except InvalidStatus as e:
            status = e.response.status_code
            if status == 401:
                raise _AuthFailed("websocket upgrade answered 401") from e
            if status == 403 or status == 429 or status >= 500:
                raise
            if self.requested_transport == "auto":
                raise _FallBack(f"upgrade answered {status}") from e
            raise
        except InvalidHandshake as e:
            if self.requested_transport == "auto":
                raise _FallBack(str(e)) from e
            raise
        async with ws:
            self._status("open websocket")
            for sid in self.session_ids:
                await ws.send(json.dumps(self._subscribe_message(sid)))
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if message.get("type") == "token_expiring":
                    task = asyncio.get_running_loop().create_task(self._answer_expiring(ws))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
                await self._handle(message)

    async def _answer_expiring(self, ws):
        if self.client.refresh_token is None:
            return
        try:
            token = await self._refresh_token()
            await ws.send(json.dumps({"type": "refresh", "token": token}))
        except Exception as e:  # the connection ends at exp; the reconnect tries again
            self._status(f"token refresh failed: {e}")

    async def _run_sse(self):
        tasks = [asyncio.ensure_future(self._run_sse_stream(sid)) for sid in self.session_ids]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_sse_stream(self, sid: str):
        """One stream per session (the hub serves one session per SSE response)."""
        endpoint = self.client.endpoint
        st = self.states[sid]
        query: Dict[str, Any] = {}
        if st.last_seq is not None:
            query["lastEventId"] = st.last_seq
            if st.epoch:
                query["epoch"] = st.epoch
        path = f"{endpoint.prefix}/api/events/{urllib.parse.quote(sid, safe='')}/stream"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            endpoint.host, endpoint.port, ssl=endpoint.ssl_context if endpoint.secure else None,
            server_hostname=endpoint.host if endpoint.secure else None), self.open_timeout)
        try:
            headers = {"Host": endpoint.host_header, "Accept": "text/event-stream", "Cache-Control": "no-cache",
                       **endpoint.auth_headers()}
            head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            writer.write(head.encode())
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), self.open_timeout)
            parts = status_line.decode("latin-1").split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise EOFError("no HTTP answer")
            status = int(parts[1])
            chunked = False
            while True:
                line = await asyncio.wait_for(reader.readline(), self.open_timeout)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if status != 200:
                body = (await asyncio.wait_for(reader.read(4096), self.open_timeout)).decode(errors="replace")
                if status == 401:
                    raise _AuthFailed(f"event stream answered 401: {body.strip()[:200]}")
                raise OSError(f"event stream answered {status}: {body.strip()[:200]}")
            if chunked:  # a proxy re-framed the close-delimited stream
                reader = _dechunk(reader, self.read_timeout)
            self._status("open sse")
            data: List[str] = []   # the JSON carries its own type, so `event:` lines are not needed
            while True:
                raw = await asyncio.wait_for(reader.readline(), self.read_timeout)
                if not raw:
                    raise EOFError("event stream ended")
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        try:
                            message = json.loads("\n".join(data))
                        except ValueError:
                            message = None
                        if isinstance(message, dict):
                            await self._handle(message)
                            if message.get("type") == "token_expired":
                                raise _AuthFailed("token expired")
                    data = []
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "data":
                    data.append(value)
        finally:
            writer.close()

    # -- messages ---------------------------------------------------------------------------
    async def _emit(self, item):
        await self._queue.put(item)

    async def _reset(self, reset: StreamReset):
        if self.on_reset is not None:
            await _maybe_await(self.on_reset(reset))
        if self.yield_resets:
            await self._emit(reset)

    async def _handle(self, message: Dict[str, Any]):
        kind = message.get("type")
        sid = message.get("sessionId")
        st = self.states.get(sid) if isinstance(sid, str) else None
        if kind == "event" and st is not None:
            seq = message.get("seq")
            if not isinstance(seq, int):
                return
            if st.last_seq is not None and seq <= st.last_seq:
                self.duplicates_dropped += 1
                return
            st.last_seq = seq
            await self._emit(Event(session_id=sid, seq=seq, payload=message.get("payload") or {}, epoch=st.epoch))
        elif kind == "subscription_confirmed" and st is not None:
            self._confirmed_once = True
            p = message.get("payload") or {}
            epoch, recovered = p.get("epoch"), p.get("recovered")
            last, oldest = p.get("lastSeq"), p.get("oldestSeq")
            previous_epoch, delivered = st.epoch, st.last_seq
            if st.last_seq is None:
                # Live only: the position is the stream's end at the moment of subscribing.
                st.last_seq = last if isinstance(last, int) else 0
                st.epoch = epoch
                return
            reason = None
            if recovered is False:
                reason = "not_recovered"
                if isinstance(oldest, int):
                    st.last_seq = oldest - 1   # the replay starts at the oldest kept event
            elif previous_epoch is not None and epoch is not None and epoch != previous_epoch:
                reason = "new_epoch"
            st.epoch = epoch
            if reason:
                await self._reset(StreamReset(session_id=sid, reason=reason, epoch=epoch, previous_epoch=previous_epoch,
                                              last_delivered_seq=delivered or 0, oldest_seq=oldest, last_seq=last,
                                              recovered=bool(recovered)))
        elif kind == "session_deleted" and st is not None:
            previous_epoch, delivered = st.epoch, st.last_seq
            new_epoch = message.get("epoch") or (message.get("payload") or {}).get("epoch")
            st.epoch, st.last_seq = new_epoch, 0
            await self._reset(StreamReset(session_id=sid, reason="session_deleted", epoch=new_epoch,
                                          previous_epoch=previous_epoch, last_delivered_seq=delivered or 0))
        elif kind in ("subscription_confirmed", "pong", "token_refreshed") and st is None:
            return
        elif self.messages and kind is not None:
            await self._emit(Message(type=kind, session_id=sid, payload=message.get("payload"), raw=message))


def _dechunk(reader: asyncio.StreamReader, timeout: float) -> asyncio.StreamReader:
    """A StreamReader yielding the body of a chunked response (for proxies that re-frame)."""
    out = asyncio.StreamReader()

    async def pump():
        try:
            while True:
                size_line = await asyncio.wait_for(reader.readline(), timeout)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                out.feed_data(await asyncio.wait_for(reader.readexactly(size), timeout))
                await reader.readline()
        except Exception:
            pass
        out.feed_eof()
    asyncio.get_running_loop().create_task(pump())
    return out


class SyncSubscription:
    """A blocking iterator over a ``Subscription`` whose event loop runs in a daemon thread.
    ``close()`` (or leaving a ``with`` block) stops it; iteration then ends."""

    def __init__(self, client, session_ids, **options):
        from .client import AsyncClient
        self._async_client = AsyncClient.__new__(AsyncClient)
        self._async_client.__dict__ = client.__dict__   # same endpoint and token
        self._options = options
        self._session_ids = session_ids
        self._queue: "queue.Queue" = queue.Queue(maxsize=options.get("queue_size", 1000))
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._sub: Optional[Subscription] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._thread_main, name="switchboard-subscription", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _thread_main(self):
        async def main():
            self._loop = asyncio.get_running_loop()
            try:
                self._sub = Subscription(self._async_client, self._session_ids, **self._options)
            except BaseException as e:
                self._error = e
                return
            finally:
                self._ready.set()
            try:
                async for item in self._sub:
                    await asyncio.to_thread(self._queue.put, item)
            except BaseException as e:  # noqa: B036 — handed to the consumer
                if not isinstance(e, asyncio.CancelledError):
                    await asyncio.to_thread(self._queue.put, e)
            finally:
                self._queue.put(_END)
        try:
            asyncio.run(main())
        finally:
            self._ready.set()

    @property
    def subscription(self) -> Subscription:
        """The underlying asyncio ``Subscription`` (its counters, transport)."""
        return self._sub

    @property
    def last_seq(self) -> Dict[str, Optional[int]]:
        """Per session, the last seq delivered (save it with ``epochs`` to resume later)."""
        return self._sub.last_seq

    @property
    def epochs(self) -> Dict[str, Optional[str]]:
        return self._sub.epochs

    @property
    def transport(self) -> str:
        return self._sub.transport

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def get(self, timeout: Optional[float] = None):
        """The next item, or None after ``timeout`` seconds."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._queue.put(_END)
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        loop, sub = self._loop, self._sub
        if loop is not None and sub is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(sub.close(), loop).result(timeout=10)
            except Exception:
                pass
        # Unblock a pump waiting on a full queue.
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.05)
        try:
            self._queue.put_nowait(_END)
        except queue.Full:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
