"""Generation jobs of the study tools: start one, run it unit by unit, fail it clearly,
retry it.

A job is a claimable row (workspace/models.py), claimed with a conditional UPDATE
(queued → running, same attempt) by the `study_generate` task (tasks.py, sent here by its
name); every later write checks the attempt and status too, so a task left over from an
earlier attempt changes nothing. Each unit's results are saved in the same transaction that
advances `units_done`, so a redelivered task resumes after the last saved unit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery.canvas import Signature
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from research.models import (
    Answer,
    Comparison,
    Digest,
    Document,
    Project,
    StudyJob,
)
from research.study import selectors
from research.study.generators import comparisons, digests, flashcards, from_text, timelines
from research.study.generators.base import GenerationFailed, Tally
from workspace.jobs import JobError, enqueue_on_commit, error_code_for, task_signature
from workspace.jobs.caps import user_row_lock
from workspace.runtime import get_runtime
from workspace.runtime.errors import InvalidModelOutput, ModelRuntimeError
from workspace.runtime.types import ModelRuntime

logger = logging.getLogger(__name__)

Status = StudyJob.Status
Kind = StudyJob.Kind
ErrorCode = JobError

STALE_AFTER = StudyJob.STALE_AFTER
BATCH_QUEUE = "batch"  # background model work; questions have "model" to themselves
GENERATE_TASK = "research.study_tasks.study_generate"


@dataclass(frozen=True)
class Generator:
    generate_unit: Callable[..., tuple[Sequence[Any], Tally]]
    save_unit: Callable[..., flashcards.SaveCounts]
    noun: str  # what it makes, plural
    one: str  # the same, singular
    # The same made from the text itself, no model call (generators/from_text.py), for a
    # job whose params say method "text".
    from_text: Callable[..., tuple[Sequence[Any], Tally]] | None = None


# How a flashcard or timeline job makes its material: from the text itself, or by the model.
FROM_TEXT, BY_MODEL = "text", "model"
METHODS = (FROM_TEXT, BY_MODEL)

GENERATORS: dict[str, Generator] = {
    Kind.FLASHCARDS: Generator(
        flashcards.generate_unit,
        flashcards.save_unit,
        "cards",
        "card",
        from_text=from_text.flashcards_unit,
    ),
    Kind.TIMELINE: Generator(
        timelines.generate_unit,
        timelines.save_unit,
        "events",
        "event",
        from_text=from_text.timeline_unit,
    ),
    Kind.COMPARISON: Generator(comparisons.generate_unit, comparisons.save_unit, "cells", "cell"),
    Kind.DIGEST: Generator(digests.generate_unit, digests.save_unit, "summaries", "summary"),
}

# -- starting ------------------------------------------------------------------------------


class TooManyJobs(Exception):
    """The person already has CARREL_MAX_JOBS_IN_FLIGHT study jobs queued or running."""


def jobs_in_flight_check(*, user: User, starting: int = 1) -> None:
    """Refuse (TooManyJobs, with the words to show) when `starting` more jobs would put the
    user over CARREL_MAX_JOBS_IN_FLIGHT (0 or less: no limit). Call inside a transaction
    that has locked the user's row (`user_row_lock`), so two requests cannot both pass."""
    cap = settings.CARREL_MAX_JOBS_IN_FLIGHT
    if cap <= 0:
        return
    running = selectors.jobs_in_flight_for_user(user=user)
    if running + starting > cap:
        raise TooManyJobs(
            f"You already have {running} study job{'s' if running != 1 else ''} waiting or "
            f"running, and one person may have at most {cap} at once on this server. Wait "
            "for one to finish (or discard a stuck one), then try again."
        )


def _job_create(
    *,
    project: Project,
    user: User,
    kind: str,
    label: str,
    units: list[dict[str, Any]],
    params: dict[str, Any] | None = None,
    comparison: Comparison | None = None,
    digest: Digest | None = None,
) -> StudyJob:
    """A new job, sent to a worker once the transaction commits; TooManyJobs (and nothing
    made: the caller's transaction rolls back) when the user is at their cap."""
    with transaction.atomic():
        user_row_lock(user_id=user.pk)
        jobs_in_flight_check(user=user)
        job = StudyJob.objects.create(
            project=project,
            created_by=user,
            kind=kind,
            label=label[:300],
            units=units,
            params=params or {},
            comparison=comparison,
            digest=digest,
        )
        job_enqueue(job=job)
    return job


