"""Choosing the backend: CARREL_BACKEND=ollama|embedded|scripted, or auto (the default).

auto uses Ollama when it answers and has the configured model, otherwise the embedded
demo model, so Carrel works offline on a bare machine. The probe is cached briefly so a
page view never waits on a dead host more than once a minute.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from workspace.redact import redact
from workspace.runtime.errors import ModelRuntimeError
from workspace.runtime.types import ModelRuntime

_PROBE_TTL_SECONDS = 60.0
_lock = threading.Lock()
_instances: dict[str, ModelRuntime] = {}
_override: ModelRuntime | None = None
_probe_cache: tuple[float, OllamaProbe] | None = None


@dataclass
class OllamaProbe:
    reachable: bool
    models: list[str] = field(default_factory=list)
    error: str = ""

    def has(self, model: str) -> bool:
        wanted = model if ":" in model else f"{model}:latest"
        return any(name in (model, wanted) for name in self.models)


def probe_ollama(*, fresh: bool = False) -> OllamaProbe:
    global _probe_cache
    now = time.monotonic()
    if not fresh and _probe_cache and now - _probe_cache[0] < _PROBE_TTL_SECONDS:
        return _probe_cache[1]
    from workspace.runtime.ollama import list_ollama_models

    try:
        probe = OllamaProbe(reachable=True, models=list_ollama_models(settings.OLLAMA_HOST))
    except ModelRuntimeError as exc:
        probe = OllamaProbe(reachable=False, error=exc.message)
    _probe_cache = (now, probe)
    return probe


def _build(name: str) -> ModelRuntime:
    if name == "ollama":
        from workspace.runtime.ollama import OllamaRuntime

        return OllamaRuntime.from_settings()
    if name == "embedded":
        from workspace.runtime.embedded import EmbeddedRuntime

        return EmbeddedRuntime.from_settings()
    if name == "scripted":
        from workspace.runtime.scripted import ScriptedRuntime

        return ScriptedRuntime.echo(delay=settings.CARREL_SCRIPTED_DELAY_MS / 1000)
    raise ModelRuntimeError(
        f"Unknown CARREL_BACKEND {name!r}: use auto, ollama, embedded or scripted"
    )


def active_backend_name() -> str:
    configured = settings.CARREL_BACKEND
    if configured != "auto":
        return configured
    probe = probe_ollama()
    return "ollama" if probe.reachable and probe.has(settings.OLLAMA_MODEL) else "embedded"


def get_runtime() -> ModelRuntime:
    if _override is not None:
        return _override
    name = active_backend_name()
    with _lock:
        if name not in _instances:
            _instances[name] = _build(name)
        return _instances[name]


@contextlib.contextmanager
def use_runtime(runtime: ModelRuntime) -> Iterator[ModelRuntime]:
    """Run a block against a given runtime (tests, benchmarks, the scripted campaign)."""
    global _override
    previous = _override
    _override = runtime
    try:
        yield runtime
    finally:
        _override = previous


def reset_runtime_cache() -> None:
    global _probe_cache
    with _lock:
        _instances.clear()
    _probe_cache = None


def runtime_status() -> dict[str, Any]:
    """What the status page shows: the active backend, its window, and Ollama's reachability."""
    probe = probe_ollama()
    status: dict[str, Any] = {
        "configured_backend": settings.CARREL_BACKEND,
        "ollama_host": redact(settings.OLLAMA_HOST),
        "ollama_model": settings.OLLAMA_MODEL,
        "ollama_reachable": probe.reachable,
        "ollama_models": probe.models,
        "ollama_error": redact(probe.error),
        "ollama_has_model": probe.has(settings.OLLAMA_MODEL),
    }
    try:
        facts = get_runtime().facts()
    except ModelRuntimeError as exc:
        status["error"] = redact(exc.message)
        return status
    status.update(
        backend=facts.backend,
        model=facts.model,
        context_window=facts.context_window,
        max_context=facts.max_context,
        demo=facts.demo,
        instruction_tuned=facts.instruction_tuned,
    )
    return status


def runtime_follows_instructions() -> bool:
    """Whether the active model follows instructions (an instruction-tuned model). A base
    model such as the embedded demo model does not: questions are then answered with the
    retrieved passages and study tools work from the text itself, by default. A backend
    that cannot be started counts as not following them (the evidence needs no model)."""
    try:
        return get_runtime().facts().instruction_tuned
    except ModelRuntimeError:
        return False
