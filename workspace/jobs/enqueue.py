"""Sending a job to a worker once the transaction that made its row commits.

Services send tasks by their registered name (`task_signature`), so a service never imports
its tasks module: tasks import services, never the other way round, and no import cycle
forms between them. The task modules are registered at start-up in every process (each
app's `AppConfig.ready`), so a name always resolves to the real task, with its options,
routes and eager mode in tests.

One error policy (`enqueue_on_commit`): when the broker cannot be reached, the failure is
logged and `on_failure` (if given) marks the row, so the page says so and offers Retry;
nothing is raised into the request, whose own writes are already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import current_app
from celery.canvas import Signature
from django.db import transaction

logger = logging.getLogger(__name__)


def task_signature(name: str, *args: Any, queue: str | None = None) -> Signature:
    """An immutable signature of the registered task `name` with `args`."""
    tasks = current_app.tasks
    if name not in tasks:
        raise KeyError(f"No Celery task named {name!r}: is its module imported in AppConfig.ready?")
    signature = tasks[name].si(*args)
    return signature.set(queue=queue) if queue else signature


def enqueue_on_commit(
    work: Signature, *, on_failure: Callable[[Exception], object] | None = None
) -> None:
    """Send `work` (a signature, chord or group) after the current transaction commits
    (at once outside one)."""

    def send() -> None:
        try:
            work.apply_async()
        except Exception as exc:  # the broker is down or refused the message
            logger.exception("Could not queue %r", work)
            if on_failure is not None:
                on_failure(exc)

    transaction.on_commit(send)
