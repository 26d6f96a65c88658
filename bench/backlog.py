"""A question waits behind no summary: time to first token with a summary backlog queued.

    .venv/bin/python -m bench.backlog [--calls 10000] [--questions 20] [--delay-ms 20]

Everything runs for real: a private Redis, a throwaway database (SQLite, or PostgreSQL with
DATABASE_URL=postgres://...), and the two workers laid out as `manage.py runcarrel` starts
them (a main one on every queue, questions first, at a lower CPU priority, and a small one
for questions only).
The model is the scripted backend taking --delay-ms per call (CARREL_SCRIPTED_DELAY_MS), as
a model server would, so --calls summary calls keep the main worker busy for
calls x delay (10,000 x 20 ms: over three minutes), longer than the measurement.

Grace's project holds one real paper (../shared/data/papers). Ada's library holds documents
of generated text whose summaries need --calls model calls (one per 400-token passage and
one per document to reduce them); they are indexed with summaries off.

1. Idle: Grace asks --questions look-up questions one after another; each one's time to
   first token is from the ask (the row saved, the task sent) to the first `token` entry on
   the question's stream, which the page's server-sent events relay.
2. Backlog: every summary of Ada's library is started at once ("summarise now"), and once
   the first is running Grace asks the same questions again.

Reported: p50 and p95 of both, their ratio (target: within 10% of idle), and how many
summary calls were still waiting when the last answer began (the backlog must still be
there, or the second run measured nothing).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import Workers, queue_environment, wait_indexed

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "papers"
QUESTIONS = (
    "What method does the paper propose?",
    "Which data set is used in the evaluation?",
    "What are the main results?",
    "What limitations do the authors mention?",
    "How is the approach compared with earlier work?",
)
PASSAGES_PER_DOCUMENT = 100
VOCABULARY = tuple(
    """glacier valley sediment model error sample method result cohort protein signal network
    layer training loss baseline dataset measure effect rate growth climate river basin carbon
    soil enzyme receptor neuron graph kernel matrix vector theorem""".split()  # noqa: SIM905
)
WORDS_PER_PASSAGE = 300  # about 400 Gemma tokens: one summary call each


def generated_text(seed: int, passages: int) -> str:
    """Plain paragraphs of varied words (a deterministic stand-in for a paper's text)."""
    rng = random.Random(seed)
    vocabulary = VOCABULARY
    paragraphs = []
    for _ in range(passages):
        words = [rng.choice(vocabulary) for _ in range(WORDS_PER_PASSAGE)]
        paragraphs.append(" ".join(words).capitalize() + ".")
    return "\n\n".join(paragraphs)


def indexed(files: Sequence[tuple[str, bytes]], *, owner: Any, title: str, mode: str) -> Any:
    """A project of these files, each indexed (ready for questions)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from research.library import services, summary_lane
    from research.models import Document

    project = services.project_create(owner=owner, title=title)
    summary_lane.project_set_summary_mode(project=project, mode=mode)
    services.document_upload(
        project=project,
        uploaded_by=owner,
        files=[SimpleUploadedFile(name, data) for name, data in files],
    )
    wait_indexed(Document.objects.filter(project=project), label=title, minutes=30, poll=0.5)
    return project


def first_token_seconds(*, owner: Any, project: Any, text: str) -> float:
    """Ask as the page does; seconds until the answer's first token. Waits for the end of
    the answer before returning, so questions never overlap."""
    from research.qa import services as qa
    from workspace.jobs.streams import stream_read

    started = time.perf_counter()
    question = qa.thread_start(owner=owner, project=project, question=text)
    qa.question_enqueue(question=question)
    first = None
    for entry in stream_read(
        kind=qa.STREAM_KIND, item_id=question.pk, block_ms=200, timeout_seconds=300
    ):
        if entry.event == "token" and first is None:
            first = time.perf_counter() - started
    if first is None:
        question.refresh_from_db()
        raise RuntimeError(
            f"no token for {text!r}: {question.status} {question.error} "
            "(the workers' logs: logs/ in the run's carrel-bench-backlog-* folder)"
        )
    return first


def ask_all(owner: Any, project: Any, rounds: int) -> list[float]:
    return [
        first_token_seconds(owner=owner, project=project, text=QUESTIONS[i % len(QUESTIONS)])
        for i in range(rounds)
    ]


def summary_calls_waiting(project: Any) -> int:
    """Passages not yet summarised, plus one reduce per unfinished document."""
    from django.db.models import F, Sum

    from research.models import Document

    unfinished = Document.objects.filter(project=project).exclude(summary_status="done")
    passages = unfinished.aggregate(left=Sum(F("chunk_count") - F("summaries_done")))["left"]
    return (passages or 0) + unfinished.count()


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(idle: Sequence[float], busy: Sequence[float], waiting: int, queued: int) -> None:
    def row(name: str, values: Sequence[float]) -> str:
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        return f"   {name:<28}p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms"

    ratio = statistics.median(busy) / statistics.median(idle)
    print(row("idle server", idle))
    print(row(f"{queued:,} summary calls queued", busy))
    print(f"   ratio (p50, backlog / idle)  {ratio:5.2f}x  (target: at most 1.10x)")
    print(f"   summary calls still waiting after the last first token: {waiting:,}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10_000, help="summary calls queued")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--delay-ms", type=int, default=20, help="scripted model, per call")
    args = parser.parse_args(argv)

    variables = {
        "CARREL_SCRIPTED_DELAY_MS": str(args.delay_ms),
        "CARREL_MAX_QUESTIONS_IN_FLIGHT": "0",
    }
    with queue_environment("backlog", **variables) as (workers, _var):
        return run(workers, args)


def run(workers: Workers, args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User
    from django.db import connection

    from research.library import summary_lane
    from workspace.management.commands.runcarrel import INTERACTIVE_QUEUES, MAIN_QUEUES

    documents = max(1, args.calls // (PASSAGES_PER_DOCUMENT + 1))
    print(
        f"database: {connection.vendor}; scripted model {args.delay_ms} ms a call; "
        f"backlog: {documents} documents of {PASSAGES_PER_DOCUMENT} passages"
    )
    workers.start(queues=MAIN_QUEUES, lower_priority=True)
    workers.start(queues=INTERACTIVE_QUEUES)
    grace = User.objects.create_user(username="grace")
    ada = User.objects.create_user(username="ada")
    paper = sorted(PAPERS.glob("*.pdf"))[0]
    papers = indexed([(paper.name, paper.read_bytes())], owner=grace, title="A", mode="off")
    started = time.perf_counter()
    library = indexed(
        [
            (f"notes-{n:04d}.txt", generated_text(n, PASSAGES_PER_DOCUMENT).encode())
            for n in range(documents)
        ],
        owner=ada,
        title="Library",
        mode="off",
    )
    print(f"   backlog library indexed in {time.perf_counter() - started:.0f} s")
    ask_all(grace, papers, 3)  # warm-up: workers' tokenizers and caches loaded

    print(f"\n1. {args.questions} questions, one after another (time to first token)")
    idle = ask_all(grace, papers, args.questions)
    queued = summary_calls_waiting(library)
    summary_lane.project_summaries_start(project=library)
    deadline = time.monotonic() + 120
    while summary_calls_waiting(library) == queued and time.monotonic() < deadline:
        time.sleep(0.2)  # the first summary call has run: the backlog is being worked
    busy = ask_all(grace, papers, args.questions)
    report(idle, busy, summary_calls_waiting(library), queued)
    return 0


if __name__ == "__main__":
    sys.exit(main())
