"""Celery tasks run inline, in this process, while a block runs (tests of the pages)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def tasks_run_inline() -> Iterator[None]:
    """Each task runs when it is sent, in this process, so the model double that
    use_runtime(...) installs applies and a turn's "worker" is this process. A turn is sent
    once its row commits: a test that needs it run uses a transactional database (the live
    server does)."""
    from workspace.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved
