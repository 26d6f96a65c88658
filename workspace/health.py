"""Liveness of the parts Carrel depends on, for the status page and /healthz."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from workspace.heartbeat import beat_is_alive, worker_heartbeats
from workspace.redact import redact


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "down", with its words
        return Check(False, redact(str(exc)))
    return Check(True, connection.vendor)


def check_redis() -> Check:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
    except redis.RedisError as exc:
        return Check(False, redact(f"{settings.REDIS_URL}: {exc}"))
    return Check(True, redact(settings.REDIS_URL))


WORKERS_SEEN_KEY = "health:workers"
WORKERS_SEEN_SECONDS = 10


def workers_ping(*, timeouts: Sequence[float] = (1.0,), expect: str = "") -> set[str] | None:
    """Names of the Celery workers that answer a ping (kombu's transport errors propagate).

    A ping waits its whole timeout, since it cannot know how many workers will answer. With
    `expect` (a worker known to be alive: the asker itself), a busy machine gets the next,
    longer timeout until that worker answers, and None if it never does: the broadcast did
    not work, so the answer cannot be trusted.
    """
    from workspace.celery import app

    for timeout in timeouts:
        replies = app.control.ping(timeout=timeout) or []
        names = {name for reply in replies for name in reply}
        if not expect or expect in names:
            return names
    return None


def live_workers(*, me: str) -> set[str] | None:
    """The workers alive, as a worker (`me`) sees them, for telling dead workers' work from
    live work; None when that cannot be known, and then nothing may be called dead.

    A ping alone cannot tell a dead worker from a busy one: the reply of a worker whose
    machine is saturated (every core running llama.cpp) or whose main process is held up
    arrives after the asker stopped listening. So a worker that did not answer is still
    alive while its heartbeat says so (WorkerHeartbeat): on this machine, while the process
    that wrote it exists; elsewhere, while the heartbeat is fresh.
    """
    if not me:
        return None
    try:
        answered = workers_ping(timeouts=(1.0, 2.0, 4.0), expect=me)
        if answered is None:
            return None
        beats = worker_heartbeats()
    except Exception:  # kombu and redis-py raise many transport errors
        return None
    return answered | {name for name, beat in beats.items() if beat_is_alive(beat)}


def live_heartbeats(*, me: str) -> dict[str, int] | None:
    """The main process id of every worker whose heartbeat says it is alive, by name, when
    workers here write heartbeats (the asking worker's own is there); None otherwise. With
    them a worker is dead exactly when its heartbeat is gone, and nothing else (how long a
    document has waited) may call its work abandoned."""
    if not me:
        return None
    try:
        beats = worker_heartbeats()
    except Exception:  # redis-py raises many transport errors
        return None
    if me not in beats:
        return None
    alive: dict[str, int] = {}
    for name, beat in beats.items():
        if beat_is_alive(beat):
            try:
                alive[name] = int(beat["pid"])
            except (KeyError, TypeError, ValueError):
                continue
    return alive


def check_workers(timeout: float = 1.0) -> Check:
    """Ask the workers over the broker; an empty answer means none is running.

    A positive answer is kept for WORKERS_SEEN_SECONDS: the status page, polled, then answers
    at once. "None answered" is never kept, so a worker just started shows on the next look.
    """
    if not check_redis().ok:
        return Check(False, "the broker is down, so no worker can be reached")
    seen = cache.get(WORKERS_SEEN_KEY)
    if seen:
        return Check(True, seen)
    try:
        names = ", ".join(sorted(workers_ping(timeouts=(timeout,)) or ()))
    except Exception as exc:  # kombu raises many transport errors
        return Check(False, redact(str(exc)))
    if not names:
        return Check(False, "no Celery worker answered")
    cache.set(WORKERS_SEEN_KEY, names, WORKERS_SEEN_SECONDS)
    return Check(True, names)
