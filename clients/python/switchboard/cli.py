"""The command line.

    python -m switchboard tail SESSION [--from SEQ] [--count N] [--transport auto|websocket|sse]
    python -m switchboard publish SESSION TYPE [JSON]

Both take ``--url`` (default ``$SWITCHBOARD_URL``, else http://localhost:3001) and
``--api-key`` / ``--token`` (default ``$SWITCHBOARD_API_KEY`` / ``$SWITCHBOARD_TOKEN``).

``tail`` prints each event as one JSON line on stdout (``{"type":"event","sessionId","seq",
"epoch","payload"}``), exactly once and in seq order across reconnects; stream resets
(``recovered: false``, a new epoch, a deleted session) and connection status go to stderr as
JSON lines, so stdout stays a clean event log. ``--from SEQ`` starts at that seq (``--from 1``:
the whole kept history); without it, only events published from now on.

``publish`` posts one event (``JSON``, an object, gives its other fields; ``timestamp`` is set
to now unless given), retrying 429/502/503/504 and connection errors with the same
Idempotency-Key until ``--deadline`` seconds, and prints the hub's answer as JSON. ``tail`` runs
until ``--count`` events, Ctrl-C (exit 130) or SIGTERM (exit 0). ``publish`` exit status:
0 stored (or already stored), 1 refused or gave up, 2 bad usage."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import List, Optional

from ._http import DEFAULT_URL, RetryPolicy, SwitchboardError
from .client import AsyncClient, Client
from .models import Event, StreamReset


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("SWITCHBOARD_URL") or DEFAULT_URL,
                        help="hub URL (default $SWITCHBOARD_URL, else %(default)s)" if not os.environ.get("SWITCHBOARD_URL")
                        else "hub URL (default $SWITCHBOARD_URL)")
    common.add_argument("--api-key", default=os.environ.get("SWITCHBOARD_API_KEY") or None,
                        help="API key (default $SWITCHBOARD_API_KEY)")
    common.add_argument("--token", default=os.environ.get("SWITCHBOARD_TOKEN") or None,
                        help="scoped token (default $SWITCHBOARD_TOKEN)")
    parser = argparse.ArgumentParser(prog="python -m switchboard", description="Switchboard command line client")
    sub = parser.add_subparsers(dest="command", required=True)
    tail = sub.add_parser("tail", parents=[common], help="print a session's events as JSON lines")
    tail.add_argument("session")
    tail.add_argument("--from", dest="from_seq", type=int, default=None, metavar="SEQ",
                      help="start at this seq (1 = the whole kept history); default: live events only")
    tail.add_argument("--epoch", default=None, help="the epoch --from belongs to (reported if the stream restarted)")
    tail.add_argument("--count", type=int, default=None, help="exit after this many events")
    tail.add_argument("--transport", choices=("auto", "websocket", "sse"), default="auto")
    tail.add_argument("--quiet", action="store_true", help="no status lines on stderr (resets are still printed)")
    publish = sub.add_parser("publish", parents=[common], help="post one event and print the answer")
    publish.add_argument("session")
    publish.add_argument("type")
    publish.add_argument("json", nargs="?", default=None, help="a JSON object with the event's other fields")
    publish.add_argument("--idempotency-key", default=None, help="default: a fresh UUIDv7")
    publish.add_argument("--deadline", type=float, default=30.0, help="seconds to keep retrying (default 30)")
    return parser


def _line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


async def _tail(args) -> int:
    client = AsyncClient(args.url, api_key=args.api_key, token=args.token)

    def status(text: str):
        if not args.quiet:
            print(_line({"type": "status", "status": text}), file=sys.stderr, flush=True)

    after = None if args.from_seq is None else max(0, args.from_seq - 1)
    seen = 0
    # SIGTERM ends the tail as cleanly as --count does (exit 0, output flushed).
    task = asyncio.current_task()
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        async with client.subscribe(args.session, after=after, epoch=args.epoch, transport=args.transport,
                                    on_status=status, messages=False) as subscription:
            async for item in subscription:
                if isinstance(item, Event):
                    sys.stdout.write(_line(item.to_json()) + "\n")
                    sys.stdout.flush()
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        return 0
                elif isinstance(item, StreamReset):
                    print(_line(item.to_json()), file=sys.stderr, flush=True)
    except asyncio.CancelledError:
        return 0
    return 0


def _publish(args) -> int:
    fields = None
    if args.json is not None:
        try:
            fields = json.loads(args.json)
        except ValueError as e:
            print(f"JSON argument is not valid JSON: {e}", file=sys.stderr)
            return 2
        if not isinstance(fields, dict):
            print("JSON argument must be an object", file=sys.stderr)
            return 2
    client = Client(args.url, api_key=args.api_key, token=args.token, retry=RetryPolicy(deadline=args.deadline))
    try:
        result = client.publish(args.session, args.type, fields, idempotency_key=args.idempotency_key)
    except SwitchboardError as e:
        print(_line({"error": e.message, "status": e.status, **({"attempts": e.attempts} if hasattr(e, "attempts") else {})}),
              file=sys.stderr)
        return 1
    print(_line(result.raw))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "tail":
            return asyncio.run(_tail(args))
        return _publish(args)
    except KeyboardInterrupt:
        return 130
    except SwitchboardError as e:
        print(_line({"error": e.message, "status": e.status}), file=sys.stderr)
        return 1
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
