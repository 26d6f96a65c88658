"""Model-free yardstick for packing at library scale: is the gold evidence inside what the
model reads, and what does one question cost?

    .venv/bin/python -m bench.packing                       # BAMBOO (below)
    .venv/bin/python -m bench.packing --library L.jsonl --questions Q.jsonl [--json]

Formats (bench/packing_library.py): library JSONL `{"id", "title", "text"}`, questions JSONL
`{"question", "evidence": [...], "documents": [ids], "kind"?: "lookup" | "global"}`.
Every document becomes pages, 400-token chunks and an extractive summary, in memory (the
same algorithm the database runs: BM25 here, FTS5 / tsvector there). Nothing calls a model.

Per budget (8K, 32K, 128K: the whole prompt, question and chat template included) and
method, over the questions whose evidence is found verbatim in their documents:
- recall_all / recall_any: the share of questions with all (at least one) of their gold
  sentences inside what the model reads (page markers removed, whitespace normalised; for
  map-reduce, everything its map steps read);
- routes: how many questions took each route;
- model_tokens_median / _max: prompt and output tokens of every model call one question
  costs under its plan (map steps and reduce rounds included: workspace.packing.cost).
Methods: `carrel` (the automatic plan: route by question, documents first, passages with
their neighbours, query expansion), `truncation` (documents in order until the budget is
full) and `bm25` (plain BM25 top-k over 1,000-token chunks). `--ablation` adds Carrel with
one idea at a time switched off or changed. `pack_ms_median` is Carrel's packing time per
question at the largest budget, on one core.

Without --library: BAMBOO paperqa (../shared/data/qa, 100 multiple-choice questions over 25
papers) against the 195-paper library made with ../shared/data/library's 170 distractor
papers, then against the 25 papers alone; each question is its stem (`--bamboo-options`
adds the four answer options, as BAMBOO asks it: they name the paper, and every method then
finds it). Then packing time at 128K for a library of 1,000 documents (the 195 repeated),
and the in-memory ingest time to askable. The JSON (with --json) is the 195-paper run's.
Recall is also reported for two halves of the questions (by paper): constants were tuned
on the first half only; and for the questions that name something specific (a word in
under 5% of the documents, or two words only one of them holds together:
workspace/retrieval/specific.py) against those that name nothing specific ("What is our
experiment result?"), whose evidence no ranking of their words can find in a large library.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bench import setup_django

T = TypeVar("T")
BUDGETS = (8 * 1024, 32 * 1024, 128 * 1024)
TIMING_DOCUMENTS = 1000


def norm(text: str) -> str:
    return " ".join(text.split())


def without_markers(text: str) -> str:
    """Page markers are annotations between paragraphs, not text: drop the lines that are
    exactly a citation marker ("[Title, p. 3]", "[Title, pp. 3-4]")."""
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        marker = (
            stripped.startswith("[")
            and stripped.endswith("]")
            and (", p. " in stripped or ", pp. " in stripped)
        )
        if not marker:
            kept.append(line)
    return "\n".join(kept)


def recalled(gold: Sequence[str], text: str) -> tuple[bool, bool]:
    packed = norm(without_markers(text))
    inside = [sentence in packed for sentence in gold]
    return all(inside), any(inside)


class Say:
    """Human-readable output: stdout normally, stderr under --json."""

    def __init__(self, quiet: bool) -> None:
        self.stream = sys.stderr if quiet else sys.stdout

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)


@contextmanager
def stdout_to_stderr(active: bool):
    """Under --json, anything written to file descriptor 1 (llama.cpp's C code included)
    goes to stderr, so the JSON is the only thing on stdout."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@dataclass
class Evaluation:
    results: list[dict[str, Any]]
    pack_ms_median: float


def method_table(
    methods: dict[str, Callable[[str, int], Any]],
    questions: Sequence[Any],
    budgets: Sequence[int],
    *,
    say: Say,
    splits: Sequence[Split] = (),
) -> list[dict[str, Any]]:
    """Every method at every budget over the questions with gold evidence; then each
    split's recall (all), its first group against the rest."""
    results = []
    hits: dict[tuple[str, int], list[bool]] = {}  # per method and budget, per question
    for budget in budgets:
        for name, method in methods.items():
            lenient = 0
            tokens: list[int] = []
            routes: Counter[str] = Counter()
            found: list[bool] = []
            for question in questions:
                outcome = method(question.question, budget)
                all_in, any_in = recalled(question.gold, outcome.text)
                found.append(all_in)
                lenient += any_in
                tokens.append(outcome.model_tokens)
                routes[outcome.route] += 1
            results.append(
                {
                    "budget": budget,
                    "method": name,
                    "recall_all": round(sum(found) / len(questions), 4),
                    "recall_any": round(lenient / len(questions), 4),
                    "model_tokens_median": int(statistics.median(tokens)),
                    "model_tokens_max": max(tokens),
                    "routes": dict(sorted(routes.items())),
                }
            )
            hits[(name, budget)] = found
    print_table(results, say=say)
    for split in splits:
        size = len(split.first)
        say(f"Recall (all) {split.title} ({size} / {len(questions) - size} questions)")
        for (name, budget), found in hits.items():
            first = [hit for index, hit in enumerate(found) if index in split.first]
            rest = [hit for index, hit in enumerate(found) if index not in split.first]
            say(f"  {budget // 1024:>4}K {name:<28} {share(first):.2f} / {share(rest):.2f}")
    return results


def share(hits: Sequence[bool]) -> float:
    return sum(hits) / len(hits) if hits else 0.0


@dataclass(frozen=True)
class Split:
    """Questions in two groups, whose recall is reported side by side."""

    title: str  # "by …: first group / the rest"
    first: set[int]  # positions of the first group's questions


def print_table(results: Sequence[dict[str, Any]], *, say: Say) -> None:
    say(
        f"{'budget':>7} {'method':<28} {'recall all':>10} {'(any)':>6} "
        f"{'tokens med':>11} {'max':>10}  routes"
    )
    for row in results:
        routes = ", ".join(f"{k} {v}" for k, v in row["routes"].items())
        say(
            f"{row['budget'] // 1024:>6}K {row['method']:<28} {row['recall_all']:>10.2f} "
            f"{row['recall_any']:>6.2f} {row['model_tokens_median']:>11,} "
            f"{row['model_tokens_max']:>10,}  {routes}"
        )


def evaluate(
    label: str,
    documents: list[Any],
    questions: list[Any],
    *,
    budgets: Sequence[int],
    say: Say,
    repeats: int,
    verify: str,
    ablation: bool,
) -> Evaluation:
    from bench.packing_library import build_library, locate_evidence, specific_questions
    from bench.packing_methods import Carrel, Truncation, carrel_retriever
    from research.qa.services import QA_RULES
    from workspace.packing.routing import classify_question
    from workspace.packing.tokens import GemmaCounter
    from workspace.retrieval.specific import SPECIFIC_SHARE
    from workspace.runtime.tokenizer import get_tokenizer

    counter = GemmaCounter()
    library, build_seconds = timed(lambda: build_library(documents))
    locate_evidence(questions, documents)
    located = [question for question in questions if question.gold]
    say(
        f"\n== {label}: {len(library.sources)} documents, {library.tokens:,} tokens in "
        f"{sum(len(s.pieces) for s in library.sources):,} chunks; {len(questions)} questions, "
        f"{len(located)} with gold evidence found verbatim "
        f"({sum(len(q.gold) for q in located)} sentences; the rest are left out) =="
    )
    if not located:
        raise SystemExit("No question has evidence found verbatim in its documents.")
    say(
        f"Ingest to askable, in memory (pages, 400-token chunks counted with Gemma's "
        f"tokenizer, extractive summary): {build_seconds:.1f} s, "
        f"{build_seconds / len(documents) * 1000:.0f} ms per document"
    )
    kinds = [(q.kind, classify_question(q.question).kind) for q in questions if q.kind]
    if kinds:
        agree = sum(given == rule for given, rule in kinds)
        say(f"Question kind: the rule agrees with the given kind for {agree} of {len(kinds)}")

    retriever = carrel_retriever()
    carrel = Carrel(library.sources, QA_RULES, retriever, counter=counter)
    methods: dict[str, Callable[[str, int], Any]] = {
        "carrel": carrel,
        "truncation": Truncation(library.sources, QA_RULES, counter),
        "bm25": top_k_method(documents, QA_RULES, counter),
    }
    if ablation:
        methods.update(ablations(library.sources, QA_RULES, counter))
    splits = [
        Split(
            "by half of the questions: tuning half / held-out half",
            question_halves(located)[0],
        ),
        Split(
            f"by question: naming something specific (a word in under "
            f"{SPECIFIC_SHARE:.0%} of the documents, or two that one holds together) / "
            "naming nothing specific",
            specific_questions(located, documents),
        ),
    ]
    results = method_table(methods, located, budgets, say=say, splits=splits)

    if verify != "none":
        checked = over = 0
        worst = 0.0
        tokenizer = get_tokenizer()
        for budget in budgets:
            for position, question in enumerate(located):
                if verify == "sample" and position % 10:
                    continue
                result = carrel.pack(question.question, budget)
                if result.messages:
                    real = tokenizer.count_messages(result.messages)
                    worst = max(worst, real / budget)
                    over += real > budget
                    checked += 1
        say(
            f"Real Gemma token count of {checked} one-prompt Carrel plans: {over} over budget; "
            f"the fullest used {worst:.3%} of its budget."
        )
    timing, cpu = pack_timing(carrel, located, max(budgets), repeats)
    say(
        f"Packing time at {max(budgets) // 1024}K, median per question: {timing:.1f} ms "
        f"({cpu:.1f} ms of CPU)"
    )
    return Evaluation(results, round(timing, 2))


def question_halves(questions: Sequence[Any]) -> tuple[set[int], set[int]]:
    """Two halves by document (a question's first document), alternating in order of first
    appearance: questions about one paper never fall in both halves."""
    order: dict[str, int] = {}
    first: set[int] = set()
    second: set[int] = set()
    for index, question in enumerate(questions):
        key = question.documents[0] if question.documents else str(index)
        order.setdefault(key, len(order))
        (first if order[key] % 2 == 0 else second).add(index)
    return first, second


def top_k_method(documents: list[Any], system: str, counter: Any) -> Callable[[str, int], Any]:
    from bench.packing_library import baseline_chunks
    from bench.packing_methods import BASELINE_CHUNK_TOKENS, TopK

    texts, tokens = baseline_chunks(documents, BASELINE_CHUNK_TOKENS)
    return TopK(texts, tokens, system, counter)


def ablations(sources: Sequence[Any], system: str, counter: Any) -> dict[str, Any]:
    """Carrel with one idea switched off or changed at a time."""
    from bench.packing_methods import Carrel, carrel_retriever
    from workspace.packing.excerpts import LookupOptions

    base = LookupOptions()
    variants: dict[str, tuple[LookupOptions, dict[str, Any]]] = {
        "carrel -documents first": (replace(base, document_share=0.0), {}),
        "carrel -passage context": (base, {"context_weight": 0.0}),
        "carrel +neighbours runs on": (replace(base, neighbours="runs_on"), {}),
        "carrel +both neighbours": (replace(base, neighbours="both"), {}),
        "carrel +top doc passages": (replace(base, top_passages=True), {}),
        "carrel +query expansion": (base, {"expand": True}),
        "carrel +title/summary rank": (replace(base, title_summary_weight=0.5), {}),
        "carrel summaries 25%": (replace(base, summary_share=0.25), {}),
        "previous packer": (
            replace(base, document_share=0.0, summary_share=0.25),
            {"context_weight": 0.0},
        ),
    }
    methods: dict[str, Any] = {}
    for name, (options, retrieval) in variants.items():
        retriever = carrel_retriever(**retrieval)
        methods[name] = Carrel(sources, system, retriever, options, counter)
    dense = dense_retriever(sources)
    if dense is not None:
        methods["carrel +dense (wordllama)"] = Carrel(sources, system, dense, None, counter)
    return methods


def dense_retriever(sources: Sequence[Any]) -> Any:
    """Carrel's retriever fused with WordLlama static embeddings, when the package is
    installed (it is not a dependency: it did not pay)."""
    try:
        from bench.packing_dense import WordLlamaEmbedder
    except ImportError:
        return None
    from bench.packing_methods import carrel_retriever
    from workspace.retrieval import MemoryVectors

    embedder = WordLlamaEmbedder()
    vectors = MemoryVectors(embedder)
    vectors.add([piece for source in sources for piece in source.pieces])
    return carrel_retriever(vectors=vectors, embedder=embedder)


def pack_timing(
    carrel: Any, questions: Sequence[Any], budget: int, repeats: int
) -> tuple[float, float]:
    """Median milliseconds per question: wall clock, and the process's CPU time (on a
    machine shared with others, the CPU time is what one idle core would take)."""
    wall = []
    cpu = []
    for question in questions:
        carrel.pack(question.question, budget)  # warm: token counts of markers cached
        for _ in range(repeats):
            start = time.process_time()
            wall.append(timed(lambda: carrel.pack(question.question, budget))[1])  # noqa: B023
            cpu.append(time.process_time() - start)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def large_library_timing(documents: list[Any], questions: Sequence[Any], *, say: Say) -> None:
    from bench.packing_library import build_library, repeated
    from bench.packing_methods import Carrel, carrel_retriever
    from research.qa.services import QA_RULES

    library = build_library(documents)
    sources = repeated(library, TIMING_DOCUMENTS)
    carrel = Carrel(sources, QA_RULES, carrel_retriever())
    sample = [question for question in questions if question.gold][:20]
    _, first = timed(lambda: carrel.pack(sample[0].question, BUDGETS[-1]))
    median, cpu = pack_timing(carrel, sample, BUDGETS[-1], repeats=3)
    tokens = sum(source.tokens for source in sources)
    chunks = sum(len(source.pieces) for source in sources)
    say(
        f"\nPacking time at 128K, {TIMING_DOCUMENTS:,} documents ({tokens:,} tokens, {chunks:,} "
        f"chunks: the 195 papers repeated), one core: median {median:.0f} ms per question "
        f"({cpu:.0f} ms of CPU) over "
        f"{len(sample)} questions x 3; the first question (building the in-memory index) "
        f"{first * 1000:.0f} ms"
    )


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def parse_budgets(text: str) -> list[int]:
    try:
        budgets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("budgets are comma-separated token counts") from exc
    if not budgets or min(budgets) <= 0:
        raise argparse.ArgumentTypeError("budgets must be positive")
    return budgets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--library", type=Path, help="library JSONL: id, title, text")
    parser.add_argument("--questions", type=Path, help="questions JSONL: question, evidence, …")
    parser.add_argument("--json", action="store_true", help="print only the JSON results")
    parser.add_argument("--budgets", type=parse_budgets, default=list(BUDGETS))
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per question")
    parser.add_argument("--verify", choices=["all", "sample", "none"], default="sample")
    parser.add_argument("--ablation", action="store_true", help="Carrel with each idea off")
    parser.add_argument("--bamboo-options", action="store_true", help="stems with options")
    parser.add_argument("--export", type=Path, help="write BAMBOO in the generic formats here")
    args = parser.parse_args(argv)
    if (args.library is None) != (args.questions is None):
        parser.error("--library and --questions go together")
    say = Say(quiet=args.json)
    with stdout_to_stderr(args.json):
        data = run(args, say)
    if args.json:
        print(json.dumps(data))
    return 0


def run(args: argparse.Namespace, say: Say) -> dict[str, Any]:
    from bench.packing_library import FormatError, bamboo, read_library, read_questions

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    os.environ.setdefault("CARREL_VAR_DIR", tempfile.mkdtemp(prefix="carrel-bench-packing-"))
    os.environ["CARREL_BACKEND"] = "scripted"
    setup_django()
    options = {
        "budgets": args.budgets,
        "say": say,
        "repeats": args.repeats,
        "verify": args.verify,
        "ablation": args.ablation,
    }
    if args.library is not None:
        try:
            documents = read_library(args.library)
            questions = read_questions(args.questions)
        except (FormatError, OSError) as exc:
            raise SystemExit(str(exc)) from exc
        evaluation = evaluate(str(args.library), documents, questions, **options)
        return {"results": evaluation.results, "pack_ms_median": evaluation.pack_ms_median}

    papers, distractors, questions = bamboo(with_options=args.bamboo_options)
    if args.export is not None:
        export(args.export, papers + distractors, questions)
    say(
        "BAMBOO paperqa: 100 questions "
        + ("(stem and options)" if args.bamboo_options else "(the stem only)")
        + f" over {len(papers)} papers, with {len(distractors)} distractor papers"
    )
    library = papers + distractors
    random.Random(len(library)).shuffle(library)  # the question's papers are not first
    main_run = evaluate("the 195-paper library", library, questions, **options)
    evaluate("the 25 papers alone", papers, questions, **options)
    large_library_timing(library, questions, say=say)
    return {"results": main_run.results, "pack_ms_median": main_run.pack_ms_median}


def export(folder: Path, documents: Sequence[Any], questions: Sequence[Any]) -> None:
    from bench.packing_library import write_jsonl

    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(
        folder / "library.jsonl",
        [{"id": d.id, "title": d.title, "text": d.text} for d in documents],
    )
    write_jsonl(
        folder / "questions.jsonl",
        [
            {"question": q.question, "evidence": q.evidence, "documents": q.documents}
            for q in questions
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
