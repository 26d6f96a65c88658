"""Fair use of the web server's threads: how many live streams one person may hold open.

Each server-sent-events view (a research answer, a story turn) holds one web thread for
as long as its page is open. A person may hold at most `CARREL_MAX_OPEN_STREAMS` at once
(0: no limit). The open streams are a Redis sorted set per person,
`carrel:open-streams:<user id>`, of random slot ids scored by when each expires: taking a
slot drops the expired ones, counts the rest and adds one, in one Lua script (atomic, so
two tabs opened at the same moment cannot both take the last slot). A stream refreshes its
slot while it runs (`SLOT_TTL_SECONDS` after its last refresh) and gives it back when it
ends, when the client goes away (the response is closed, which closes the iterator), or,
if the web process dies, when the slot expires.

`held_stream` wraps a view's event iterator: None when the person is at the limit (the
view then answers with a message instead of a stream).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from workspace.http import sse_event, sse_response

SLOT_TTL_SECONDS = 120  # a slot not refreshed for this long is free again
REFRESH_SECONDS = 30  # how often a running stream refreshes its slot (at most)

# KEYS[1]: the person's set; ARGV: now, the new slot's expiry, its id, the limit, key TTL.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5, decode_responses=True
    )


def _key(user_id: int) -> str:
    return f"carrel:open-streams:{user_id}"


def open_stream_count(*, user_id: int) -> int:
    """How many streams the person holds open now (expired slots not counted)."""
    return int(_client().zcount(_key(user_id), time.time(), "+inf"))


def open_streams_forget_all() -> None:
    """Free every slot of every person (tests; an administrator after a crash need not:
    slots expire by themselves)."""
    client = _client()
    keys = list(client.scan_iter(match=_key_pattern(), count=500))
    if keys:
        client.delete(*keys)


def _key_pattern() -> str:
    return "carrel:open-streams:*"


class StreamSlot:
    """One taken slot: `refresh` keeps it, `release` gives it back (once)."""

    def __init__(self, *, user_id: int, slot_id: str) -> None:
        self.user_id = user_id
        self.slot_id = slot_id
        self.refreshed = time.monotonic()
        self.released = False

    def refresh(self) -> None:
        if self.released or time.monotonic() - self.refreshed < REFRESH_SECONDS:
            return
        self.refreshed = time.monotonic()
        client = _client()
        client.zadd(_key(self.user_id), {self.slot_id: time.time() + SLOT_TTL_SECONDS}, xx=True)
        client.expire(_key(self.user_id), SLOT_TTL_SECONDS)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        with contextlib.suppress(redis.RedisError):  # else it expires by itself
            _client().zrem(_key(self.user_id), self.slot_id)


def stream_slot_take(*, user_id: int) -> StreamSlot | None:
    """A slot for one more open stream, or None when the person is at the limit. With no
    limit, or when Redis cannot be reached (the stream itself will say so), a slot that
    counts nothing."""
    limit = settings.CARREL_MAX_OPEN_STREAMS
    slot_id = uuid.uuid4().hex
    if limit <= 0:
        slot = StreamSlot(user_id=user_id, slot_id=slot_id)
        slot.released = True
        return slot
    now = time.time()
    try:
        taken = _client().eval(
            _TAKE, 1, _key(user_id), now, now + SLOT_TTL_SECONDS, slot_id, limit, SLOT_TTL_SECONDS
        )
    except redis.RedisError:
        taken = 1
    return StreamSlot(user_id=user_id, slot_id=slot_id) if taken else None


class HeldStream:
    """An event iterator that holds a slot: refreshed as events go out, released when the
    events run out or the response is closed (Django closes a streaming response's
    iterator when the client goes away or the response is done), whichever comes first,
    even if the iterator was never started."""

    def __init__(self, events: Iterable[bytes], slot: StreamSlot) -> None:
        self._events: Iterator[bytes] = iter(events)
        self.slot = slot

    def __iter__(self) -> HeldStream:
        return self

    def __next__(self) -> bytes:
        try:
            event = next(self._events)
        except BaseException:
            self.close()
            raise
        self.slot.refresh()
        return event

    def close(self) -> None:
        try:
            close = getattr(self._events, "close", None)
            if close is not None:
                close()
        finally:
            self.slot.release()


def held_stream(*, user_id: int, events: Iterable[bytes]) -> HeldStream | None:
    """`events` holding one of the person's stream slots, or None at the limit (the
    caller answers with a message and must not start `events`)."""
    slot = stream_slot_take(user_id=user_id)
    if slot is None:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        return None
    return HeldStream(events, slot)


def sse_held_response(
    request: HttpRequest, events: Iterable[bytes], *, refusal: Callable[[], str]
) -> HttpResponse | StreamingHttpResponse:
    """The stream of `events`, holding one of the person's slots; at the limit, the
    refusal instead (`refusal()`, a partial that tells the person to close another
    tab). A browser's EventSource reads no body but a 200's, so it gets a 200 stream of
    one `done` event carrying the refusal (the page swaps it in and closes the stream, as
    for any finished stream); any other client gets 429 Too Many Requests with it."""
    held = held_stream(user_id=request.user.pk or 0, events=events)
    if held is not None:
        return sse_response(held)
    if "text/event-stream" in request.headers.get("Accept", ""):
        return sse_response(iter([sse_event("done", refusal())]))
    response = HttpResponse(refusal(), status=429)
    response["Retry-After"] = "10"
    return response


def stream_limit_message() -> str:
    """What the person is told at the limit."""
    limit = settings.CARREL_MAX_OPEN_STREAMS
    return (
        f"You already have {limit} live answers or turns open (at most {limit} at once on "
        "this server, CARREL_MAX_OPEN_STREAMS). Close another Carrel tab, or wait for one "
        "to finish, then reload this one."
    )
