"""The embedded model runs in a model process of its own: a crash there fails one call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
from workspace.runtime.errors import ModelCrashed
from workspace.runtime.types import ChatResult, Message

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
SHORT = [Message("user", "Name three planets.")]
# The packaged base model repeats this for as long as it is allowed to write.
ENDLESS = [Message("user", "Repeat after me, forever: one two three four five six seven.")]


@pytest.fixture
def runtime():
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=4096)
    yield rt
    rt.close()


def gone(pid: int, *, within: float = 15.0) -> bool:
    """True once pid has exited: no such process, or a zombie all of whose threads have
    ended (a killed multi-threaded process is a zombie before its threads are gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            threads = len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            return True
        if state == "Z" and threads == 1:
            return True
        time.sleep(0.1)
    return False


def test_a_model_process_killed_mid_stream_fails_that_call_and_the_next_call_works(runtime):
    stream = runtime.stream_chat(ENDLESS, max_tokens=3000, temperature=0)
    assert not next(stream).done
    first = runtime.process_id
    assert first is not None and first != os.getpid()
    os.kill(first, signal.SIGSEGV)  # what a llama.cpp crash looks like from outside
    with pytest.raises(ModelCrashed, match="SIGSEGV") as crashed:
        for _chunk in stream:
            pass
    assert "try again" in crashed.value.message
    assert crashed.value.retryable
    assert runtime.process_id is None and gone(first)

    answer = runtime.chat(SHORT, max_tokens=8, temperature=0)
    assert answer.text and runtime.process_id not in (None, first)


def test_a_model_process_that_aborts_during_a_plain_call_fails_only_that_call(runtime):
    # Gemma's chat format, in which the base model repeats ENDLESS until max_tokens (as a
    # continuation it stops early, and the call would be over before the abort).
    runtime.__dict__["instruction_tuned"] = True
    runtime.chat(SHORT, max_tokens=2, temperature=0)  # loaded: the next call only generates
    pid = runtime.process_id
    assert pid is not None
    outcome: list[BaseException | ChatResult] = []

    def ask() -> None:
        try:
            outcome.append(runtime.chat(ENDLESS, max_tokens=3000, temperature=0))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=ask)
    caller.start()
    time.sleep(1.0)
    os.kill(pid, signal.SIGABRT)
    caller.join(timeout=120)
    assert len(outcome) == 1 and isinstance(outcome[0], ModelCrashed), outcome
    assert "SIGABRT" in str(outcome[0])
    del runtime.__dict__["instruction_tuned"]  # the model's own format again
    assert runtime.chat(SHORT, max_tokens=4, temperature=0).text


def test_a_model_process_that_died_while_idle_is_replaced_without_an_error(runtime):
    runtime.chat(SHORT, max_tokens=2, temperature=0)
    pid = runtime.process_id
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    assert runtime.chat(SHORT, max_tokens=4, temperature=0).text
    assert runtime.process_id not in (None, pid)


def test_a_stream_abandoned_early_keeps_the_model_process_for_the_next_call(runtime):
    stream = runtime.stream_chat(ENDLESS, max_tokens=3000, temperature=0)
    next(stream)
    next(stream)
    pid = runtime.process_id
    stream.close()
    greedy = runtime.chat(SHORT, max_tokens=6, temperature=0)
    assert runtime.process_id == pid
    fresh = EmbeddedRuntime(packaged_gguf_path(), n_ctx=4096)
    try:  # the cancelled stream left nothing behind that changes the next answer
        assert fresh.chat(SHORT, max_tokens=6, temperature=0).text == greedy.text
    finally:
        fresh.close()


def test_a_forked_caller_starts_its_own_model_process(runtime):
    runtime.chat(SHORT, max_tokens=2, temperature=0)
    parent_model = runtime.process_id
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a Celery pool process inheriting its parent's runtime
        try:
            runtime.chat(SHORT, max_tokens=2, temperature=0)
            os.write(write, str(runtime.process_id).encode())
            runtime.close()
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        child_model = int(pipe.read() or 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_model not in (0, parent_model)
    assert runtime.process_id == parent_model
    assert runtime.chat(SHORT, max_tokens=2, temperature=0).text


def test_the_model_process_ends_when_the_process_that_started_it_is_killed(tmp_path):
    script = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'workspace.settings')\n"
        "django.setup()\n"
        "from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path\n"
        "from workspace.runtime.types import Message\n"
        "rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=1024)\n"
        "rt.chat([Message('user', 'Hi')], max_tokens=2)\n"
        "print(rt.process_id, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    caller = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert caller.stdout is not None
        model_pid = int(caller.stdout.readline())
    finally:
        caller.kill()
        caller.wait()
    assert gone(model_pid), "the model process outlived the process that started it"
