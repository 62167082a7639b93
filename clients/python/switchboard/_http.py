"""HTTP plumbing shared by the sync and asyncio clients: one request per connection
(``http.client``, standard library), errors, and the retry schedule."""
from __future__ import annotations

import http.client
import json
import os
import random
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

DEFAULT_URL = "http://localhost:3001"


class SwitchboardError(Exception):
    """The hub answered an error (``status`` ≥ 400; ``message`` is its ``error`` field), or it
    could not be reached (``status`` 0)."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body


class RetryDeadlineExceeded(SwitchboardError):
    """Publishing kept failing with retryable answers (429, 502, 503, 504, connection errors)
    until the retry deadline. ``attempts`` were made, all with the same idempotency key(s),
    so whatever one of them may have stored is stored once; retrying later with the same key
    (within the hub's ``IDEMPOTENCY_TTL``) is still safe."""

    def __init__(self, status: int, message: str, attempts: int, body: Any = None):
        super().__init__(status, f"gave up after {attempts} attempts: {message}", body)
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """How publishing retries. Delays start at ``initial`` seconds and double up to ``maximum``;
    each is half fixed and half random (so many publishers failing together do not retry in
    step), and never shorter than the hub's ``Retry-After``. No attempt starts after
    ``deadline`` seconds from the first one. Keep ``deadline`` well below the hub's
    ``IDEMPOTENCY_TTL`` (300 s by default): past it a retry could store the event again."""

    deadline: float = 30.0
    initial: float = 0.1
    maximum: float = 5.0
    statuses: Tuple[int, ...] = (429, 502, 503, 504)

    def delays(self, rng: Optional[random.Random] = None):
        """The endless sequence of nominal delays (before Retry-After and the deadline)."""
        rng = rng or random.Random()
        d = self.initial
        while True:
            yield d / 2 + rng.uniform(0, d / 2)
            d = min(self.maximum, d * 2)


NO_RETRY = RetryPolicy(deadline=0.0)


def env_default(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


class Endpoint:
    """Where the hub is and how to authenticate: parsed once, used by REST, WebSocket and SSE."""

    def __init__(self, url: Optional[str], api_key: Optional[str], token: Optional[str],
                 ssl_context: Optional[ssl.SSLContext], timeout: float):
        url = url or env_default("SWITCHBOARD_URL") or DEFAULT_URL
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"url must be http(s)://host[:port][/prefix], not {url!r}")
        self.url = url.rstrip("/")
        self.secure = parsed.scheme == "https"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.secure else 80)
        self.prefix = parsed.path.rstrip("/")
        self.api_key = api_key
        self.token = token
        self.ssl_context = ssl_context if ssl_context is not None else (ssl.create_default_context() if self.secure else None)
        self.timeout = timeout

    @property
    def host_header(self) -> str:
        default = 443 if self.secure else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def ws_url(self) -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{self.host_header}{self.prefix}/ws"

    def auth_headers(self) -> Dict[str, str]:
        """The API key wins over a token when both are given (it grants everything)."""
        if self.api_key:
            return {"x-api-key": self.api_key}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    def request(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
                timeout: Optional[float] = None) -> Tuple[int, Dict[str, str], Any]:
        """One request on a fresh connection (no stale keep-alive socket can fail a call that
        must not be retried): (status, headers with lowercased names, parsed JSON or text).
        Raises OSError / http.client.HTTPException when the hub cannot be reached."""
        if self.secure:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout or self.timeout,
                                               context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        all_headers = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self.prefix + path, body=data, headers=all_headers)
            resp = conn.getresponse()
            raw = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:  # a proxy's HTML error page, say
                parsed = raw.decode("utf-8", errors="replace")
        return resp.status, resp_headers, parsed


def error_message(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:200]
    return http.client.responses.get(status, "error")


def raise_for(status: int, body: Any) -> None:
    if status >= 400:
        raise SwitchboardError(status, error_message(status, body), body)


def retry_after(headers: Dict[str, str]) -> float:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except ValueError:
        return 0.0


CONNECTION_ERRORS = (OSError, http.client.HTTPException)


class Attempts:
    """The retry loop's bookkeeping, shared by the sync and asyncio publishers: after a failed
    attempt, ``next_delay`` says how long to wait, or None when the deadline leaves no room."""

    def __init__(self, policy: RetryPolicy, rng: Optional[random.Random] = None):
        self.policy = policy
        self.started = time.monotonic()
        self.count = 0
        self._delays = policy.delays(rng)

    def remaining(self) -> float:
        return self.policy.deadline - (time.monotonic() - self.started)

    def next_delay(self, hinted: float = 0.0) -> Optional[float]:
        delay = max(next(self._delays), hinted)
        if delay > self.remaining():
            return None
        return delay

    def attempt_timeout(self, default: float) -> float:
        """An attempt may use the client's timeout, but not run far past the deadline."""
        return max(1.0, min(default, self.remaining())) if self.policy.deadline > 0 else default
