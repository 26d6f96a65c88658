"""Liveness of the parts Carrel depends on, for the status page and /healthz."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import bootsteps
from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "down", with its words
        return Check(False, str(exc))
    return Check(True, connection.vendor)


def check_redis() -> Check:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
    except redis.RedisError as exc:
        return Check(False, f"{settings.REDIS_URL}: {exc}")
    return Check(True, settings.REDIS_URL)


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
    return answered | {name for name, beat in beats.items() if _beat_is_alive(beat)}


# --- worker heartbeats ----------------------------------------------------------------------

HEARTBEAT_PREFIX = "carrel:worker-alive:"
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 30


def _broker() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=5, socket_connect_timeout=5
    )


def worker_heartbeats() -> dict[str, dict[str, Any]]:
    """The heartbeats workers have written and that have not expired, by worker name."""
    client = _broker()
    keys = list(client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=500))
    found: dict[str, dict[str, Any]] = {}
    for key, raw in zip(keys, client.mget(keys) if keys else [], strict=True):
        if raw is None:
            continue
        with contextlib.suppress(ValueError, TypeError):
            beat = json.loads(raw)
            found[key.decode().removeprefix(HEARTBEAT_PREFIX)] = beat
    return found


def _beat_is_alive(beat: dict[str, Any]) -> bool:
    """A heartbeat from this machine counts while its process exists (exact, at once: a
    killed worker is dead now, a busy or stopped one is not); one from elsewhere counts
    while it has not expired, which it has not, or it would not have been read."""
    if beat.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(beat["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True  # another user's process, or a beat we cannot read: do not call it dead
    return True


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A worker step: a thread of the worker's main process that writes
    `carrel:worker-alive:<name>` (its pid and host) every few seconds, expiring after
    HEARTBEAT_TTL_SECONDS, and deletes it when the worker stops. A thread, so that a main
    process busy with something else still shows it is alive."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._key = ""

    def start(self, parent: Any) -> None:
        if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
            return
        self._key = f"{HEARTBEAT_PREFIX}{parent.hostname}"
        beat = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        self._stop.clear()

        def run() -> None:
            client = _broker()
            while not self._stop.is_set():
                try:
                    client.set(self._key, beat, ex=HEARTBEAT_TTL_SECONDS)
                except redis.RedisError:
                    logger.warning("Could not write the worker heartbeat", exc_info=True)
                self._stop.wait(HEARTBEAT_SECONDS)

        self._thread = threading.Thread(target=run, name="carrel-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, parent: Any) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 1)
        self._thread = None
        with contextlib.suppress(redis.RedisError):
            _broker().delete(self._key)


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
        return Check(False, str(exc))
    if not names:
        return Check(False, "no Celery worker answered")
    cache.set(WORKERS_SEEN_KEY, names, WORKERS_SEEN_SECONDS)
    return Check(True, names)
