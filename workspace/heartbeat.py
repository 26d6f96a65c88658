"""Worker heartbeats: a thread in each worker's main process writes
`carrel:worker-alive:<name>` to Redis every few seconds, so that the stale-work check
(workspace.health.live_workers) never takes a worker too busy to answer a ping for a dead one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from typing import Any

import redis
from celery import bootsteps
from celery.signals import worker_init
from celery.worker.components import Pool
from django.conf import settings

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "carrel:worker-alive:"
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 30


# The worker's main process id (the one its heartbeat names), set before its pool starts,
# so pool processes inherit it. 0 outside a worker.
_main_pid = 0


@worker_init.connect
def _remember_main_pid(**_: Any) -> None:
    global _main_pid
    _main_pid = os.getpid()


def worker_claim(hostname: str) -> str:
    """Who claims a piece of work: the worker's name and its main process id
    ("celery@host#1234"), so a worker restarted under the same name does not vouch for
    the work its dead predecessor held (claim_is_alive)."""
    if not hostname:
        return ""
    return f"{hostname}#{_main_pid}" if _main_pid else hostname


def claim_is_alive(
    claim: str, *, live_workers: set[str], heartbeats: dict[str, int] | None
) -> bool:
    """Whether the worker that made `claim` still runs: with heartbeats, exactly when its
    name has a live heartbeat from the same main process; without, when its name is among
    the live workers."""
    name, _, pid = claim.partition("#")
    if heartbeats is not None and pid.isdigit():
        return heartbeats.get(name) == int(pid)
    return name in live_workers or (heartbeats is not None and name in heartbeats)


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


def beat_is_alive(beat: dict[str, Any]) -> bool:
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


# A pool process forked while the heartbeat thread is inside a Redis call (connecting, a
# name lookup) would start with locks held by a thread it does not have, and hang on its
# first task that needs them: the task is logged as received and then nothing happens.
# So a fork in a worker's main process waits for the heartbeat's write to end, and the
# thread itself starts only once the pool has forked its first processes.
_no_fork = threading.Lock()
os.register_at_fork(
    before=_no_fork.acquire, after_in_parent=_no_fork.release, after_in_child=_no_fork.release
)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A worker step: a thread of the worker's main process that writes
    `carrel:worker-alive:<name>` (its pid and host) every few seconds, expiring after
    HEARTBEAT_TTL_SECONDS, and deletes it when the worker stops. A thread, so that a main
    process busy with something else still shows it is alive."""

    requires = (Pool,)

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
                    with _no_fork:
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
