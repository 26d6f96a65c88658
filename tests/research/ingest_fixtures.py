"""Fixtures for the ingestion tests (a pytest plugin: `pytest_plugins = [...]` in a module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from research.library import services
from research.models import Project
from workspace.celery import app


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run every task inline, in this process (chords too), so use_runtime(...) applies.

    Errors do not propagate (Celery's eager retries need that); an unexpected one fails its
    document with the error's words, which the tests' stage assertions then show."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def project(user) -> Project:
    return services.project_create(owner=user, title="Reading group")
