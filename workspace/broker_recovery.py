"""Give back the messages a broker restart would otherwise hold for an hour.

With `acks_late`, a message Redis delivered to a worker sits in Redis's `unacked` hash until
the worker acks it. When the connection drops (Redis restarted, a network blip), kombu tries
to put the worker's unacked messages back on their queues, but Redis is down at that moment,
so they stay in `unacked` until the visibility timeout (CELERY_VISIBILITY_TIMEOUT, an hour)
has passed. A page range the worker had reserved but not started would wait that long.

This consumer step runs whenever the worker's consumer (re)starts. After a lost connection it
puts back every message delivered before the loss. A message whose task did finish during
the outage runs again, which is harmless: every task is idempotent and fenced by
(id, attempt, stage). A message another worker is still running also runs twice, once more
at no risk, only at the cost of the work.

A worker killed outright (kill -9, a lost machine) never reconnects, so its messages are put
back by `unacked_orphans_restore` instead, run by any live worker at start and every minute
(research.tasks.resume_stale_documents): a message Redis holds as delivered goes back to its
queue when no live worker holds its task (active, reserved or scheduled).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection
from typing import Any

from celery import bootsteps

logger = logging.getLogger(__name__)


def unacked_restore(*, channel: Any, delivered_before: float) -> int:
    """Put back on their queues the unacked messages delivered before a time; how many."""
    return unacked_orphans_restore(
        channel=channel, held_task_ids=frozenset(), delivered_before=delivered_before
    )


def unacked_orphans_restore(
    *, channel: Any, held_task_ids: Collection[str], delivered_before: float
) -> int:
    """Put back the unacked messages delivered before a time whose task no live worker
    holds; how many. Each restore is a Redis transaction, so two workers doing this at once
    put a message back only once."""
    qos = getattr(channel, "qos", None)
    if qos is None or not hasattr(qos, "restore_by_tag"):
        return 0  # not the Redis transport: the broker redelivers by itself
    with channel.conn_or_acquire() as client:
        tags = client.zrangebyscore(qos.unacked_index_key, 0, delivered_before)
        payloads = client.hmget(qos.unacked_key, tags) if tags else []
    restored = 0
    for tag, payload in zip(tags, payloads, strict=True):
        if payload is None:  # acked meanwhile
            continue
        if _task_id(payload) in held_task_ids:
            continue
        qos.restore_by_tag(tag)
        restored += 1
    return restored


def _task_id(payload: bytes | str) -> str | None:
    """The Celery task id of a message as kombu keeps it in `unacked` ([message, exchange,
    routing key]); None for a message that is not a Celery task."""
    try:
        message = json.loads(payload)[0]
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    headers = message.get("headers") or {}
    properties = message.get("properties") or {}
    task_id = headers.get("id") or properties.get("correlation_id")
    return str(task_id) if task_id else None


def held_task_ids(*, app: Any, workers: Collection[str], timeout: float = 2.0) -> set[str] | None:
    """The ids of every task the given workers hold (running, reserved, or waiting for its
    countdown), or None when one of them did not answer: then nothing can be called lost."""
    if not workers:
        return None
    inspect = app.control.inspect(destination=sorted(workers), timeout=timeout)
    held: set[str] = set()
    for ask in (inspect.active, inspect.reserved, inspect.scheduled):
        try:
            replies = ask() or {}
        except Exception:
            return None
        if set(workers) - set(replies):
            return None
        for requests in replies.values():
            for request in requests:
                info = request.get("request", request)  # scheduled() wraps the request
                if info.get("id"):
                    held.add(str(info["id"]))
    return held


def lost_messages_restore(*, app: Any, live_workers: Collection[str] | None) -> int:
    """Put back what dead workers held: messages delivered at least a second ago whose
    task no live worker holds. Does nothing when the live workers are not known for sure."""
    if not live_workers:
        return 0
    since = time.time() - 1.0  # taken before asking, so a later delivery is never counted
    held = held_task_ids(app=app, workers=live_workers)
    if held is None:
        return 0
    try:
        with app.connection_for_write() as connection:
            restored = unacked_orphans_restore(
                channel=connection.default_channel, held_task_ids=held, delivered_before=since
            )
    except Exception:  # the broker went away: the next run (beat, a worker start) tries again
        logger.exception("Could not put back the messages of workers that are gone")
        return 0
    if restored:
        logger.warning("Put back %d message(s) held by workers that are gone", restored)
    return restored


class RestoreUnackedAfterReconnect(bootsteps.StartStopStep):
    """A consumer step: stop() notes when the connection went, start() restores."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.lost_at: float | None = None

    def start(self, parent: Any) -> None:
        if self.lost_at is None:
            return
        try:
            restored = unacked_restore(
                channel=parent.connection.default_channel, delivered_before=self.lost_at
            )
        except Exception:  # the broker went again: the next reconnect tries again
            logger.exception("Could not restore unacked messages after reconnecting")
            return
        if restored:
            logger.warning("Reconnected: put back %d unacked message(s) from before", restored)
        self.lost_at = None

    def stop(self, parent: Any) -> None:
        self.lost_at = time.time()

    def shutdown(self, parent: Any) -> None:
        self.lost_at = None