def flashcards_generate(
    *,
    project: Project,
    user: User,
    documents: Sequence[Document],
    pages: tuple[int, int] | None = None,
    count: int = flashcards.DEFAULT_COUNT,
    kinds: str = "basic",
    tags: Sequence[str] = (),
    method: str = BY_MODEL,
) -> StudyJob:
    """Cards from each document (a whole project is all its ready documents), or from a
    page range of one document. `method` "text": cloze cards from the text's defining
    and finding sentences, no model call (generators/from_text.py)."""
    if pages is not None and len(documents) == 1:
        units: list[dict[str, Any]] = [{"document_id": documents[0].pk, "pages": list(pages)}]
        label = f"{documents[0].title}, pp. {pages[0]}-{pages[1]}"
    else:
        units = [{"document_id": document.pk} for document in documents]
        label = documents[0].title if len(documents) == 1 else f"{len(documents)} documents"
    params = {"count": count, "kinds": kinds, "tags": list(tags), "method": _method(method)}
    return _job_create(
        project=project,
        user=user,
        kind=Kind.FLASHCARDS,
        label=label,
        units=units,
        params=params,
    )


def flashcards_generate_from_answer(
    *,
    answer: Answer,
    user: User,
    count: int = flashcards.DEFAULT_COUNT,
    kinds: str = "basic",
    tags: Sequence[str] = (),
    method: str = BY_MODEL,
) -> StudyJob:
    """Cards from an answer; `method` "text": cloze cards from the pages it cites."""
    question = answer.question
    return _job_create(
        project=question.thread.project,
        user=user,
        kind=Kind.FLASHCARDS,
        label=f"the answer to “{question.text[:200]}”",
        units=[{"answer_id": answer.pk}],
        params={"count": count, "kinds": kinds, "tags": list(tags), "method": _method(method)},
    )


def timeline_generate(
    *,
    project: Project,
    user: User,
    documents: Sequence[Document],
    count: int = timelines.DEFAULT_COUNT,
    tags: Sequence[str] = (),
    method: str = BY_MODEL,
) -> StudyJob:
    """Events from each document; `method` "text": from its dated sentences, no model call."""
    label = documents[0].title if len(documents) == 1 else f"{len(documents)} documents"
    return _job_create(
        project=project,
        user=user,
        kind=Kind.TIMELINE,
        label=label,
        units=[{"document_id": document.pk} for document in documents],
        params={"count": count, "tags": list(tags), "method": _method(method)},
    )


def _method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    return method


def comparison_start(
    *,
    project: Project,
    user: User,
    title: str,
    documents: Sequence[Document],
    aspects: Sequence[str],
) -> StudyJob:
    with transaction.atomic():
        comparison = comparisons.comparison_create(
            project=project, title=title, documents=documents, aspects=aspects
        )
        return comparison_fill(comparison=comparison, user=user)


def comparison_fill(*, comparison: Comparison, user: User) -> StudyJob:
    """(Re)fill every paper's column; cells the user edited are kept."""
    return _job_create(
        project=comparison.project,
        user=user,
        kind=Kind.COMPARISON,
        label=comparison.title,
        units=[{"document_id": document_id} for document_id in comparison.document_ids],
        comparison=comparison,
    )


def digest_start(
    *, project: Project, user: User, title: str, documents: Sequence[Document]
) -> StudyJob:
    with transaction.atomic():
        digest = digests.digest_create(project=project, title=title, documents=documents)
        return digest_regenerate(digest=digest, user=user)


class EditedByUser(Exception):
    """The user edited this; a regeneration would overwrite their words."""


def digest_regenerate(*, digest: Digest, user: User) -> StudyJob:
    if digest.edited_by_user:
        raise EditedByUser("You edited this summary; make a new one instead of regenerating it.")
    return _job_create(
        project=digest.project,
        user=user,
        kind=Kind.DIGEST,
        label=digest.title,
        units=[{"digest_id": digest.pk}],
        digest=digest,
    )


def generate_signature(*, job_id: int, attempt: int) -> Signature:
    return task_signature(GENERATE_TASK, job_id, attempt, queue=BATCH_QUEUE)


