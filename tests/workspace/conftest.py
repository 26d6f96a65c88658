"""Fixtures for workspace tests: a fake Ollama server on a free local port."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.fakes.ollama_server import FakeOllama
from workspace.runtime.select import reset_runtime_cache

_caches = itertools.count()


@pytest.fixture
def fake_ollama(settings) -> Iterator[FakeOllama]:
    """A started FakeOllama that has settings.OLLAMA_MODEL (with its Gemma 4 window), with
    settings.OLLAMA_HOST pointing at it; the runtime choice is re-probed before and after.

    Django's cache becomes a private LocMem one: the Ollama backend keeps records of recent
    prompts there per host, and a later fake could get an earlier one's port."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"fake-ollama-{next(_caches)}",
        }
    }
    fake = FakeOllama()
    fake.add_model(settings.OLLAMA_MODEL)
    fake.start()
    settings.OLLAMA_HOST = fake.url
    reset_runtime_cache()
    try:
        yield fake
    finally:
        fake.stop()
        reset_runtime_cache()
