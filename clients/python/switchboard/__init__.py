"""Switchboard client: publish events (idempotent, retried), drain command and input queues,
manage sessions and chains, and subscribe over WebSocket or Server-Sent Events with resume.

>>> from switchboard import Client
>>> hub = Client("http://127.0.0.1:3001", api_key="…")
>>> hub.publish("build-7", "step", {"data": {"name": "compile"}})
PublishResult(session_id='build-7', seq=1, event_id='…', duplicate=False, attempts=1)
"""
from ._http import DEFAULT_URL, NO_RETRY, RetryDeadlineExceeded, RetryPolicy, SwitchboardError
from .client import COMMAND_TYPES, AsyncClient, Client, make_event, new_event_id
from .models import (Chain, Command, Event, History, Input, Message, PublishResult, Session, SessionSummary,
                     StreamReset)
from .subscription import Subscription, SyncSubscription

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "Client", "Subscription", "SyncSubscription", "RetryPolicy", "NO_RETRY",
    "SwitchboardError", "RetryDeadlineExceeded", "PublishResult", "Event", "StreamReset", "Message",
    "History", "Session", "SessionSummary", "Chain", "Command", "Input", "COMMAND_TYPES", "DEFAULT_URL",
    "make_event", "new_event_id", "__version__",
]
