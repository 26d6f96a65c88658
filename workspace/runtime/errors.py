"""Errors every model backend raises, each with a message a person can act on.

`retryable` tells Celery tasks whether backing off and trying again can help.
"""

from __future__ import annotations


class ModelRuntimeError(Exception):
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelUnavailable(ModelRuntimeError):
    """The model server did not answer (connection refused, DNS, reset)."""

    retryable = True


class ModelTimeout(ModelRuntimeError):
    """The model server accepted the request but did not finish in time."""

    retryable = True


class ModelNotFound(ModelRuntimeError):
    """The server runs but does not have the model; `pull_command` fixes it."""

    def __init__(self, model: str, host: str) -> None:
        self.model = model
        self.pull_command = f"ollama pull {model}"
        super().__init__(
            f"Ollama at {host} does not have the model {model!r}. "
            f"Run `{self.pull_command}` on that machine, or choose another model."
        )


class ModelServerError(ModelRuntimeError):
    """The server answered with an error status we do not know how to fix."""

    retryable = True


class PromptTooLong(ModelRuntimeError):
    """Refused before sending: the prompt plus the output reserve exceeds the context window."""

    def __init__(self, prompt_tokens: int, max_tokens: int, context_window: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.context_window = context_window
        super().__init__(
            f"The prompt is {prompt_tokens:,} tokens and {max_tokens:,} are reserved for the "
            f"answer, which exceeds the {context_window:,}-token context window. "
            "Choose fewer sources or a model with a larger window."
        )


class PromptTruncated(ModelRuntimeError):
    """The server evaluated fewer prompt tokens than we sent: it silently cut the prompt."""

    def __init__(self, expected: int, evaluated: int, num_ctx: int) -> None:
        self.expected = expected
        self.evaluated = evaluated
        self.num_ctx = num_ctx
        super().__init__(
            f"The model server read only {evaluated:,} of the prompt's ~{expected:,} tokens "
            f"(num_ctx={num_ctx:,}): it truncated the prompt, so the answer would ignore part "
            "of your sources. Lower the amount of material or raise the context window."
        )


class InvalidModelOutput(ModelRuntimeError):
    """Structured output that is not valid JSON or does not match the schema."""

    retryable = True

    def __init__(self, message: str, raw: str) -> None:
        self.raw = raw
        super().__init__(message)


class ModelCrashed(ModelRuntimeError):
    """The process running the model died during the call (a llama.cpp crash, the OOM
    killer). Only that call is lost: the next one starts the model again."""

    retryable = True
