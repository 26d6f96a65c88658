"""One table of what can go wrong in a model job, and the code each runtime error gets.

Every job row (a question, a study job) stores one of these codes with the error's own
words; the page shows the code's label as the title. `error_code_for` maps each
`ModelRuntimeError` subclass once, so a truncated prompt is "truncated" wherever it happens.
"""

from __future__ import annotations

from django.db import models

from workspace.runtime.errors import (
    InvalidModelOutput,
    ModelCrashed,
    ModelNotFound,
    ModelRuntimeError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    PromptTooLong,
    PromptTruncated,
)


class JobError(models.TextChoices):
    UNAVAILABLE = "unavailable", "The model server is not answering"
    TIMEOUT = "timeout", "The model server timed out"
    TRUNCATED = "truncated", "The model server truncated the prompt"
    TOO_LONG = "too_long", "The prompt is too long for the model"
    NOT_FOUND = "not_found", "The model is not installed"
    INVALID_OUTPUT = "invalid_output", "The model's answer did not match the schema"
    CRASHED = "crashed", "The model crashed"
    MODEL = "model", "The model server failed"
    PACKING = "packing", "The sources could not be packed"
    NO_SOURCES = "no_sources", "No sources are ready"
    INTERRUPTED = "interrupted", "The work was interrupted"
    CANCELLED = "cancelled", "Cancelled"


# Most specific first: the first class the error is an instance of gives its code.
RUNTIME_ERROR_CODES: tuple[tuple[type[ModelRuntimeError], JobError], ...] = (
    (PromptTruncated, JobError.TRUNCATED),
    (PromptTooLong, JobError.TOO_LONG),
    (ModelTimeout, JobError.TIMEOUT),
    (ModelUnavailable, JobError.UNAVAILABLE),
    (ModelNotFound, JobError.NOT_FOUND),
    (InvalidModelOutput, JobError.INVALID_OUTPUT),
    (ModelCrashed, JobError.CRASHED),
    (ModelServerError, JobError.MODEL),
)


def error_code_for(exc: ModelRuntimeError) -> JobError:
    for kind, code in RUNTIME_ERROR_CODES:
        if isinstance(exc, kind):
            return code
    return JobError.MODEL
