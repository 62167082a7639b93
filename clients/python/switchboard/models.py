"""Typed views of what the hub answers and pushes.

Every model keeps the JSON it was made from in ``raw``, so a field the hub adds later is never
lost to the application."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class PublishResult:
    """The answer to one published event.

    ``duplicate`` is true when the hub had already stored this event (same ``Idempotency-Key``
    or ``eventId`` within ``IDEMPOTENCY_TTL``): nothing was stored again and ``seq`` is the
    original one. ``attempts`` counts the HTTP attempts the client made (1 = no retry)."""

    session_id: str
    seq: int
    event_id: str
    duplicate: bool = False
    attempts: int = 1
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Dict[str, Any], attempts: int = 1) -> "PublishResult":
        return cls(session_id=data.get("sessionId", ""), seq=int(data.get("seq", 0)),
                   event_id=str(data.get("eventId", "")), duplicate=bool(data.get("duplicate", False)),
                   attempts=attempts, raw=data)


@dataclass(frozen=True)
class Event:
    """One event as delivered (live, replayed or read from history): ``payload`` is the event
    as posted, with the ``seq`` and ``eventId`` the hub added. ``epoch`` names the session's
    stream it belongs to (None when read from history, which does not carry it)."""

    session_id: str
    seq: int
    payload: Dict[str, Any]
    epoch: Optional[str] = None

    @property
    def type(self) -> Optional[str]:
        """The event's ``type`` field."""
        return self.payload.get("type")

    @property
    def event_id(self) -> Optional[str]:
        return self.payload.get("eventId")

    def to_json(self) -> Dict[str, Any]:
        """The shape the CLI prints: the hub's ``event`` message plus the epoch."""
        out: Dict[str, Any] = {"type": "event", "sessionId": self.session_id, "seq": self.seq}
        if self.epoch is not None:
            out["epoch"] = self.epoch
        out["payload"] = self.payload
        return out


@dataclass(frozen=True)
class StreamReset:
    """The session's stream did not continue where this subscriber left off; the application
    must decide what that means (reload a view, alert, re-read from a source of truth).

    ``reason`` is one of:

    * ``"not_recovered"`` — on (re)subscribe the hub answered ``recovered: false``: the events
      after the last one delivered were trimmed (``HISTORY_LIMIT``), expired, or belong to an
      older ``epoch``. Delivery continues from ``oldest_seq``; ``missed_from`` .. ``oldest_seq - 1``
      are gone when the epoch is unchanged.
    * ``"new_epoch"`` — the stream's epoch differs from the one last seen (the hub restarted
      its seq: DELETE, expiry, Redis data loss) even though the replay was complete.
    * ``"session_deleted"`` — a live ``session_deleted`` push: the session was deleted (or
      found expired) and a new stream starts at seq 1.

    ``previous_epoch`` is the epoch this subscriber held (None on the first subscribe of a
    fresh subscription); ``epoch`` the new one."""

    session_id: str
    reason: str
    epoch: Optional[str]
    previous_epoch: Optional[str]
    last_delivered_seq: int
    oldest_seq: Optional[int] = None
    last_seq: Optional[int] = None
    recovered: bool = False

    def to_json(self) -> Dict[str, Any]:
        return {"type": "stream_reset", "sessionId": self.session_id, "reason": self.reason,
                "epoch": self.epoch, "previousEpoch": self.previous_epoch,
                "lastDeliveredSeq": self.last_delivered_seq, "oldestSeq": self.oldest_seq,
                "lastSeq": self.last_seq, "recovered": self.recovered}


@dataclass(frozen=True)
class Message:
    """Any other push the hub sends on a subscription (``command``, ``input``, ``error``,
    ``unsubscribed`` …), as received."""

    type: str
    session_id: Optional[str]
    payload: Any
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> Dict[str, Any]:
        return self.raw


@dataclass(frozen=True)
class History:
    """``GET /api/events/:sessionId``: events oldest first."""

    session_id: str
    events: List[Event]

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "History":
        sid = data.get("sessionId", "")
        return cls(session_id=sid, events=[Event(session_id=sid, seq=int(e.get("seq", 0)), payload=e)
                                            for e in data.get("events", [])])


@dataclass(frozen=True)
class SessionSummary:
    """One row of ``GET /api/sessions``."""

    id: str
    status: str
    cwd: Optional[str] = None
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    chains_count: int = 0
    last_seq: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "SessionSummary":
        return cls(id=d["id"], status=d.get("status", ""), cwd=d.get("cwd"), started_at=d.get("startedAt"),
                   ended_at=d.get("endedAt"), chains_count=int(d.get("chainsCount") or 0),
                   last_seq=int(d.get("lastSeq") or 0), raw=d)


@dataclass(frozen=True)
class Chain:
    """A chain of a session (its fields are whatever was posted, plus ``id``)."""

    id: str
    session_id: Optional[str]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Chain":
        return cls(id=str(d.get("id", "")), session_id=d.get("sessionId"), raw=d)


@dataclass(frozen=True)
class Session:
    """A session record (``POST``/``GET``/``PUT /api/sessions…``)."""

    id: str
    status: str
    cwd: Optional[str] = None
    hostname: Optional[str] = None
    platform: Optional[str] = None
    user: Optional[str] = None
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    summary: Optional[str] = None
    end_reason: Optional[str] = None
    chains: List[Chain] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Session":
        chains = [Chain.from_json(c) if isinstance(c, dict) else Chain(id=str(c), session_id=d.get("id"))
                  for c in d.get("chains") or []]
        return cls(id=d["id"], status=d.get("status", ""), cwd=d.get("cwd"), hostname=d.get("hostname"),
                   platform=d.get("platform"), user=d.get("user"), started_at=d.get("startedAt"),
                   ended_at=d.get("endedAt"), summary=d.get("summary"), end_reason=d.get("endReason"),
                   chains=chains, raw=d)


@dataclass(frozen=True)
class Command:
    """A queued command (``pause``, ``resume``, ``cancel``, ``abort``, ``retry``, ``skip``)."""

    id: str
    type: str
    payload: Any = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Command":
        return cls(id=str(d.get("id") or d.get("commandId") or ""), type=d.get("type", ""),
                   payload=d.get("payload"), raw=d)


@dataclass(frozen=True)
class Input:
    """A queued input item."""

    input: Any
    prompt: Any = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Any) -> "Input":
        if not isinstance(d, dict):
            return cls(input=d, raw={"input": d})
        return cls(input=d.get("input"), prompt=d.get("prompt"), raw=d)
