"""The Ollama backend: Gemma 4 served by a local (or lab) Ollama, via the official client.

Every chat request sends the same options.num_ctx (a different value makes Ollama reload
the model), num_predict=max_tokens, temperature, seed, keep_alive and think. A prompt that
cannot fit (our count + max_tokens > num_ctx) is refused before anything is sent.

Silent truncation. Ollama does not fail when a prompt is longer than the context it really
runs with (a model whose true window is smaller than Carrel believes, image tokens, a
template that renders more tokens than ours): it drops old messages or cuts tokens and
answers anyway. The only trace is prompt_eval_count, the prompt tokens it evaluated. That
number also leaves out tokens reused from Ollama's KV cache, so a follow-up question whose
prompt starts with the previous prompt and answer reports only its new tokens. The rule:

    truncated  <=>  evaluated < expected - reusable - tolerance

- expected: our count of the prompt (Gemma's tokenizer over our rendering of the template).
- reusable: an upper bound on the tokens Ollama could have taken from its cache, i.e. the
  prompt's longest prefix shared with a prompt (plus its answer) recently sent to the same
  host, model and num_ctx. Each answered request leaves a small record in Django's cache
  (shared by web and worker processes): hashes of its rendered text at every turn boundary
  and every _CHECKPOINT_CHARS characters. The shared prefix ends before the first checkpoint
  that no longer matches, so `reusable` counts our prompt up to that checkpoint (or up to
  the end of the recorded text when every checkpoint matches); nothing shared means 0.
- tolerance: 16 tokens + 4 per message + 1% of expected, for the difference between our
  Gemma 3 tokenizer and template and what Ollama renders for the served model.

The bound errs on the side of accepting: a truncated follow-up that shares a long prefix
with a recent prompt can pass unnoticed, but genuine cache reuse is not reported as
truncation while its record lasts (the latest _RECORD_SLOTS prompts per host and model,
for a day).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
import pydantic
from django.conf import settings
from django.core.cache import cache

from workspace.redact import redact
from workspace.runtime.errors import (
    ModelNotFound,
    ModelRuntimeError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    PromptTooLong,
    PromptTruncated,
)
from workspace.runtime.registry import context_window_for, effective_num_ctx
from workspace.runtime.rendering import echo_guard
from workspace.runtime.structured import grammar_schema, parse_structured
from workspace.runtime.tokenizer import get_tokenizer, render_gemma_prompt
from workspace.runtime.types import (
    ChatChunk,
    ChatResult,
    Message,
    ModelFacts,
    SchemaT,
    Timing,
)

logger = logging.getLogger(__name__)

LIST_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 10.0

_CHECKPOINT_CHARS = 2048
_RECORD_SLOTS = 32
_RECORD_TTL_SECONDS = 24 * 3600
_TURN_START = re.compile(re.escape("<start_of_turn>"))


# --- errors -------------------------------------------------------------------------------


def _unreachable(host: str, detail: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"Cannot reach Ollama at {host} ({detail}). Start it with `ollama serve` (or open "
        "the Ollama app) on that machine, check OLLAMA_HOST, or set CARREL_BACKEND=embedded "
        "to use the built-in demo model."
    )


@contextlib.contextmanager
def _ollama_errors(*, host: str, model: str, timeout: float, probe: bool = False) -> Iterator[None]:
    """Turn the client's and httpx's exceptions into Carrel's runtime errors."""
    host = redact(host)  # the messages are shown to people
    try:
        yield
    except ModelRuntimeError:
        raise
    except (ConnectionError, httpx.ConnectError) as exc:
        raise _unreachable(host, "connection refused or unknown host") from exc
    except httpx.TimeoutException as exc:
        if probe or isinstance(exc, httpx.ConnectTimeout):
            raise _unreachable(host, "no answer in time") from exc
        raise ModelTimeout(
            f"Ollama at {host} did not finish within {timeout:g} s (OLLAMA_TIMEOUT). The model "
            "may still be loading or the prompt is very long: try again, or raise OLLAMA_TIMEOUT."
        ) from exc
    except ollama.ResponseError as exc:
        if exc.status_code == 404 and model:
            raise ModelNotFound(model, host) from exc
        if exc.status_code == -1:  # an {"error": ...} line in the middle of a stream
            raise ModelServerError(
                f"Ollama at {host} stopped with an error while answering: {exc.error}"
            ) from exc
        error = ModelServerError(f"Ollama at {host} answered {exc.status_code}: {exc.error}")
        error.retryable = exc.status_code >= 500 or exc.status_code == 429
        raise error from exc
    except httpx.TransportError as exc:
        raise _unreachable(host, f"the connection broke off: {exc}") from exc
    except (json.JSONDecodeError, pydantic.ValidationError) as exc:
        raise ModelServerError(
            f"Ollama at {host} sent a reply Carrel cannot read (not the JSON it expects). "
            "Is OLLAMA_HOST really an Ollama server, and is it up to date?"
        ) from exc
    except ollama.RequestError as exc:
        raise ModelRuntimeError(f"Invalid request to Ollama: {exc.error}") from exc


