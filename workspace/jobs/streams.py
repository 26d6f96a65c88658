"""Live model output, from the worker that writes it to the page that shows it.

No model is ever called in the web process: a Celery task generates, and appends each
piece of output to a Redis Stream named `carrel:stream:<kind>:<id>`; the page's
server-sent-events view reads that stream with a blocking XREAD and relays it. A page
opened late, or a second tab, reads the same stream from its start. The stream ends
with an `end` entry and expires an hour after its last entry.

Cancelling is a flag beside the stream (`carrel:cancel:<kind>:<id>`) that the writer
checks between pieces of output (`stream_cancelled`), so a long generation stops at the
next token, and a map-reduce at the next step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

STREAM_TTL_SECONDS = 3600
STREAM_MAX_ENTRIES = 20_000
END = "end"


@dataclass(frozen=True)
class StreamEntry:
    """One entry: `event` names it (`token`, `status`, `end`, or a caller's own); an
    empty event with no data means the reader waited `block_ms` and nothing came."""

    event: str
    data: str

    @property
    def idle(self) -> bool:
        return not self.event


def _client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=30, socket_connect_timeout=5, decode_responses=True
    )


def stream_key(*, kind: str, item_id: int) -> str:
    return f"carrel:stream:{kind}:{item_id}"


def _cancel_key(*, kind: str, item_id: int) -> str:
    return f"carrel:cancel:{kind}:{item_id}"


def stream_reset(*, kind: str, item_id: int) -> None:
    """Forget an earlier attempt's output and cancel flag (a retry starts a fresh stream)."""
    keys = (stream_key(kind=kind, item_id=item_id), _cancel_key(kind=kind, item_id=item_id))
    _client().delete(*keys)


def stream_publish(*, kind: str, item_id: int, event: str, data: str = "") -> None:
    key = stream_key(kind=kind, item_id=item_id)
    client = _client()
    pipe = client.pipeline()
    pipe.xadd(key, {"event": event, "data": data}, maxlen=STREAM_MAX_ENTRIES, approximate=True)
    pipe.expire(key, STREAM_TTL_SECONDS)
    pipe.execute()


def stream_end(*, kind: str, item_id: int) -> None:
    """The writer is done (finished, failed or cancelled): readers stop here."""
    stream_publish(kind=kind, item_id=item_id, event=END)


def stream_read(
    *, kind: str, item_id: int, block_ms: int = 5000, timeout_seconds: float | None = None
) -> Iterator[StreamEntry]:
    """Every entry from the stream's start until its `end` (not yielded), blocking for new
    ones; an idle entry after each `block_ms` without news, so the caller can keep the
    connection alive or check whether the writer died. Stops after `timeout_seconds`."""
    key = stream_key(kind=kind, item_id=item_id)
    client = _client()
    last_id = "0-0"
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while deadline is None or time.monotonic() < deadline:
        answer: Any = client.xread({key: last_id}, count=500, block=block_ms)
        if not answer:
            yield StreamEntry("", "")
            continue
        for entry_id, fields in answer[0][1]:
            last_id = entry_id
            event = fields.get("event", "")
            if event == END:
                return
            yield StreamEntry(event, fields.get("data", ""))


def stream_cancel(*, kind: str, item_id: int) -> None:
    _client().set(_cancel_key(kind=kind, item_id=item_id), "1", ex=STREAM_TTL_SECONDS)


def stream_cancelled(*, kind: str, item_id: int) -> bool:
    return bool(_client().exists(_cancel_key(kind=kind, item_id=item_id)))