def job_enqueue(*, job: StudyJob) -> None:
    """Send the job to a worker once the transaction that made it commits; if the broker
    is down, the job says so and Retry sends it again."""
    job_id, attempt = job.pk, job.attempt

    def queue_down(exc: Exception) -> None:
        job_fail(
            job_id=job_id,
            attempt=attempt,
            code=ErrorCode.INTERRUPTED,
            message=f"Could not reach the task queue ({exc}). Retry when it is back.",
        )

    enqueue_on_commit(generate_signature(job_id=job_id, attempt=attempt), on_failure=queue_down)


def _ended_or_stuck(job: StudyJob, now: datetime) -> Q:
    """Rows a person may retry or discard: failed; active with no sign of life for
    STALE_AFTER; or running (at this attempt) on a worker with no live heartbeat."""
    admitted = Q(status=Status.FAILED) | Q(
        status__in=StudyJob.ACTIVE, updated_at__lt=now - STALE_AFTER
    )
    if job.status == Status.RUNNING and selectors.job_is_stuck(
        job, alive=selectors.workers_alive()
    ):
        admitted |= Q(status=Status.RUNNING, worker=job.worker)
    return admitted


def job_retry(*, job: StudyJob, user: User | None = None) -> bool:
    """Start a failed (or stuck) job again as a new attempt, resuming after its last saved
    unit; False when it cannot be. With `user`, the retry counts against their cap of jobs
    in flight (TooManyJobs)."""
    now = timezone.now()
    with transaction.atomic():
        if user is not None and (job.status == Status.FAILED or job.is_stale):
            # a failed or long-silent job is not counted in flight; once retried, it is
            user_row_lock(user_id=user.pk)
            jobs_in_flight_check(user=user)
        updated = StudyJob.restart(
            job.pk,
            job.attempt,
            where=_ended_or_stuck(job, now),
            error_detail="",
            message="Waiting for the model…",
            finished_at=None,
            worker="",
            updated_at=now,
        )
        if updated:
            job.refresh_from_db()
            job_enqueue(job=job)
    return bool(updated)


def job_discard(*, job: StudyJob) -> bool:
    """Delete a failed or stuck job; what it saved (cards, events, cells, a summary) stays.
    False when it is running or done. A task still holding it finds no row and stops."""
    deleted, _ = (
        StudyJob.fenced(job.pk, job.attempt).filter(_ended_or_stuck(job, timezone.now())).delete()
    )
    return bool(deleted)


# -- running ---------------------------------------------------------------------------------


class JobLost(Exception):
    """The job was retried, finished or deleted meanwhile: this run must stop."""


def _live(job_id: int, attempt: int) -> Any:
    return StudyJob.fenced(job_id, attempt, Status.RUNNING)


def _update(job_id: int, attempt: int, **fields: Any) -> None:
    # QuerySet.update() skips auto_now: set updated_at, the sign of life STALE_AFTER reads.
    if not _live(job_id, attempt).update(updated_at=timezone.now(), **fields):
        raise JobLost()


def job_claim(*, job_id: int, attempt: int, worker: str = "") -> bool:
    """Take a queued job, or one whose worker died mid-run (running, but silent for
    STALE_AFTER: a redelivered message resumes it after its last saved unit). `worker`, the
    Celery node taking it, is what tells a dead worker's job from a live one."""
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | Q(status=Status.RUNNING, updated_at__lt=now - STALE_AFTER)
    return StudyJob.claim(
        job_id, attempt, where=claimable, message="Starting…", worker=worker, updated_at=now
    )


def job_release(*, job_id: int, attempt: int, message: str) -> None:
    """Give a running job back to the queue (the task will retry it after a pause)."""
    StudyJob.release(job_id, attempt, message=message[:500], updated_at=timezone.now())


def job_fail(*, job_id: int, attempt: int, code: str, message: str, detail: str = "") -> bool:
    now = timezone.now()
    return StudyJob.fail(
        job_id,
        attempt,
        code=code,
        error=message,
        error_detail=detail,
        message="",
        finished_at=now,
        updated_at=now,
    )


def _unit_name(unit: dict[str, Any]) -> str:
    if "document_id" in unit:
        title = Document.objects.filter(pk=unit["document_id"]).values_list("title", flat=True)
        return f"“{title.first() or 'a deleted document'}”"
    if "answer_id" in unit:
        return "the answer"
    return "the documents"


