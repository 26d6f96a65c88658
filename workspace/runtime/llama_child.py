"""The model process: llama.cpp answering requests that arrive over a socket.

`workspace.runtime.llama_process` starts this file as a script (`python -P llama_child.py
FD CONFIG`), one per process that asks the embedded model anything. A crash in llama.cpp
(a segfault in a grammar, the OOM killer) then ends this process only; the caller gets a
ModelCrashed for that one call and the next call starts a new model process.

It imports nothing from Carrel and nothing but the standard library and llama_cpp, so it
starts quickly and without Django. Protocol (pickled dicts over a multiprocessing
Connection): the child sends {"kind": "ready"} once the model is loaded, then answers each
{"op": "complete", ...} with {"kind": "chunk"} messages (when streaming; otherwise an
{"kind": "alive"} every few seconds) and one final {"kind": "done" | "cancelled" | "error"}.
{"op": "cancel"} stops a stream early; {"op": "close"} or the end of the connection stops
the process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

PARENT_CHECK_SECONDS = 1.0
ALIVE_SECONDS = 5.0


def _watch_parent(parent: int) -> None:
    """Exit when the process that started us is gone (killed without closing the socket
    while we generate, its end would only be noticed at the next message)."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _load(config: dict[str, Any]) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=config["path"],
        n_ctx=config["n_ctx"],
        n_threads=config["n_threads"],
        n_threads_batch=config["n_threads"],
        # Gemma 3's sliding-window layers: with a window-sized cache, llama-cpp-python
        # (unlike llama-server) still reuses a shared prefix whose window cells were
        # already evicted, and answers degrade. A full-size cache keeps prefix reuse correct.
        swa_full=True,
        verbose=False,
    )


def _grammar(llama: Any, candidates: list[str]) -> Any:
    """The first candidate grammar llama.cpp compiles, or None when none does.

    llama-cpp-python adds whatever llama_sampler_init_grammar returns to its sampler
    chain, and a grammar llama.cpp failed to parse is a null pointer there: a segfault at
    the first token. So each grammar is compiled here first, and only a good one is used.
    """
    import llama_cpp
    from llama_cpp import LlamaGrammar

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    for text in candidates:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
        if sampler:
            llama_cpp.llama_sampler_free(sampler)
            return LlamaGrammar.from_string(text, verbose=False)
    return None


def _reused_prefix(llama: Any, tokens: list[int]) -> int:
    """How many of the prompt's first tokens llama.cpp keeps from the last call instead of
    evaluating them again (as Llama.generate decides: at least the last one is evaluated)."""
    try:
        previous = llama.input_ids[: llama.n_tokens].tolist()
    except AttributeError:  # another llama-cpp-python: count every token as evaluated
        return 0
    shared = 0
    for old, new in zip(previous, tokens[:-1], strict=False):
        if old != new:
            break
        shared += 1
    return shared


def _complete(conn: Connection, llama: Any, request: dict[str, Any]) -> dict[str, Any]:
    prompt: str = request["prompt"]
    max_tokens: int = request["max_tokens"]
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    prompt_tokens = len(tokens)
    if prompt_tokens + max_tokens > llama.n_ctx():
        return {
            "kind": "error",
            "error": "prompt_too_long",
            "prompt_tokens": prompt_tokens,
            "max_tokens": max_tokens,
            "n_ctx": llama.n_ctx(),
        }
    grammar = None
    if request.get("grammars"):
        grammar = _grammar(llama, request["grammars"])
        if grammar is None:
            return {"kind": "error", "error": "grammar"}
    args = {
        "max_tokens": max_tokens,
        "temperature": request["temperature"],
        "top_k": request["top_k"],
        "top_p": request["top_p"],
        "seed": request["seed"],
        "stop": request["stop"],
        "grammar": grammar,
    }
    # Always generated as a stream, so that a caller waiting for a whole answer still hears
    # that the model is alive (its timeout is for silence, not for a long answer).
    streaming = bool(request.get("stream"))
    pieces: list[str] = []
    finish_reason = None
    evaluated = prompt_tokens - _reused_prefix(llama, tokens)
    started = last_sign = time.monotonic()
    first = None  # when the first token came: the prompt has been evaluated
    stream: Any = llama.create_completion(prompt, stream=True, **args)
    try:
        for part in stream:
            first = first or time.monotonic()
            choice = part["choices"][0]
            finish_reason = choice["finish_reason"] or finish_reason
            if choice["text"]:
                pieces.append(choice["text"])
                if streaming:
                    conn.send({"kind": "chunk", "text": choice["text"]})
            if not streaming and time.monotonic() - last_sign > ALIVE_SECONDS:
                conn.send({"kind": "alive"})
                last_sign = time.monotonic()
            if conn.poll() and conn.recv().get("op") == "cancel":
                return {"kind": "cancelled"}
    finally:
        stream.close()  # leave llama.cpp between calls, not mid-call
    ended = time.monotonic()
    text = "".join(pieces)
    # A stream carries no usage: at the cap the count is max_tokens exactly, otherwise
    # the model's own tokenization of what it wrote.
    output_tokens = (
        max_tokens
        if finish_reason == "length"
        else len(llama.tokenize(text.encode("utf-8"), add_bos=False))
    )
    timing = {}
    if first is not None:
        timing = {
            "prompt_evaluated": evaluated,
            "prompt_seconds": first - started,
            "output_seconds": ended - first,
        }
    return {
        "kind": "done",
        "text": text,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "finish_reason": finish_reason,
        **timing,
    }


def serve(conn: Connection, config: dict[str, Any]) -> int:
    try:
        llama = _load(config)
    except (ValueError, RuntimeError) as exc:
        conn.send({"kind": "error", "error": "load", "message": str(exc)})
        return 1
    conn.send({"kind": "ready", "pid": os.getpid()})
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return 0
        op = request.get("op")
        if op == "close":
            return 0
        if op != "complete":
            continue  # a late "cancel" for a stream that had already finished
        try:
            reply = _complete(conn, llama, request)
        except Exception as exc:  # a Python-level error in llama-cpp-python: report it
            reply = {"kind": "error", "error": "runtime", "message": f"{type(exc).__name__}: {exc}"}
        try:
            conn.send(reply)
        except OSError:
            return 0


def main(argv: list[str]) -> int:
    fd, config = int(argv[1]), json.loads(argv[2])
    # Ctrl+C reaches the whole process group; the process that started us decides when we
    # stop (it closes the socket), so a stopping web server or worker is not left with a
    # model process that died under a half-written answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(config["parent"])
    with Connection(fd) as conn:
        return serve(conn, config)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