def list_ollama_models(host: str, *, timeout: float = LIST_TIMEOUT_SECONDS) -> list[str]:
    """The model tags Ollama at host has pulled; ModelUnavailable when it does not answer."""
    with _ollama_errors(host=host, model="", timeout=timeout, probe=True):
        client = ollama.Client(host=host, timeout=timeout)
        try:
            listing = client.list()
        finally:
            client.close()
    return [entry.model for entry in listing.models if entry.model]


# --- records of recent prompts, to tell KV-cache reuse from truncation -------------------


def _records_key(host: str, model: str, num_ctx: int) -> str:
    digest = hashlib.sha1(f"{host}|{model}|{num_ctx}".encode()).hexdigest()[:20]
    return f"carrel:ollama-prompts:{digest}"


def _checkpoints(text: str, *, prompt_end: int) -> dict[str, Any]:
    """Hashes of text's prefixes at turn starts, the prompt's end and every few KB."""
    offsets = {m.start() for m in _TURN_START.finditer(text)}
    offsets.update(range(_CHECKPOINT_CHARS, len(text), _CHECKPOINT_CHARS))
    offsets.update({prompt_end, len(text)})
    offsets.discard(0)
    digest = hashlib.blake2b(digest_size=8)
    marks: list[int] = []
    hashes: list[str] = []
    position = 0
    for offset in sorted(offsets):
        digest.update(text[position:offset].encode("utf-8", "surrogatepass"))
        position = offset
        marks.append(offset)
        hashes.append(digest.hexdigest())
    return {"offsets": marks, "hashes": hashes}


def _remember_prompt(
    key: str, text: str, *, prompt_end: int, slot: int | None = None
) -> int | None:
    """Record text's checkpoints in a slot (a new one unless given); the slot, or None."""
    try:
        if slot is None:
            cache.add(f"{key}:n", 0, timeout=None)
            slot = cache.incr(f"{key}:n") % _RECORD_SLOTS
        cache.set(f"{key}:{slot}", _checkpoints(text, prompt_end=prompt_end), _RECORD_TTL_SECONDS)
        return slot
    except Exception:  # the cache is an aid: a broken one must not fail the answer
        logger.warning("Could not record an Ollama prompt in the cache", exc_info=True)
        return None


def _recent_prompts(key: str, *, exclude: int | None = None) -> list[dict[str, Any]] | None:
    """Recorded prompts, without the one in slot `exclude` (the request being checked)."""
    slots = [slot for slot in range(_RECORD_SLOTS) if slot != exclude]
    try:
        found = cache.get_many([f"{key}:{slot}" for slot in slots])
    except Exception:
        logger.warning("Could not read recent Ollama prompts from the cache", exc_info=True)
        return None
    return list(found.values())


def _shared_prefix_bound(text: str, records: Sequence[dict[str, Any]]) -> int:
    """Characters of text that may equal the start of a recorded text: an upper bound."""
    best = 0
    for record in records:
        digest = hashlib.blake2b(digest_size=8)
        position = 0
        bound = 0
        for offset, expected_hash in zip(record["offsets"], record["hashes"], strict=True):
            if offset > len(text):
                bound = len(text)
                break
            digest.update(text[position:offset].encode("utf-8", "surrogatepass"))
            position = offset
            if digest.hexdigest() != expected_hash:
                bound = offset  # they part somewhere before this checkpoint
                break
            bound = offset
        best = max(best, bound)
    return best


def truncation_tolerance(expected: int, n_messages: int) -> int:
    return 16 + 4 * n_messages + expected // 100


# --- the runtime -------------------------------------------------------------------------


