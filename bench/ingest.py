"""Ingestion speed: extraction + counting + chunking + indexing, against plain pypdf.

    .venv/bin/python -m bench.ingest [--repeats 3] [--times 3] [--part 1]

Everything runs for real: a private Redis, a throwaway database (SQLite, or PostgreSQL with
DATABASE_URL=postgres://...), and `celery worker` processes consuming the "ingest" queue
only, so the summary step (the "model" queue) is excluded as the issue asks. A run starts
when the upload's transaction commits (the tasks are sent) and ends at the last document's
`indexed_at`.

1. The papers in ../shared/data/papers on one worker, beside plain pypdf text extraction
   (`page.extract_text()` for every page, one process) of the same files in the same run:
   pages per second for both, and Carrel's overhead ratio (target: under 1.3x).
2. A many-page PDF (the GeoTopo thesis repeated --times times) on one worker and on two:
   the speed-up from splitting extraction into page ranges (target: near 2x; the machine
   has two cores, so the database and Redis share them with the workers).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.harness import Workers, queue_environment, wait_indexed

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "papers"


def raw_pypdf(paths: Sequence[Path]) -> int:
    """The baseline: pypdf's own text extraction of every page, nothing else."""
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    pages = 0
    for path in paths:
        for page in PdfReader(path).pages:
            page.extract_text()
            pages += 1
    return pages


def ingest(files: Sequence[tuple[str, bytes]], *, label: str) -> tuple[int, float]:
    """Upload the files into a new project; (pages, seconds until all are indexed)."""
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction
    from django.db.models import Max, Sum
    from django.utils import timezone

    from research.library import services
    from research.models import Document

    owner, _ = User.objects.get_or_create(username="bench")
    project = services.project_create(owner=owner, title=label)
    with transaction.atomic():
        outcomes = services.document_upload(
            project=project,
            uploaded_by=owner,
            files=[SimpleUploadedFile(name, data) for name, data in files],
        )
        started = timezone.now()  # the tasks are sent when this transaction commits
    ids = [outcome.document.pk for outcome in outcomes if outcome.document is not None]
    documents = Document.objects.filter(pk__in=ids)
    wait_indexed(documents, label=label, minutes=15, poll=0.25)  # the time is from indexed_at
    totals = documents.aggregate(pages=Sum("page_count"), last=Max("indexed_at"))
    return totals["pages"], (totals["last"] - started).total_seconds()


def repeated(path: Path, times: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(times):
        writer.append(str(path))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def median_run(
    files: Sequence[tuple[str, bytes]], *, label: str, repeats: int
) -> tuple[int, float]:
    runs = [ingest(files, label=f"{label} {i}") for i in range(repeats)]
    return runs[0][0], statistics.median(seconds for _, seconds in runs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--times", type=int, default=3, help="copies of GeoTopo in part 2")
    parser.add_argument("--part", choices=["1", "all"], default="all", help="only part 1")
    args = parser.parse_args(argv)

    with queue_environment("ingest") as (workers, _var):
        from django.db import connection

        print(f"database: {connection.vendor}; repeats: {args.repeats}")
        return run(workers, args)


def run(workers: Workers, args: argparse.Namespace) -> int:
    papers = sorted(PAPERS.glob("*.pdf"))
    files = [(path.name, path.read_bytes()) for path in papers]
    workers.start()
    ingest([files[0]], label="warm-up")  # worker and tokenizer loaded, caches warm

    pages, raw_seconds = median_run_raw(papers, repeats=args.repeats)
    _, carrel_seconds = median_run(files, label="papers, 1 worker", repeats=args.repeats)
    print(f"\n1. {len(papers)} papers, {pages} pages (median of {args.repeats})")
    print(f"   plain pypdf extract_text   {raw_seconds:7.2f} s  {pages / raw_seconds:7.1f} pages/s")
    print(
        f"   Carrel, 1 worker           {carrel_seconds:7.2f} s  "
        f"{pages / carrel_seconds:7.1f} pages/s  (extract+count+chunk+index)"
    )
    print(f"   overhead over raw pypdf    {carrel_seconds / raw_seconds:7.2f}x  (target < 1.3x)")
    if args.part == "1":
        return 0

    long_name = f"GeoTopo-x{args.times}.pdf"
    long_pdf = [(long_name, repeated(PAPERS / "GeoTopo-komprimiert.pdf", args.times))]
    long_pages, one = median_run(long_pdf, label="long, 1 worker", repeats=args.repeats)
    workers.start()
    ingest([files[1]], label="warm-up 2")
    _, two = median_run(long_pdf, label="long, 2 workers", repeats=args.repeats)
    _, papers_two = median_run(files, label="papers, 2 workers", repeats=args.repeats)
    print(f"\n2. {long_name}: {long_pages} pages (median of {args.repeats})")
    print(f"   1 worker                   {one:7.2f} s  {long_pages / one:7.1f} pages/s")
    print(f"   2 workers                  {two:7.2f} s  {long_pages / two:7.1f} pages/s")
    print(f"   speed-up                   {one / two:7.2f}x  (target near 2x)")
    print(
        f"   (papers on 2 workers: {papers_two:.2f} s, {pages / papers_two:.1f} pages/s, "
        f"{carrel_seconds / papers_two:.2f}x one worker)"
    )
    return 0


def median_run_raw(paths: Sequence[Path], *, repeats: int) -> tuple[int, float]:
    timings = []
    pages = 0
    for _ in range(repeats):
        start = time.perf_counter()
        pages = raw_pypdf(paths)
        timings.append(time.perf_counter() - start)
    return pages, statistics.median(timings)


if __name__ == "__main__":
    sys.exit(main())
