"""Counting the tokens of a 400-page book, and llama.cpp's KV-cache reuse.

    .venv/bin/python -m bench.tokens [--repeats 5] [--pages 400] [--skip-model]

The book is the 117-page GeoTopo thesis (text extracted with pypdf), repeated to --pages
pages. The baseline is the plain way: llama-cpp-python's Llama.tokenize on the whole book
in one call; its length is the true count every other row is checked against. The issue's
target: a 400-page book counted in well under a second.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench import median_time, setup_django

THESIS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "papers" / "GeoTopo-komprimiert.pdf"
)
SEPARATOR = "\n\n"


def extract_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def bench_counting(pages: list[str], *, repeats: int) -> None:
    import llama_cpp
    from llama_cpp import Llama

    from workspace.runtime.tokenizer import _segments, default_gguf_path, get_tokenizer

    tokenizer = get_tokenizer()
    plain = Llama(model_path=str(default_gguf_path()), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(plain.model)
    book = SEPARATOR.join(pages)
    data = book.encode("utf-8")

    ids, baseline = median_time(lambda: plain.tokenize(data, add_bos=False), repeats=repeats)
    real = len(ids)
    separators = (len(pages) - 1) * tokenizer.count(SEPARATOR)

    rows: list[tuple[str, float, int]] = [
        ("Llama.tokenize, whole book in one call (baseline)", baseline, real),
    ]
    count, seconds = median_time(
        lambda: -llama_cpp.llama_tokenize(vocab, data, len(data), None, 0, False, False),
        repeats=repeats,
    )
    rows.append(("llama_tokenize C call, whole book, count only", seconds, count))
    count, seconds = median_time(lambda: tokenizer.count(book), repeats=repeats)
    rows.append(("Carrel count(), whole book (segments)", seconds, count))
    count, seconds = median_time(
        lambda: sum(tokenizer.count(page) for page in pages) + separators, repeats=repeats
    )
    rows.append(("Carrel count() per page, summed (+ separators)", seconds, count))
    count, seconds = median_time(
        lambda: sum(len(tokenizer.encode(s)) for s in _segments(book)), repeats=repeats
    )
    rows.append(("segments through encode() (token id lists)", seconds, count))
    count, seconds = median_time(lambda: len(book) // 4, repeats=repeats)
    rows.append(("chars / 4 estimate", seconds, count))
    plain.close()

    print(
        f"\nBook: {len(pages)} pages, {len(book):,} characters, {real:,} tokens "
        f"(median of {repeats} runs)\n"
    )
    print(
        f"{'method':<50} {'seconds':>9} {'pages/s':>10} {'tokens/s':>12} "
        f"{'vs baseline':>11} {'count':>9} {'error':>8}"
    )
    for label, secs, counted in rows:
        error = f"{(counted - real) / real:>+8.2%}"
        if secs < 1e-4:  # an arithmetic estimate: no meaningful speed to show
            print(f"{label:<50} {'~0':>9} {'-':>10} {'-':>12} {'-':>11} {counted:>9,} {error}")
            continue
        print(
            f"{label:<50} {secs:>9.4f} {len(pages) / secs:>10,.0f} {real / secs:>12,.0f} "
            f"{baseline / secs:>10.1f}x {counted:>9,} {error}"
        )

    per_page = [(len(page) // 4 - n) / n for page in pages if (n := tokenizer.count(page))]
    print(
        f"\nchars/4 per page: mean |error| {statistics.mean(abs(e) for e in per_page):.1%}, "
        f"worst {max(per_page, key=abs):+.1%} (this German thesis has "
        f"{len(book) / real:.2f} characters per token)"
    )
    carrel = next(secs for label, secs, _ in rows if label.startswith("Carrel count(), whole"))
    print(f"Target, a 400-page book in well under a second: {carrel:.3f} s for {len(pages)} pages")


def bench_kv_cache(pages: list[str], *, repeats: int) -> None:
    """Prompt processing of a shared prefix: a first question vs a follow-up on the same text."""
    from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
    from workspace.runtime.types import Message

    runtime = EmbeddedRuntime(packaged_gguf_path(), n_ctx=4096)
    _, load = median_time(lambda: runtime.chat([Message("user", "Hi")], max_tokens=1), repeats=1)
    system = Message("system", "Answer from the source only.")
    first: list[float] = []
    follow_up: list[float] = []
    prompt_tokens = 0
    for repeat in range(repeats):
        source = SEPARATOR.join(pages[10 + 3 * repeat : 12 + 3 * repeat])  # new text each run

        def ask(question: str, source: str = source) -> int:
            messages = [system, Message("user", f"{source}\n\nQuestion: {question}")]
            return runtime.chat(messages, max_tokens=1, temperature=0).prompt_tokens

        prompt_tokens, seconds = median_time(lambda: ask("What is the topic?"), repeats=1)
        first.append(seconds)
        _, seconds = median_time(lambda: ask("Who is the author?"), repeats=1)
        follow_up.append(seconds)
    runtime.close()
    cold, warm = statistics.median(first), statistics.median(follow_up)
    print(
        f"\nEmbedded Gemma 3 270M, {runtime.n_threads} threads (load + first token {load:.2f} s), "
        f"prompts of ~{prompt_tokens:,} tokens, median of {repeats}:"
    )
    print(
        f"  first question on a text          {cold:7.3f} s  ({prompt_tokens / cold:,.0f} tokens/s)"
    )
    print(
        f"  follow-up sharing that prefix     {warm:7.3f} s  ({cold / warm:.0f}x faster: KV cache)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--skip-model", action="store_true", help="skip the KV-cache timing")
    args = parser.parse_args()
    setup_django()

    pages, extraction = median_time(lambda: extract_pages(THESIS), repeats=1)
    print(f"pypdf extracted {len(pages)} pages of {THESIS.name} in {extraction:.2f} s")
    book = (pages * (args.pages // len(pages) + 1))[: args.pages]
    bench_counting(book, repeats=args.repeats)
    if not args.skip_model:
        bench_kv_cache(pages, repeats=args.repeats)


if __name__ == "__main__":
    main()