def job_run(
    *, job_id: int, attempt: int, runtime: ModelRuntime | None = None, worker: str = ""
) -> None:
    """Claim the job and generate its remaining units. Model errors other than invalid
    output propagate (the task retries them, then fails the job); everything else that
    goes wrong ends here as a failure stored on the job."""
    if not job_claim(job_id=job_id, attempt=attempt, worker=worker):
        return
    job = StudyJob.objects.select_related("project", "comparison", "digest").get(pk=job_id)
    generator = GENERATORS[job.kind]
    try:
        runtime = runtime or get_runtime()
        for index in range(job.units_done, len(job.units)):
            _run_unit(job, generator, index, runtime)
        _update(
            job_id,
            attempt,
            status=Status.DONE,
            message=_summary(StudyJob.objects.get(pk=job_id), generator),
            finished_at=timezone.now(),
            parts_done=0,
            parts_total=0,
        )
    except JobLost:
        return
    except GenerationFailed as exc:
        job_fail(
            job_id=job_id, attempt=attempt, code=exc.code, message=exc.message, detail=exc.detail
        )
    except ModelRuntimeError as exc:
        if exc.retryable:
            job_release(job_id=job_id, attempt=attempt, message=f"{exc.message} Trying again soon…")
            raise
        job_fail(job_id=job_id, attempt=attempt, code=error_code_for(exc), message=exc.message)


def _run_unit(job: StudyJob, generator: Generator, index: int, runtime: ModelRuntime) -> None:
    unit = job.units[index]
    total = len(job.units)
    name = _unit_name(unit)
    where = f" ({index + 1} of {total})" if total > 1 else ""
    _update(job.pk, job.attempt, message=f"Reading {name}{where}…", parts_done=0, parts_total=0)

    def on_part(part: int, parts: int) -> None:
        detail = f", part {part + 1} of {parts}" if parts > 1 else ""
        _update(
            job.pk,
            job.attempt,
            parts_done=part,
            parts_total=parts,
            message=f"Asking the model about {name}{where}{detail}…",
        )

    def on_invalid(tries: int, exc: InvalidModelOutput) -> None:
        _update(
            job.pk,
            job.attempt,
            invalid_outputs=F("invalid_outputs") + 1,
            message=f"The model's answer did not match the schema ({exc.message}); "
            f"asking again (try {tries + 1})…",
        )

    generate = generator.generate_unit
    if generator.from_text is not None and job.params.get("method") == FROM_TEXT:
        generate = generator.from_text
    try:
        drafts, tally = generate(
            job=job, unit=unit, runtime=runtime, on_part=on_part, on_invalid=on_invalid
        )
    except GenerationFailed as exc:
        if exc.code == ErrorCode.NO_SOURCES and total > 1:
            # One document of many has no text (yet): note it and go on with the others.
            with transaction.atomic():
                _update(
                    job.pk,
                    job.attempt,
                    units_done=index + 1,
                    message=f"Skipped {name}: {exc.message}",
                )
            return
        raise GenerationFailed(exc.code, f"{name}{where}: {exc.message}", exc.detail) from exc
    with transaction.atomic():
        StudyJob.objects.select_for_update().filter(pk=job.pk).first()
        if not _live(job.pk, job.attempt).filter(units_done=index).exists():
            raise JobLost()
        counts = generator.save_unit(job=job, unit=unit, drafts=drafts)
        _update(
            job.pk,
            job.attempt,
            units_done=index + 1,
            parts_done=0,
            parts_total=0,
            created_count=F("created_count") + counts.created,
            updated_count=F("updated_count") + counts.updated,
            kept_count=F("kept_count") + counts.kept,
            dropped_count=F("dropped_count") + counts.dropped + tally.dropped,
        )


def _summary(job: StudyJob, generator: Generator) -> str:
    noun = generator.one if job.created_count == 1 else generator.noun
    parts = [f"{job.created_count} new {noun}"]
    if job.updated_count:
        parts.append(f"{job.updated_count} updated or merged")
    if job.kept_count:
        parts.append(f"{job.kept_count} left as you edited them")
    if job.dropped_count:
        parts.append(
            f"{job.dropped_count} dropped or left uncited because they cited pages the model "
            "was not shown"
        )
    return "Done: " + ", ".join(parts) + "."
