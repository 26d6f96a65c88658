"""The scripted backend as benchmarks configure it: a fixed latency per call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from workspace.runtime.select import get_runtime, reset_runtime_cache
from workspace.runtime.types import Message


@pytest.fixture
def slept(monkeypatch) -> Iterator[list[float]]:
    calls: list[float] = []
    monkeypatch.setattr("workspace.runtime.scripted.time.sleep", calls.append)
    reset_runtime_cache()
    yield calls
    reset_runtime_cache()


@override_settings(CARREL_BACKEND="scripted", CARREL_SCRIPTED_DELAY_MS=15)
def test_the_scripted_backend_takes_the_configured_delay_on_every_call(slept):
    runtime = get_runtime()
    runtime.chat([Message("user", "Where is the lighthouse?")])
    list(runtime.stream_chat([Message("user", "And the harbour?")]))
    assert slept == [0.015, 0.015]


@override_settings(CARREL_BACKEND="scripted")
def test_the_scripted_backend_answers_at_once_by_default(slept):
    get_runtime().chat([Message("user", "Where is the lighthouse?")])
    assert slept == []