@dataclass
class _Request:
    messages: list[Message]
    kwargs: dict[str, Any]
    think: bool
    max_tokens: int
    expected: int
    num_ctx: int
    prompt: str  # the messages as Gemma's chat template renders them, what Ollama evaluates
    # The cache slot recording this prompt from the moment it is sent (see _announce).
    record_slot: int | None = None


def _keep_alive_value(value: str | float) -> str | float:
    """Ollama takes a duration ("30m") or a number of seconds (-1 = forever)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value) if "." in value else int(value)
    return value


def _wire(message: Message) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        wire["images"] = list(message.images)  # the client sends them base64-encoded
    return wire


class OllamaRuntime:
    def __init__(
        self,
        *,
        host: str,
        model: str,
        timeout: float = 600.0,
        keep_alive: str | float = "30m",
        think: bool = False,
    ) -> None:
        self.host = host
        self.model = model
        self.timeout = timeout
        self.keep_alive = _keep_alive_value(keep_alive)
        self.think = think
        self._client = ollama.Client(
            host=host,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_SECONDS, timeout)),
        )
        self._facts: ModelFacts | None = None
        self._facts_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> OllamaRuntime:
        return cls(
            host=settings.OLLAMA_HOST,
            model=settings.OLLAMA_MODEL,
            timeout=settings.OLLAMA_TIMEOUT,
            keep_alive=settings.OLLAMA_KEEP_ALIVE,
            think=settings.OLLAMA_THINK,
        )

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return _ollama_errors(host=self.host, model=self.model, timeout=self.timeout)

    # facts and counting

    def facts(self) -> ModelFacts:
        with self._facts_lock:
            if self._facts is None:
                max_context = context_window_for(self.model) or self._window_from_server()
                self._facts = ModelFacts(
                    backend="ollama",
                    model=self.model,
                    context_window=effective_num_ctx(max_context),
                    max_context=max_context,
                    host=self.host,
                )
            return self._facts

    def _window_from_server(self) -> int:
        with self._errors():
            shown = self._client.show(self.model)
        info = dict(shown.modelinfo or {})
        architecture = info.get("general.architecture")
        window = info.get(f"{architecture}.context_length") if architecture else None
        if window is None:
            window = next((v for k, v in info.items() if k.endswith(".context_length")), None)
        if not isinstance(window, int | float) or window <= 0:
            raise ModelRuntimeError(
                f"Carrel does not know the context window of {self.model!r} and Ollama did not "
                f"report one. Add it to CARREL_CONTEXT_WINDOWS, e.g. {self.model}=32768."
            )
        return int(window)

    def count_tokens(self, text: str) -> int:
        return get_tokenizer().count(text)

    def count_messages(self, messages: Sequence[Message]) -> int:
        return get_tokenizer().count_messages(messages)

    # requests

    def _prepare(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        think: bool | None,
        seed: int | None,
        schema: dict[str, Any] | None = None,
    ) -> _Request:
        messages = list(messages)
        num_ctx = self.facts().context_window
        expected = self.count_messages(messages)
        if expected + max_tokens > num_ctx:
            raise PromptTooLong(expected, max_tokens, num_ctx)
        options: dict[str, Any] = {
            "num_ctx": num_ctx,
            "num_predict": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            options["seed"] = seed
        think = self.think if think is None else think
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire(m) for m in messages],
            "think": think,
            "options": options,
            "keep_alive": self.keep_alive,
        }
        if schema is not None:
            kwargs["format"] = schema
        prompt = render_gemma_prompt(messages)
        return _Request(messages, kwargs, think, max_tokens, expected, num_ctx, prompt)

    def _result(
        self, request: _Request, final: ollama.ChatResponse, text: str, thinking: str
    ) -> ChatResult:
        return ChatResult(
            text=text,
            prompt_tokens=final.prompt_eval_count or 0,
            expected_prompt_tokens=request.expected,
            output_tokens=final.eval_count or 0,
            done_reason=final.done_reason or "stop",
            model=final.model or self.model,
            thinking=thinking,
            timing=Timing(
                backend="ollama",
                model=self.model,
                prompt_tokens=final.prompt_eval_count or 0,
                prompt_seconds=(final.prompt_eval_duration or 0) / 1e9,
                output_tokens=final.eval_count or 0,
                output_seconds=(final.eval_duration or 0) / 1e9,
            ),
        )

    def _announce(self, request: _Request) -> None:
        """Record the prompt before sending it: a concurrent request sharing its prefix may be
        served from the KV cache this one fills, and must not be taken for truncation."""
        key = _records_key(self.host, self.model, request.num_ctx)
        request.record_slot = _remember_prompt(key, request.prompt, prompt_end=len(request.prompt))

    def _finish(self, request: _Request, result: ChatResult) -> None:
        """Checks every answer goes through before it is returned or its last chunk sent."""
        prompt = request.prompt
        self._check_truncation(request, result, prompt)
        # Ollama's cache now holds the prompt and what it generated; a follow-up's history
        # carries the answer but not the thinking, so only then does the answer extend it.
        recorded = prompt if result.thinking else prompt + result.text
        key = _records_key(self.host, self.model, request.num_ctx)
        _remember_prompt(key, recorded, prompt_end=len(prompt), slot=request.record_slot)
        if result.hit_output_cap and request.think and not result.text.strip():
            raise ModelRuntimeError(
                f"The model spent its whole output budget ({request.max_tokens:,} tokens) "
                "thinking and wrote no answer. Allow more output tokens, or turn thinking off "
                "(OLLAMA_THINK=0)."
            )

    def _check_truncation(self, request: _Request, result: ChatResult, prompt: str) -> None:
        expected, evaluated = request.expected, result.prompt_tokens
        tolerance = truncation_tolerance(expected, len(request.messages))
        if evaluated >= expected - tolerance:
            return
        records = _recent_prompts(
            _records_key(self.host, self.model, request.num_ctx), exclude=request.record_slot
        )
        if records is None:
            return  # no way to tell cache reuse from truncation: do not cry wolf
        bound = _shared_prefix_bound(prompt, records)
        if bound >= len(prompt):
            reusable = expected
        elif bound > 0:
            rest = len(get_tokenizer().encode(prompt[bound:], special=True))
            reusable = max(0, expected - rest)
        else:
            reusable = 0
        if evaluated >= expected - reusable - tolerance:
            logger.debug(
                "Ollama evaluated %d of %d prompt tokens; up to %d were reusable from its cache",
                evaluated,
                expected,
                reusable,
            )
            return
        raise PromptTruncated(expected, evaluated, request.num_ctx)

    def _complete(self, request: _Request) -> ChatResult:
        self._announce(request)
        with self._errors():
            response = self._client.chat(**request.kwargs, stream=False)
        result = self._result(
            request, response, response.message.content or "", response.message.thinking or ""
        )
        self._finish(request, result)
        return result

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        think: bool | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        request = self._prepare(
            messages, max_tokens=max_tokens, temperature=temperature, think=think, seed=seed
        )
        result = self._complete(request)
        result.text = echo_guard(messages).strip(result.text)
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
        request = self._prepare(
            messages, max_tokens=max_tokens, temperature=temperature, think=think, seed=seed
        )
        text: list[str] = []
        thinking: list[str] = []
        shown: list[str] = []
        guard = echo_guard(messages)  # holds back what may still be a copy of the prompt
        final: ollama.ChatResponse | None = None
        self._announce(request)
        with self._errors():
            parts = self._client.chat(**request.kwargs, stream=True)
            try:
                for part in parts:
                    piece, thought = part.message.content or "", part.message.thinking or ""
                    if piece or thought:
                        text.append(piece)
                        thinking.append(thought)
                        visible = guard.feed(piece) if piece else ""
                        shown.append(visible)
                        if visible or thought:
                            yield ChatChunk(text=visible, thinking=thought)
                    if part.done:
                        final = part
                        break
            finally:
                close = getattr(parts, "close", None)  # ends the HTTP stream if we stop early
                if close is not None:
                    close()
        if final is None:
            raise ModelServerError(f"Ollama at {self.host} ended the answer without finishing it.")
        result = self._result(request, final, "".join(text), "".join(thinking))
        self._finish(request, result)
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
        """A schema-constrained answer (Ollama's `format`), validated. Ollama turns the
        format into a llama.cpp grammar too, so it gets the grammar schema (structured.py)
        and the full schema validates the reply. Thinking stays off: it would spend the
        output budget of a short structured call on hidden text."""
        request = self._prepare(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            think=False,
            seed=None,
            schema=grammar_schema(schema),
        )
        return parse_structured(self._complete(request).text, schema)
