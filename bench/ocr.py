"""OCR speed: scanned pages read by Tesseract, against plain pypdf text extraction.

    .venv/bin/python -m bench.ocr [--pages 3] [--dpi 300]

Scans are made in the run from the shared papers (../shared/data/papers): each page rendered
with PDFium and wrapped back as an image-only PDF, as a scanner gives it. Carrel's OCR path
(research/library/ocr.py: render_page, then recognize) reads every page of the scans; the
baseline is pypdf's `extract_text()` of the same pages of the original files, timed in the
same run. Prints pages per minute for both, their ratio, and how many scanned pages gave
text (target: every one).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from bench import setup_django

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "papers"
DEFAULT_PAPERS = (
    "multicolumn.pdf",
    "pdflatex-4-pages.pdf",
    "habibi.pdf",
    "GeoTopo-komprimiert.pdf",
)


def pypdf_pages(paths: list[Path], *, pages: int) -> tuple[int, float]:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    start = time.perf_counter()
    read = 0
    for path in paths:
        for page in PdfReader(path).pages[:pages]:
            page.extract_text()
            read += 1
    return read, time.perf_counter() - start


def ocr_pages(scans: list[Path], *, pages: int, dpi: int) -> tuple[int, int, float]:
    """Pages read, pages that gave text, and seconds."""
    import pypdfium2 as pdfium

    from research.library.ocr import recognize, render_page

    start = time.perf_counter()
    read = with_text = 0
    for scan in scans:
        count = min(len(pdfium.PdfDocument(str(scan))), pages)
        for number in range(1, count + 1):
            found = recognize(render_page(scan, number=number, dpi=dpi).png)
            read += 1
            with_text += bool(found.text.strip())
    return read, with_text, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3, help="pages read from each paper")
    parser.add_argument("--dpi", type=int, default=300, help="OCR rendering resolution")
    args = parser.parse_args()
    setup_django()
    from research.library.ocr import missing_message, ocr_available
    from tests.research.ingest_support import scanned_pdf

    if not ocr_available():
        raise SystemExit(missing_message())
    papers = [PAPERS / name for name in DEFAULT_PAPERS if (PAPERS / name).exists()]
    with tempfile.TemporaryDirectory(prefix="carrel-bench-ocr-") as folder:
        scans = []
        for paper in papers:
            path = Path(folder) / f"scan-{paper.name}"
            path.write_bytes(scanned_pdf(paper, pages=args.pages))
            scans.append(path)
        plain, plain_seconds = pypdf_pages(papers, pages=args.pages)
        read, with_text, ocr_seconds = ocr_pages(scans, pages=args.pages, dpi=args.dpi)
    plain_rate = plain / plain_seconds * 60
    ocr_rate = read / ocr_seconds * 60
    print(f"papers: {', '.join(p.name for p in papers)} ({args.pages} pages each)")
    print(f"pypdf text layer (baseline): {plain} pages, {plain_rate:,.0f} pages/min")
    print(f"OCR (PDFium {args.dpi} dpi + Tesseract): {read} pages, {ocr_rate:,.1f} pages/min")
    print(f"OCR is {plain_rate / ocr_rate:,.0f}x slower than reading a text layer")
    print(f"scanned pages that gave text: {with_text} of {read}")


if __name__ == "__main__":
    main()
