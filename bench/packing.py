"""Model-free yardstick for context packing: is the gold evidence inside the packed prompt?

    .venv/bin/python -m bench.packing [--repeats 3] [--verify all|sample|none]

Data: ../shared/data/qa/bamboo_paperqa_4k.jsonl (100 questions with gold evidence). Each
row's paper becomes a Document with Page and Chunk rows (workspace.chunking.chunk_pages,
400-token chunks) in a throwaway SQLite database, indexed with research.search (FTS5), and
loaded back with research.qa_selectors — the same path the Q&A page uses. The papers have
no page breaks, so each is cut into pages of about 3,000 characters at line breaks (each
line of the file is a paragraph). BAMBOO papers have no abstract and no title: a document's
"summary" is extractive — its opening sentences, up to 200 tokens — and its title is
"Paper NN". The bench is model-free: nothing here calls a model.

Two projects: as specified (one document per row: 100 documents, but the file holds only
25 distinct papers, each repeated for about four questions), and the 25 distinct papers.

Evidence: each row's evidence is split into sentences; sentences of at least 20 characters
found verbatim (whitespace normalised) in the row's paper are its gold sentences. Rows with
none are left out of the recall (counted and reported). A question is recalled when all its
gold sentences are inside the packed text ("all"), or at least one ("any"), once page
markers (Carrel's "[Paper 07, p. 3]" lines) are removed and whitespace is normalised.

Per budget (the whole prompt, question and chat template included), each method packs:
- carrel: the ladder's single-prompt rung (full text when it fits under 85% of the budget,
  else summaries and the most relevant page-anchored excerpts; map-reduce is reported, not
  measured: its groups cover everything by construction), retrieval by the FTS5 index;
- carrel with in-memory BM25 instead of FTS5 (to separate the retriever from the packer);
- naive truncation: documents in order, full text, until the budget is full (the last
  document cut at a chunk boundary);
- BM25 top-k: plain BM25 over 1,000-token chunks, best first, until the next does not fit.
Every method gets the same room: the budget minus the prompt around the sources.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench import setup_django

if TYPE_CHECKING:
    from workspace.packing import Strategy

T = TypeVar("T")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa" / "bamboo_paperqa_4k.jsonl"
BUDGETS = (8 * 1024, 32 * 1024, 128 * 1024)
PAGE_CHARS = 3000
SUMMARY_TOKENS = 200
BASELINE_CHUNK_TOKENS = 1000
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")


def norm(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Row:
    index: int
    question: str
    paper: str
    gold: list[str]  # evidence sentences found verbatim in the paper (normalised)


@dataclass
class Variant:
    name: str
    rows: list[Row]
    document_ids: list[int]
    paper_index: list[int]  # row index whose paper each document holds
    baseline_chunks: list[str] = field(default_factory=list)


def load_rows() -> list[Row]:
    rows = []
    for index, line in enumerate(DATA.read_text(encoding="utf-8").splitlines()):
        data = json.loads(line, strict=False)
        paper = norm(data["content"])
        sentences = [norm(s) for s in _SENTENCE.split(norm(data["evidence"]))]
        gold = [s for s in sentences if len(s) >= 20 and s in paper]
        rows.append(Row(index, data["question"], data["content"], gold))
    return rows


def pages_of(paper: str) -> list[str]:
    """Pages of about PAGE_CHARS, cut between lines; each line is a paragraph."""
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for line in (line.strip() for line in paper.splitlines()):
        if not line:
            continue
        if current and size + len(line) > PAGE_CHARS:
            pages.append("\n\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pages.append("\n\n".join(current))
    return pages


def extractive_summary(pages: list[str], count: Callable[[str], int]) -> str:
    """The paper's opening sentences, up to SUMMARY_TOKENS (a lone heading line skipped)."""
    paragraphs = [p for p in pages[0].split("\n\n") if len(p.split()) > 3]
    summary: list[str] = []
    for sentence in _SENTENCE.split(" ".join(paragraphs)):
        if count(" ".join([*summary, sentence])) > SUMMARY_TOKENS:
            break
        summary.append(sentence)
    return " ".join(summary)


