"""Retrieval time with vectors stored beside their chunks against embedding per question.

    .venv/bin/python -m bench.vectors [--papers 60] [--questions 30] [--embed-ms 0 5]

A throwaway database (SQLite, or PostgreSQL with DATABASE_URL=postgres://...) holds
--papers papers of ../shared/data/library (chunked as ingest does, indexed for full-text
search), and a fake Ollama server (tests/fakes/ollama_server.py) answers /api/embed with
deterministic vectors, spending --embed-ms per text as a model would. The papers' chunks
are embedded once, as the batch lane does at ingest (timed). Then, per question (a
sentence's first words from a random passage), the ranking a question's packing asks for:

- keyword: the full-text index with passages scored by their neighbours (the baseline);
- stored: research.library.vectors.chunk_retriever(): the keyword ranking's pool of 64
  scored against stored vectors in the worker; only the question is embedded;
- per question (cold): what Carrel did before vectors were stored, the question and its
  pool of 64 embedded per question (workspace.packing.embeddings.FusedRetriever), each
  question's pool new to the worker's in-memory cache;
- per question (warm): the same with every pool already in that cache (the same questions
  asked a second time: the old path's best case);
- vague check: what a look-up over 20 or more documents adds before its model call: which
  documents hold each word of the question, from the full-text index
  (research.library.search.documents_holding_words, workspace/retrieval/specific.py).

Printed per --embed-ms: the median time per question, the texts sent to /api/embed per
question, and each method's time as a ratio of keyword ranking and of the stored path.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import setup_django

LIBRARY = Path(__file__).resolve().parents[2] / "shared" / "data" / "library"
MODEL = "benchembed:latest"


def load_papers(count: int) -> list[tuple[str, str]]:
    papers = []
    with (LIBRARY / "bamboo_distractor_papers.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            papers.append((record["title"][:300], record["text"]))
            if len(papers) >= count:
                break
    return papers


def build_library(papers: Sequence[tuple[str, str]]) -> list[int]:
    """Documents, pages (eight paragraphs each), 400-token chunks and the full-text index,
    as the Q&A tests build them."""
    from django.contrib.auth.models import User

    from research.models import Project
    from tests.research.qa.test_views import add_document
    from workspace.chunking import DEFAULT_CHUNK_TOKENS

    owner = User.objects.create(username="bench")
    project = Project.objects.create(owner=owner, title="Library")
    ids = []
    for title, text in papers:
        paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
        pages = ["\n\n".join(paragraphs[i : i + 8]) for i in range(0, len(paragraphs), 8)]
        ids.append(add_document(project, title, pages, target=DEFAULT_CHUNK_TOKENS).pk)
    return ids


def questions_from(pieces: Sequence, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    questions: list[str] = []
    while len(questions) < count:
        words = rng.choice(pieces).text.split()
        if len(words) > 20:
            start = rng.randrange(0, len(words) - 12)
            questions.append(" ".join(words[start : start + 10]))
    return questions


def per_question(retriever: Callable, questions: Sequence[str], pieces: Sequence,
                 before: Callable[[], None] = lambda: None) -> list[float]:  # fmt: skip
    timings = []
    for question in questions:
        before()
        start = time.perf_counter()
        retriever(question, pieces, len(pieces))
        timings.append(time.perf_counter() - start)
    return timings


class Measure:
    """Rows of (method, median seconds per question, texts sent to /api/embed per question)."""

    def __init__(self, fake: Any, questions: Sequence[str], pieces: Sequence) -> None:
        self.fake, self.questions, self.pieces = fake, questions, pieces
        self.rows: list[tuple[str, float, float]] = []

    def sent(self) -> int:
        return sum(len(body["input"]) for body in self.fake.embed_requests())

    def __call__(
        self, name: str, retriever: Callable, before: Callable[[], None] = lambda: None
    ) -> None:
        texts = self.sent()
        timings = per_question(retriever, self.questions, self.pieces, before)
        embedded = (self.sent() - texts) / len(self.questions)
        self.rows.append((name, statistics.median(timings), embedded))

    def report(self) -> None:
        """Each row as a ratio of the first (keyword) and of the second (stored)."""
        base, stored = self.rows[0][1], self.rows[1][1]
        print(f"{'method':<22}{'ms/question':>12}{'texts/q':>9}{'x keyword':>11}{'x stored':>10}")
        for name, seconds, texts in self.rows:
            print(
                f"{name:<22}{seconds * 1000:>12.1f}{texts:>9.1f}"
                f"{seconds / base:>11.2f}{seconds / stored:>10.2f}"
            )


def run(papers: int, questions_count: int, embed_ms: Sequence[float]) -> None:
    from django.conf import settings

    from research.library import vectors
    from research.library.search import documents_holding_words
    from research.models import Chunk
    from research.qa.selectors import packing_sources_for_documents
    from tests.fakes.ollama_server import FakeOllama
    from workspace.packing.embeddings import FusedRetriever, OllamaEmbedder
    from workspace.packing.retrievers import DatabaseRetriever
    from workspace.retrieval import HybridRetriever
    from workspace.retrieval.specific import question_words
    from workspace.runtime.select import reset_runtime_cache

    fake = FakeOllama()
    fake.add_model(MODEL, capabilities=("embedding",))
    fake.embed_dims = 768  # embeddinggemma's
    fake.start()
    settings.OLLAMA_HOST = fake.url
    settings.CARREL_EMBED_MODEL = MODEL
    reset_runtime_cache()
    try:
        document_ids = build_library(load_papers(papers))
        sources = packing_sources_for_documents(document_ids=document_ids)
        pieces = [piece for source in sources for piece in source.pieces]
        questions = questions_from(pieces, questions_count)
        chunks = Chunk.objects.count()
        embedder = vectors.ollama_embedder(model=MODEL, cache=0)
        assert embedder is not None
        start = time.perf_counter()
        for document_id in document_ids:
            vectors.document_vectors_embed(
                document_id=document_id, attempt=1, embedder=embedder, model=MODEL
            )
        ingest = time.perf_counter() - start
        print(
            f"{len(document_ids)} papers, {chunks} chunks, {len(questions)} questions, "
            f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; embedding every "
            f"chunk at ingest (fake server, 0 ms a text): {ingest:.1f} s"
        )
        keyword = HybridRetriever(DatabaseRetriever())

        def vague_check(question: str, _pieces: Sequence, _budget: int) -> None:
            words = question_words(question)
            documents_holding_words(words=words, document_ids=document_ids)

        for delay in embed_ms:
            fake.embed_delay = delay / 1000
            vectors._embedders.clear()
            stored = vectors.chunk_retriever()
            old_embedder = OllamaEmbedder(host=fake.url, model=MODEL)
            old = HybridRetriever(FusedRetriever(DatabaseRetriever(), old_embedder))
            measure = Measure(fake, questions, pieces)
            measure("keyword", keyword)
            measure("stored", stored)
            measure("per question (cold)", old, old_embedder._cache.clear)
            per_question(old, questions, pieces)  # every pool in the cache: the warm case
            measure("per question (warm)", old)
            measure("vague check", vague_check)
            print(f"\n--embed-ms {delay:g} (fake model time per embedded text)")
            measure.report()
    finally:
        fake.stop()
        reset_runtime_cache()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=60)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--embed-ms", type=float, nargs="+", default=[0.0, 5.0])
    args = parser.parse_args(argv)
    setup_django()
    from django.db import connection

    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(args.papers, args.questions, args.embed_ms)
    finally:
        connection.creation.destroy_test_db(database, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
