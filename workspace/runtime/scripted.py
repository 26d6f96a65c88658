"""A deterministic backend for tests, benchmarks and load runs.

It really tokenizes (with Gemma's tokenizer) and really streams; only the words come from
a script instead of a model. Select it with CARREL_BACKEND=scripted or `use_runtime(...)`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence

from workspace.runtime.errors import PromptTooLong
from workspace.runtime.structured import parse_structured
from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import ChatChunk, ChatResult, Message, ModelFacts, SchemaT

Reply = Callable[[Sequence[Message]], str]


class ScriptedRuntime:
    def __init__(
        self,
        replies: Reply | list[str],
        *,
        context_window: int = 128 * 1024,
        model: str = "scripted",
        delay: float = 0.0,
        instruction_tuned: bool = True,
    ) -> None:
        self._queue = list(replies) if isinstance(replies, list) else None
        self._reply = replies if callable(replies) else None
        self.context_window = context_window
        self.model = model
        self.delay = delay  # seconds each call takes, as a model server's would (benchmarks)
        self.instruction_tuned = instruction_tuned  # False plays a base model's facts
        self.calls: list[list[Message]] = []

    @classmethod
    def echo(cls, *, delay: float = 0.0, instruction_tuned: bool = True) -> ScriptedRuntime:
        """Answers quoting the question, citing the first [source, p. N] marker it was shown."""

        def reply(messages: Sequence[Message]) -> str:
            question = messages[-1].content.strip().splitlines()[-1] if messages else ""
            prompt = "\n".join(m.content for m in messages)
            cite = re.search(r"\[([^\[\]]+?), p\. ?(\d{1,5})\]", prompt)
            citation = f" [{cite.group(1)}, p. {cite.group(2)}]" if cite else ""
            return f"Scripted answer to: {question[:200]}{citation}"

        return cls(reply, delay=delay, instruction_tuned=instruction_tuned)

    def facts(self) -> ModelFacts:
        return ModelFacts(
            backend="scripted",
            model=self.model,
            context_window=self.context_window,
            max_context=self.context_window,
            instruction_tuned=self.instruction_tuned,
        )

    def count_tokens(self, text: str) -> int:
        return get_tokenizer().count(text)

    def count_messages(self, messages: Sequence[Message]) -> int:
        return get_tokenizer().count_messages(messages)

    def _next(self, messages: Sequence[Message]) -> str:
        self.calls.append(list(messages))
        if self.delay:
            time.sleep(self.delay)
        if self._reply is not None:
            return self._reply(messages)
        assert self._queue is not None
        if not self._queue:
            raise AssertionError("ScriptedRuntime ran out of scripted replies")
        return self._queue.pop(0)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        expected = self.count_messages(messages)
        if expected + max_tokens > self.context_window:
            raise PromptTooLong(expected, max_tokens, self.context_window)
        text = self._next(messages)
        return ChatResult(
            text=text,
            prompt_tokens=expected,
            expected_prompt_tokens=expected,
            output_tokens=self.count_tokens(text),
            done_reason="stop",
            model=self.model,
        )

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> Iterator[ChatChunk]:
        result = self.chat(messages, max_tokens=max_tokens, temperature=temperature)
        for piece in re.split(r"(?<=\s)(?=\S)", result.text):  # words with their spaces
            if piece:
                yield ChatChunk(text=piece)
        yield ChatChunk(done=True, result=result)

    def structured(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT],
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> SchemaT:
        result = self.chat(messages, max_tokens=max_tokens, temperature=temperature)
        return parse_structured(result.text, schema)