def build_database(rows: list[Row]) -> tuple[Variant, Variant, float]:
    """Both projects as Document/Page/Chunk rows, indexed; returns the ingest seconds."""
    from django.contrib.auth import get_user_model

    from research.library import search
    from research.models import Chunk, Document, Page, Project
    from workspace.chunking import PageText, chunk_pages
    from workspace.runtime.tokenizer import count_tokens

    user = get_user_model().objects.create_user(username="bench", password="bench-packing-1")
    start = time.perf_counter()
    drafts_cache: dict[str, tuple[list[str], list, str]] = {}

    def add(project: Project, row: Row, number: int) -> int:
        if row.paper not in drafts_cache:
            pages = pages_of(row.paper)
            drafts = chunk_pages([PageText(n + 1, text) for n, text in enumerate(pages)])
            drafts_cache[row.paper] = (pages, drafts, extractive_summary(pages, count_tokens))
        pages, drafts, summary = drafts_cache[row.paper]
        document = Document.objects.create(
            project=project,
            title=f"Paper {number:02d}",
            original_name=f"paper-{number:02d}.txt",
            file_type=Document.FileType.TEXT,
            content_hash=hashlib.sha256(f"{project.pk}:{number}".encode()).hexdigest(),
            stage=Document.Stage.READY,
            page_count=len(pages),
            token_count=sum(d.token_count for d in drafts),
            summary=summary,
        )
        Page.objects.bulk_create(
            Page(document=document, number=n + 1, text=text, token_count=count_tokens(text))
            for n, text in enumerate(pages)
        )
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                ordinal=d.ordinal,
                text=d.text,
                token_count=d.token_count,
                page_start=d.page_start,
                page_end=d.page_end,
            )
            for d in drafts
        )
        search.chunk_index_document(document_id=document.pk)
        return document.pk

    specified = Project.objects.create(owner=user, title="BAMBOO, one document per row")
    distinct = Project.objects.create(owner=user, title="BAMBOO, distinct papers")
    as_specified = Variant("as specified: 100 rows as 100 documents", rows, [], [])
    for row in rows:
        as_specified.document_ids.append(add(specified, row, row.index + 1))
        as_specified.paper_index.append(row.index)
    unique = Variant("distinct papers only: 25 documents", rows, [], [])
    first_row: dict[str, int] = {}
    for row in rows:
        if row.paper not in first_row:
            first_row[row.paper] = row.index
            unique.document_ids.append(add(distinct, row, len(first_row)))
            unique.paper_index.append(row.index)
    for variant in (as_specified, unique):
        for index in variant.paper_index:
            pages = drafts_cache[rows[index].paper][0]
            texts = chunk_pages(
                [PageText(n + 1, t) for n, t in enumerate(pages)],
                target_tokens=BASELINE_CHUNK_TOKENS,
            )
            variant.baseline_chunks.extend(d.text for d in texts)
    return as_specified, unique, time.perf_counter() - start


@dataclass
class Packed:
    text: str
    seconds: float
    strategy: str = ""
    real_tokens: int | None = None


_MARKER = re.compile(r"^\[[^\[\]\n]+, pp?\. \d+(?:-\d+)?\]$", re.MULTILINE)


