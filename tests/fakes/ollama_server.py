"""A local HTTP server that speaks Ollama's wire protocol, for tests (fixture: fake_ollama).

Shapes follow Ollama's API reference (docs/api.md in ollama/ollama, docs.ollama.com/api):
POST /api/chat as an NDJSON stream or one object, POST /api/embed, GET /api/tags, POST
/api/show, GET /api/version, and errors as {"error": "..."} with 400/404/500 statuses (an error that
happens mid-stream is an {"error": ...} line, the status already sent).

It behaves like Ollama where Carrel depends on it:
- the prompt is tokenized with Gemma's tokenizer over the Gemma chat template, with
  `template_extra_tokens` per turn (a template that renders differently) and
  `image_tokens` per image;
- options.num_ctx (default 4096) is clamped to the model's context_length, and a prompt
  longer than that is truncated silently: oldest non-system messages dropped, then tokens
  cut; prompt_eval_count reports what was evaluated;
- one KV-cache slot per model: a prompt sharing a token prefix with the previous prompt and
  answer evaluates only the rest, so prompt_eval_count excludes the reused tokens; a
  request with another num_ctx reloads the model (`loads`) and empties the cache;
- options.num_predict caps thinking + answer tokens; done_reason is "length" when hit.

/api/embed takes {"model", "input": str | [str]} and answers {"model", "embeddings": [[...]],
"total_duration", "load_duration", "prompt_eval_count"}, one L2-normalised vector per input
(Ollama normalises them): `embed_dims` buckets of the input's words, a word counting in
the bucket `embed_concepts` gives it (so "car" and "automobile" can embed alike), else in
one picked by its hash. `embed_error` makes it answer that (status, error) instead;
`embed_delay` is spent per input text.

Script it per test through its attributes (reply, thinking, delay, chunk_delay, error,
stream_error, garbage, garbage_replies, gate, prompt_eval_count, ...); every request is
kept in `requests`. `hold()` makes /api/chat hang until `release()`: a model server that is
stuck, for as long as a test needs, with no clock involved.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from workspace.runtime.tokenizer import get_tokenizer, render_gemma_prompt
from workspace.runtime.types import Message, Role

BOS = 2
PAD = 0
NUM_KEEP = 4  # tokens Ollama keeps at the start when it has to cut a prompt
DEFAULT_NUM_CTX = 4096

Script = str | Callable[[dict[str, Any]], str]


@dataclass
class FakeModel:
    name: str
    context_length: int = 131072
    architecture: str = "gemma4"
    capabilities: tuple[str, ...] = ("completion", "vision", "thinking")
    parameter_size: str = "8.0B"
    quantization_level: str = "Q4_K_M"


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any  # the parsed JSON body, or None


@dataclass
class _Generation:
    model: str
    content: str
    thinking: str
    done_reason: str
    prompt_eval_count: int
    eval_count: int
    load_ns: int
    started: float = field(default_factory=time.monotonic)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*|\s+", text)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class FakeOllama:
    def __init__(self) -> None:
        self.models: dict[str, FakeModel] = {}
        self.requests: list[RecordedRequest] = []
        self.version = "0.12.6"
        # the script
        self.reply: Script = "The answer, as scripted."
        self.thinking: Script = ""  # sent only when the request has think=true
        self.delay = 0.0  # seconds before /api/chat (and /api/tags) answer
        self.chunk_delay = 0.0  # seconds between streamed lines
        self.error: tuple[int, str] | None = None  # /api/chat answers this status + error
        self.stream_error: str | None = None  # an {"error"} line after the first chunk
        self.garbage: Literal["body", "line"] | None = None  # invalid JSON instead of a reply
        self.garbage_replies = 0  # the next N /api/chat answers are invalid JSON, then normal
        self.gate: threading.Event | None = None  # when set up, /api/chat waits for it (hold)
        self.waiting = threading.Semaphore(0)  # released once per /api/chat that starts waiting
        self.prompt_eval_count: int | Callable[[dict[str, Any], int], int] | None = None
        self.template_extra_tokens = 2  # per turn; negative drops tokens
        self.image_tokens = 256
        self.cache_prompts = True
        self.default_num_ctx = DEFAULT_NUM_CTX
        self.embed_dims = 32
        self.embed_concepts: dict[str, int] = {}
        self.embed_error: tuple[int, str] | None = None
        self.embed_delay = 0.0  # seconds per input text (a model's compute), for benchmarks
        # state
        self.loads: dict[str, int] = {}
        self._kv: dict[str, tuple[int, list[int]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # scripting

    def add_model(self, name: str, **details: Any) -> FakeModel:
        model = FakeModel(name=self._canonical(name), **details)
        self.models[model.name] = model
        return model

    def remove_model(self, name: str) -> None:
        self.models.pop(self._canonical(name), None)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/api/chat"]

    def embed_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/api/embed"]

    def embed(self, text: str) -> list[float]:
        vector = [0.0] * self.embed_dims
        for word in re.findall(r"\w+", text.lower()):
            bucket = self.embed_concepts.get(word)
            if bucket is None:
                bucket = int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.embed_dims
            vector[bucket] += 1.0
        norm = sum(x * x for x in vector) ** 0.5 or 1.0
        return [x / norm for x in vector]

    @staticmethod
    def _canonical(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    # lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def hold(self) -> None:
        """From now on, /api/chat hangs (before answering) until release()."""
        self.gate = threading.Event()

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()

    def wait_for_held_chat(self, timeout: float) -> bool:
        """True once a /api/chat request is hanging in hold(); False after `timeout` s."""
        return self.waiting.acquire(timeout=timeout)

    def start(self, port: int = 0) -> FakeOllama:
        """Listen on 127.0.0.1:`port` (0: a free port)."""
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # the model

    def _prompt_tokens(self, messages: list[dict[str, Any]]) -> list[int]:
        tokenizer = get_tokenizer()
        roles: dict[Any, Role] = {"system": "system", "assistant": "assistant"}
        converted = [
            Message(role=roles.get(m.get("role"), "user"), content=m.get("content") or "")
            for m in messages
        ]
        rendered = render_gemma_prompt(converted)
        turns = [t for t in re.split(r"(?=<start_of_turn>)", rendered) if t]
        with_images = [len(m.get("images") or []) for m in messages if m.get("role") != "system"]
        tokens = [BOS]
        for index, turn in enumerate(turns):
            ids = tokenizer.encode(turn, special=True)
            if turn != "<start_of_turn>model\n":  # a message, not the generation prompt
                extra = self.template_extra_tokens
                ids = ids + [PAD] * extra if extra >= 0 else ids[: max(1, len(ids) + extra)]
                if index < len(with_images):
                    ids += [PAD] * (self.image_tokens * with_images[index])
            tokens += ids
        return tokens

    def _fit(self, messages: list[dict[str, Any]], ctx: int) -> list[int]:
        """Like Ollama: drop the oldest non-system messages, then cut tokens, to fit ctx."""
        messages = list(messages)
        tokens = self._prompt_tokens(messages)
        while len(tokens) > ctx:
            droppable = [i for i, m in enumerate(messages[:-1]) if m.get("role") != "system"]
            if not droppable:
                break
            del messages[droppable[0]]
            tokens = self._prompt_tokens(messages)
        if len(tokens) > ctx:
            tokens = tokens[:NUM_KEEP] + tokens[len(tokens) - (ctx - NUM_KEEP) :]
        return tokens

    def generate(self, model: FakeModel, body: dict[str, Any]) -> _Generation:
        tokenizer = get_tokenizer()
        options = body.get("options") or {}
        ctx = min(int(options.get("num_ctx") or self.default_num_ctx), model.context_length)
        budget = int(options.get("num_predict", -1))
        thinking = _resolve(self.thinking, body) if body.get("think") is True else ""
        content = _resolve(self.reply, body)
        thinking_ids, content_ids = tokenizer.encode(thinking), tokenizer.encode(content)
        done_reason = "stop"
        if 0 <= budget < len(thinking_ids) + len(content_ids):
            done_reason = "length"
            thinking_ids = thinking_ids[:budget]
            content_ids = content_ids[: budget - len(thinking_ids)]
            thinking, content = tokenizer.decode(thinking_ids), tokenizer.decode(content_ids)
        with self._lock:
            load_ns = 0
            cached = self._kv.get(model.name)
            if cached is None or cached[0] != ctx:
                self.loads[model.name] = self.loads.get(model.name, 0) + 1
                cached, load_ns = (ctx, []), 1_500_000_000
            tokens = self._fit(body.get("messages") or [], ctx)
            reused = _common_prefix(cached[1], tokens) if self.cache_prompts else 0
            evaluated = len(tokens) - min(reused, len(tokens) - 1)
            self._kv[model.name] = (ctx, tokens + thinking_ids + content_ids)
        if callable(self.prompt_eval_count):
            evaluated = self.prompt_eval_count(body, evaluated)
        elif self.prompt_eval_count is not None:
            evaluated = self.prompt_eval_count
        return _Generation(
            model=model.name,
            content=content,
            thinking=thinking,
            done_reason=done_reason,
            prompt_eval_count=evaluated,
            eval_count=len(thinking_ids) + len(content_ids),
            load_ns=load_ns,
        )

    # the wire

    def tags(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": m.name,
                    "model": m.name,
                    "modified_at": "2025-05-01T10:00:00.000000000Z",
                    "size": 3_338_801_804,
                    "digest": hashlib.sha256(m.name.encode()).hexdigest(),
                    "details": self._details(m),
                }
                for m in self.models.values()
            ]
        }

    @staticmethod
    def _details(model: FakeModel) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": model.architecture,
            "families": [model.architecture],
            "parameter_size": model.parameter_size,
            "quantization_level": model.quantization_level,
        }

    def show(self, model: FakeModel) -> dict[str, Any]:
        arch = model.architecture
        return {
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
            "parameters": 'stop                           "<end_of_turn>"',
            "template": "{{- range .Messages }}<start_of_turn>{{ .Role }}\n{{ .Content }}"
            "<end_of_turn>\n{{ end }}<start_of_turn>model\n",
            "details": self._details(model),
            "model_info": {
                "general.architecture": arch,
                "general.file_type": 15,
                "general.parameter_count": 8_000_000_000,
                "general.quantization_version": 2,
                f"{arch}.attention.head_count": 8,
                f"{arch}.block_count": 34,
                f"{arch}.context_length": model.context_length,
                f"{arch}.embedding_length": 2560,
                "tokenizer.ggml.model": "llama",
            },
            "capabilities": list(model.capabilities),
            "modified_at": "2025-05-01T10:00:00.000000000Z",
        }

    def chat_lines(self, generation: _Generation) -> Iterator[dict[str, Any]]:
        for piece in _pieces(generation.thinking):
            yield self._line(generation, {"role": "assistant", "content": "", "thinking": piece})
        for piece in _pieces(generation.content):
            yield self._line(generation, {"role": "assistant", "content": piece})
        yield self.final(generation, {"role": "assistant", "content": ""})

    @staticmethod
    def _line(generation: _Generation, message: dict[str, Any]) -> dict[str, Any]:
        return {"model": generation.model, "created_at": _now(), "message": message, "done": False}

    @staticmethod
    def final(generation: _Generation, message: dict[str, Any]) -> dict[str, Any]:
        total = int((time.monotonic() - generation.started) * 1e9) + generation.load_ns
        body: dict[str, Any] = {
            "model": generation.model,
            "created_at": _now(),
            "message": message,
            "done": True,
            "done_reason": generation.done_reason,
            "total_duration": total,
            "load_duration": generation.load_ns,
            "prompt_eval_duration": generation.prompt_eval_count * 400_000,
            "eval_count": generation.eval_count,
            "eval_duration": generation.eval_count * 25_000_000,
        }
        if generation.prompt_eval_count:  # Go's omitempty: a zero count is left out
            body["prompt_eval_count"] = generation.prompt_eval_count
        return body

    def whole_reply(self, generation: _Generation) -> dict[str, Any]:
        message = {"role": "assistant", "content": generation.content}
        if generation.thinking:
            message["thinking"] = generation.thinking
        return self.final(generation, message)


def _resolve(script: Script, body: dict[str, Any]) -> str:
    return script(body) if callable(script) else script


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) is expected; stay quiet about it."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add about 40 ms to every reply, which Ollama does not.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake

    def do_HEAD(self) -> None:
        self._send_bytes(200, b"", "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        self.fake.requests.append(RecordedRequest("GET", self.path, None))
        if self.path == "/":
            self._send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif self.path == "/api/version":
            self._send_json(200, {"version": self.fake.version})
        elif self.path == "/api/tags":
            self.fake.wait(self.fake.delay)
            self._send_json(200, self.fake.tags())
        else:
            self._send_bytes(404, b"404 page not found", "text/plain")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            self.fake.requests.append(RecordedRequest("POST", self.path, None))
            self._send_json(400, {"error": f"invalid character in request: {exc.msg}"})
            return
        self.fake.requests.append(RecordedRequest("POST", self.path, body))
        if not isinstance(body, dict):
            self._send_json(400, {"error": "missing request body"})
        elif self.path == "/api/show":
            self._show(body)
        elif self.path == "/api/chat":
            self._chat(body)
        elif self.path == "/api/embed":
            self._embed(body)
        else:
            self._send_bytes(404, b"404 page not found", "text/plain")

    def _model(self, body: dict[str, Any]) -> FakeModel | None:
        name = body.get("model") or ""
        if not name:
            self._send_json(400, {"error": "model is required"})
            return None
        model = self.fake.models.get(self.fake._canonical(name))
        if model is None:
            self._send_json(404, {"error": f"model '{name}' not found"})
        return model

    def _show(self, body: dict[str, Any]) -> None:
        model = self._model(body)
        if model is not None:
            self._send_json(200, self.fake.show(model))

    def _embed(self, body: dict[str, Any]) -> None:
        fake = self.fake
        model = self._model(body)
        if model is None:
            return
        if fake.embed_error is not None:
            self._send_json(fake.embed_error[0], {"error": fake.embed_error[1]})
            return
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self._send_json(400, {"error": "invalid input type"})
            return
        fake.wait(fake.embed_delay * len(texts))
        self._send_json(
            200,
            {
                "model": model.name,
                "embeddings": [fake.embed(text) for text in texts],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(len(text.split()) for text in texts),
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        model = self._model(body)
        if model is None:
            return
        fake.wait(fake.delay)
        gate = fake.gate
        if gate is not None:
            fake.waiting.release()
            gate.wait()
        if fake.error is not None:
            self._send_json(fake.error[0], {"error": fake.error[1]})
            return
        with fake._lock:
            garbled = fake.garbage_replies > 0
            fake.garbage_replies -= int(garbled)
        if garbled:
            self._send_bytes(200, b'{"model": "gemma4", "message": {"content": ', "text/plain")
            return
        if body.get("think") is True and "thinking" not in model.capabilities:
            self._send_json(400, {"error": f'"{model.name}" does not support thinking'})
            return
        generation = fake.generate(model, body)
        if body.get("stream", True) is False:
            if fake.garbage:
                self._send_bytes(
                    200, b'{"model": "gemma4", "message": {"content": ', "application/json"
                )
            else:
                self._send_json(200, fake.whole_reply(generation))
            return
        self._stream(generation)

    def _stream(self, generation: _Generation) -> None:
        fake = self.fake
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for index, line in enumerate(fake.chat_lines(generation)):
                if index and fake.chunk_delay:
                    fake.wait(fake.chunk_delay)
                if fake.garbage == "body" or (fake.garbage == "line" and index == 1):
                    self._chunk(b"{'model': 'gemma4', done: fals\n")
                    break
                if fake.stream_error is not None and index == 1:
                    self._chunk(json.dumps({"error": fake.stream_error}).encode() + b"\n")
                    break
                self._chunk(json.dumps(line).encode() + b"\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_json(self, status: int, body: Any) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
