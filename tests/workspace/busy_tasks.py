"""A task that keeps a worker process busy with the real embedded model, for tests that
need a busy worker (started with `celery worker -I tests.workspace.busy_tasks`)."""

from __future__ import annotations

import time

from celery import shared_task


@shared_task(name="tests.busy_model_call")
def busy_model_call(seconds: float) -> int:
    """Generate with the embedded model for about `seconds`; how many calls it made."""
    from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
    from workspace.runtime.types import Message

    runtime = EmbeddedRuntime(packaged_gguf_path(), n_ctx=2048)
    calls = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            runtime.chat([Message("user", "Tell a long story.")], max_tokens=64, temperature=0)
            calls += 1
    finally:
        runtime.close()
    return calls