def recalled(row: Row, text: str) -> tuple[bool, bool]:
    """Page markers are annotations between paragraphs, not text: they are dropped first
    (a sentence running across a page break is still the same sentence)."""
    packed = norm(_MARKER.sub("", text))
    inside = [sentence in packed for sentence in row.gold]
    return all(inside), any(inside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per question")
    parser.add_argument(
        "--verify",
        choices=["all", "sample", "none"],
        default="all",
        help="count every Carrel prompt with the real tokenizer (outside the timings)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    workdir = tempfile.mkdtemp(prefix="carrel-bench-packing-")
    os.environ["CARREL_VAR_DIR"] = workdir
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["CARREL_BACKEND"] = "scripted"
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rows = load_rows()
    as_specified, unique, ingest = build_database(rows)
    located = [row for row in rows if row.gold]
    print(
        f"BAMBOO paperqa: {len(rows)} questions, {len({r.paper for r in rows})} distinct papers; "
        f"{len(located)} questions have a gold sentence found verbatim in their paper "
        f"({sum(len(r.gold) for r in located)} sentences), the other {len(rows) - len(located)} "
        "are left out of the recall."
    )
    print(f"Ingest into SQLite (pages, 400-token chunks, FTS5), both projects: {ingest:.1f} s")
    for variant in (as_specified, unique):
        run_variant(variant, located, repeats=args.repeats, verify=args.verify)


def run_variant(variant: Variant, rows: Sequence[Row], *, repeats: int, verify: str) -> None:
    from research.qa.selectors import packing_sources_for_documents
    from research.qa.services import QA_RULES
    from workspace.packing import BM25Retriever, Budget, DatabaseRetriever, pack
    from workspace.packing.bm25 import BM25Index
    from workspace.packing.prompt import build_messages
    from workspace.packing.tokens import GemmaCounter, _cached_count
    from workspace.runtime.tokenizer import count_tokens, get_tokenizer

    counter = GemmaCounter()
    sources, load_seconds = timed(
        lambda: packing_sources_for_documents(document_ids=variant.document_ids)
    )
    total = sum(source.tokens for source in sources)
    chunks = sum(len(source.pieces) for source in sources)
    print(
        f"\n== {variant.name}: {total:,} tokens in {chunks} chunks of up to 400 tokens; "
        f"{len(variant.baseline_chunks)} baseline chunks of up to 1,000 =="
    )
    separator = counter.count("\n\n")
    naive_chunks = [(p.text, p.tokens) for s in sources for p in s.pieces]
    baseline_tokens = [count_tokens(text) for text in variant.baseline_chunks]
    baseline_index, index_seconds = timed(lambda: BM25Index(variant.baseline_chunks))
    memory = BM25Retriever()
    all_pieces = [piece for source in sources for piece in source.pieces]
    _, memory_index_seconds = timed(lambda: memory.index_for(all_pieces))
    print(
        f"Loading the sources from the database: {load_seconds * 1000:.0f} ms; building the "
        f"in-memory BM25 indexes: {memory_index_seconds * 1000:.0f} ms (400-token chunks), "
        f"{index_seconds * 1000:.0f} ms (1,000-token chunks), once per project."
    )

    def room(budget: int, question: str) -> int:
        fixed = counter.count_messages(
            build_messages(system=QA_RULES, sources_text="", question=question)
        )
        return budget - fixed

    def naive(budget: int, question: str) -> str:
        left, texts = room(budget, question), []
        for text, tokens in naive_chunks:
            if tokens + separator > left:
                break
            texts.append(text)
            left -= tokens + separator
        return "\n\n".join(texts)

    def top_k(budget: int, question: str) -> str:
        left, texts = room(budget, question), []
        for position, _ in baseline_index.top(question, len(variant.baseline_chunks)):
            cost = baseline_tokens[position] + separator
            if cost > left:
                break
            texts.append(variant.baseline_chunks[position])
            left -= cost
        return "\n\n".join(texts)

    methods: dict[str, Callable[[int, str], tuple[str, str, list]]] = {}

    def carrel(retriever: object) -> Callable[[int, str], tuple[str, str, list]]:
        def run(budget: int, question: str) -> tuple[str, str, list]:
            result = pack(
                question=question,
                sources=sources,
                system=QA_RULES,
                budget=Budget(window=budget, output_reserve=0, margin=0),
                retriever=retriever,  # type: ignore[arg-type]
                strategy=single_prompt[budget],
                counter=counter,
            )
            return result.sources_text, result.context_map.strategy, result.messages

        return run

    # The ladder's own pick; where it is map-reduce, measure its single-prompt rung instead.
    auto: dict[int, str] = {}
    single_prompt: dict[int, Strategy | None] = {}
    for budget in BUDGETS:
        result = pack(
            question=rows[0].question,
            sources=sources,
            system=QA_RULES,
            budget=Budget(window=budget, output_reserve=0, margin=0),
            counter=counter,
        )
        groups = len(result.context_map.groups)
        auto[budget] = result.context_map.strategy + (f" ({groups} groups)" if groups else "")
        single_prompt[budget] = "near_edge" if result.context_map.strategy == "map_reduce" else None

    methods["carrel (FTS5)"] = carrel(DatabaseRetriever())
    methods["carrel (in-memory BM25)"] = carrel(memory)
    methods["naive truncation"] = lambda b, q: (naive(b, q), "", [])
    methods["bm25 top-k 1000"] = lambda b, q: (top_k(b, q), "", [])

    recall: dict[tuple[str, int], tuple[float, float]] = {}
    strategies: dict[int, set[str]] = {}
    worst = 0.0
    over = 0
    checked = 0
    for budget in BUDGETS:
        for name, method in methods.items():
            strict = lenient = 0
            for position, row in enumerate(rows):
                text, strategy, messages = method(budget, row.question)
                all_in, any_in = recalled(row, text)
                strict += all_in
                lenient += any_in
                if strategy:
                    strategies.setdefault(budget, set()).add(strategy)
                if messages and (verify == "all" or (verify == "sample" and position % 10 == 0)):
                    real = get_tokenizer().count_messages(messages)
                    worst = max(worst, real / budget)
                    over += real > budget
                    checked += 1
            recall[(name, budget)] = (strict / len(rows), lenient / len(rows))

    names = list(methods)
    print(
        f"\nEvidence recall over {len(rows)} questions: all gold sentences inside "
        "(in brackets: at least one inside)"
    )
    print(
        f"{'budget':>8} | " + " | ".join(f"{n:>24}" for n in names) + " | carrel rung used"
        " | ladder's own pick"
    )
    for budget in BUDGETS:
        cells = [f"{recall[(n, budget)][0]:>15.2f} ({recall[(n, budget)][1]:.2f})" for n in names]
        print(
            f"{budget // 1024:>7}K | "
            + " | ".join(f"{c:>24}" for c in cells)
            + f" | {', '.join(sorted(strategies.get(budget, set())))} | {auto[budget]}"
        )
    if checked:
        print(
            f"Real Gemma token count of {checked} Carrel prompts: {over} over budget; "
            f"the fullest used {worst:.3%} of its budget."
        )

    budget = BUDGETS[-1]
    print(
        f"\nPacking time at {budget // 1024}K (median per question of {repeats} runs x "
        f"{len(rows)} questions, one core):"
    )
    timings: dict[str, float] = {}
    for name, method in methods.items():
        samples = []
        for row in rows:
            for _ in range(repeats):
                _, seconds = timed(lambda: method(budget, row.question))  # noqa: B023
                samples.append(seconds)
        timings[name] = statistics.median(samples)

    def with_loading(question: str) -> None:
        fresh = packing_sources_for_documents(document_ids=variant.document_ids)
        pack(
            question=question,
            sources=fresh,
            system=QA_RULES,
            counter=counter,
            budget=Budget(window=budget, output_reserve=0, margin=0),
            retriever=DatabaseRetriever(),
        )

    samples = [timed(lambda: with_loading(row.question))[1] for row in rows[:10]]  # noqa: B023
    timings["carrel (FTS5) + loading from the DB"] = statistics.median(samples)
    cold = []
    for row in rows[:5]:
        _cached_count.cache_clear()  # no page marker or summary counted yet
        cold.append(timed(lambda: with_loading(row.question))[1])  # noqa: B023
    timings["  the same, token-count cache cold"] = statistics.median(cold)
    base = timings["naive truncation"]
    top = timings["bm25 top-k 1000"]
    for name, seconds in timings.items():
        print(
            f"  {name:<38} {seconds * 1000:8.1f} ms   {seconds / base:7.1f}x naive   "
            f"{seconds / top:6.2f}x bm25 top-k"
        )


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


if __name__ == "__main__":
    main()
