"""Liveness of the parts Carrel depends on, for the status page and /healthz."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection


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


def check_workers(timeout: float = 1.0) -> Check:
    """Ask the workers over the broker; an empty answer means none is running.

    A ping always waits its whole timeout (it cannot know how many workers will answer), so
    a positive answer is kept for WORKERS_SEEN_SECONDS: the status page, polled, then answers
    at once. "None answered" is never kept, so a worker just started shows on the next look.
    """
    from workspace.celery import app

    if not check_redis().ok:
        return Check(False, "the broker is down, so no worker can be reached")
    seen = cache.get(WORKERS_SEEN_KEY)
    if seen:
        return Check(True, seen)
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:  # kombu raises many transport errors
        return Check(False, str(exc))
    names = ", ".join(sorted(name for reply in replies for name in reply))
    if not names:
        return Check(False, "no Celery worker answered")
    cache.set(WORKERS_SEEN_KEY, names, WORKERS_SEEN_SECONDS)
    return Check(True, names)
