"""The model-job core: one error table, the task base's retries and failures, and the
enqueue-after-commit helper's one error policy."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from celery import Celery, shared_task

from workspace.jobs import JobError, ModelJobTask, enqueue_on_commit, error_code_for, task_signature
from workspace.jobs.errors import RUNTIME_ERROR_CODES
from workspace.runtime.errors import (
    InvalidModelOutput,
    ModelNotFound,
    ModelRuntimeError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    PromptTooLong,
    PromptTruncated,
)


def _subclasses(kind: type) -> set[type]:
    found: set[type] = set(kind.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found)) if found else found


def test_every_runtime_error_has_exactly_one_code_and_a_truncated_prompt_is_truncated() -> None:
    mapped = [kind for kind, _code in RUNTIME_ERROR_CODES]
    assert len(mapped) == len(set(mapped))
    assert _subclasses(ModelRuntimeError) <= set(mapped)
    examples = {
        PromptTruncated(expected=900, evaluated=512, num_ctx=512): JobError.TRUNCATED,
        PromptTooLong(prompt_tokens=9000, max_tokens=1024, context_window=8192): JobError.TOO_LONG,
        ModelTimeout("slow"): JobError.TIMEOUT,
        ModelUnavailable("down"): JobError.UNAVAILABLE,
        ModelNotFound("gemma", "http://x"): JobError.NOT_FOUND,
        InvalidModelOutput("not JSON", raw="{"): JobError.INVALID_OUTPUT,
        ModelServerError("500"): JobError.MODEL,
        ModelRuntimeError("other"): JobError.MODEL,
    }
    assert {type(exc): error_code_for(exc) for exc in examples} == {
        type(exc): code for exc, code in examples.items()
    }


class RecordingTask(ModelJobTask):
    """Records its hooks' calls instead of writing a row."""

    model_max_retries = 2
    model_retry_backoff = 1
    calls: ClassVar[list[tuple[Any, ...]]] = []

    def fail(self, job_id: int, attempt: int | None, code: str, message: str) -> None:
        self.calls.append(("fail", job_id, attempt, code, message))

    def retrying(
        self, job_id: int, attempt: int | None, exc: ModelRuntimeError, countdown: float,
        retry_number: int,
    ) -> None:  # fmt: skip
        self.calls.append(
            ("retrying", job_id, attempt, type(exc).__name__, countdown, retry_number)
        )


RAISES: dict[str, Exception] = {}


@shared_task(bind=True, base=RecordingTask, name="tests.workspace.jobs.model_job")
def model_job(self: RecordingTask, job_id: int, attempt: int) -> str:
    if "exc" in RAISES:
        raise RAISES["exc"]
    return "done"


class OneShotTask(RecordingTask):
    id_arg = "campaign_id"
    attempt_arg = None


@shared_task(bind=True, base=OneShotTask, name="tests.workspace.jobs.one_shot")
def one_shot(self: OneShotTask, campaign_id: int) -> None:
    raise RAISES["exc"]


@pytest.fixture
def calls() -> Any:
    RecordingTask.calls.clear()
    RAISES.clear()
    yield RecordingTask.calls
    RAISES.clear()


def test_a_job_that_succeeds_calls_no_hook(calls) -> None:
    assert model_job.apply(args=(7, 1)).get() == "done"
    assert calls == []


def test_a_retryable_model_error_backs_off_then_fails_with_its_code(calls) -> None:
    RAISES["exc"] = ModelUnavailable("The model server did not answer.")
    model_job.apply(args=(7, 3))
    assert calls == [
        ("retrying", 7, 3, "ModelUnavailable", 1, 1),
        ("retrying", 7, 3, "ModelUnavailable", 2, 2),
        ("fail", 7, 3, JobError.UNAVAILABLE, "The model server did not answer."),
    ]


def test_an_error_retrying_cannot_fix_fails_at_once(calls) -> None:
    RAISES["exc"] = PromptTruncated(expected=900, evaluated=512, num_ctx=512)
    model_job.apply(kwargs={"job_id": 7, "attempt": 2})
    assert [call[:4] for call in calls] == [("fail", 7, 2, JobError.TRUNCATED)]


def test_an_unexpected_exception_fails_the_job_with_its_words(calls) -> None:
    RAISES["exc"] = KeyError("units")
    result = model_job.apply(args=(7, 1))
    assert result.failed()
    assert calls == [
        ("fail", 7, 1, JobError.INTERRUPTED, "Unexpected error in model_job: KeyError: 'units'")
    ]


def test_a_job_without_an_attempt_is_failed_by_its_id_alone(calls) -> None:
    RAISES["exc"] = ModelNotFound("gemma", "http://ollama")
    one_shot.apply(args=(5,))
    assert [call[:4] for call in calls] == [("fail", 5, None, JobError.NOT_FOUND)]


def test_a_task_is_sent_by_its_name_after_the_transaction_commits(
    db, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(model_job, "apply_async", lambda *a, **kw: sent.append((a, kw)))
    signature = task_signature("tests.workspace.jobs.model_job", 7, 1, queue="batch")
    assert (signature.args, signature.options["queue"], signature.immutable) == (
        (7, 1),
        "batch",
        True,
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_on_commit(signature)
        assert sent == []  # nothing leaves before the commit
    assert len(callbacks) == 1 and len(sent) == 1
    with pytest.raises(KeyError, match=r"No Celery task named 'tests\.nothing'"):
        task_signature("tests.nothing")


def test_an_unreachable_broker_is_logged_and_marked_and_never_raised(
    db, django_capture_on_commit_callbacks, caplog
) -> None:
    """A real publish to a port where no broker listens."""
    from workspace.local_redis import free_port

    dead = Celery("dead", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
    dead.conf.broker_connection_timeout = 0.5
    dead.conf.task_publish_retry = False
    signature = dead.signature("tests.workspace.jobs.model_job", args=(7, 1))
    marked: list[Exception] = []
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(signature, on_failure=marked.append)
    assert len(marked) == 1
    assert "Could not queue" in caplog.text
    enqueue_on_commit(signature)  # no callback: logged only, still nothing raised
