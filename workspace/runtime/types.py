"""The small vocabulary shared by all model backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel

Role = Literal["system", "user", "assistant"]
SchemaT = TypeVar("SchemaT", bound=BaseModel)


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    images: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ModelFacts:
    backend: str  # "ollama", "embedded" or "scripted"
    model: str  # an Ollama tag, or a GGUF file name
    context_window: int  # the num_ctx Carrel sends and packs against
    max_context: int  # the model's full native window
    demo: bool = False  # True for the weak embedded demo model
    # False for a base (pretrained) model, which has no chat template: it continues the
    # prompt rather than answering it (the packaged demo model is one).
    instruction_tuned: bool = True
    host: str | None = None


@dataclass(frozen=True)
class Timing:
    """How long a call took, as the backend measured it: the prompt tokens it evaluated
    (a prefix reused from its cache is not evaluated) in `prompt_seconds`, and the tokens
    it generated in `output_seconds`. workspace/runtime/speed.py keeps the rates."""

    backend: str
    model: str  # as the backend's facts name it (the speed is kept under this name)
    prompt_tokens: int
    prompt_seconds: float
    output_tokens: int
    output_seconds: float


@dataclass
class ChatResult:
    text: str
    prompt_tokens: int  # tokens the server says it evaluated (may exclude cached prefix)
    expected_prompt_tokens: int  # our own count with Gemma's tokenizer
    output_tokens: int
    done_reason: str  # "stop" or "length"
    model: str
    thinking: str = ""
    timing: Timing | None = None  # None when the backend did not time the call

    @property
    def hit_output_cap(self) -> bool:
        """True when generation stopped at max_tokens (thinking counts against it too)."""
        return self.done_reason == "length"


@dataclass
class ChatChunk:
    """One piece of a streamed answer; the last one has done=True and the full result."""

    text: str = ""
    thinking: str = ""
    done: bool = False
    result: ChatResult | None = field(default=None)


class ModelRuntime(Protocol):
    def facts(self) -> ModelFacts: ...

    def count_tokens(self, text: str) -> int: ...

    def count_messages(self, messages: Sequence[Message]) -> int: ...

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> ChatResult: ...

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> Iterator[ChatChunk]: ...

    def structured(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT],
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> SchemaT: ...
