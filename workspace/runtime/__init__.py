"""The model runtime: one small interface over Ollama, embedded llama.cpp and a scripted double.

Use `get_runtime()` everywhere; never construct a backend in feature code.
"""

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
from workspace.runtime.select import (
    get_runtime,
    runtime_follows_instructions,
    runtime_status,
    use_runtime,
)
from workspace.runtime.types import ChatChunk, ChatResult, Message, ModelFacts, ModelRuntime

__all__ = [
    "ChatChunk",
    "ChatResult",
    "InvalidModelOutput",
    "Message",
    "ModelCrashed",
    "ModelFacts",
    "ModelNotFound",
    "ModelRuntime",
    "ModelRuntimeError",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "PromptTooLong",
    "PromptTruncated",
    "get_runtime",
    "runtime_follows_instructions",
    "runtime_status",
    "use_runtime",
]
