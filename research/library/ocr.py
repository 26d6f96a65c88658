"""Reading scanned PDF pages: render the page with PDFium, recognize it with Tesseract.

A page whose text layer is empty but that holds images (research/library/extraction.py
calls it "scanned") is rendered to a grayscale PNG with pypdfium2 (a PyPI wheel) and read
by the `tesseract` command (Debian's tesseract-ocr and tesseract-ocr-eng; `make ocr-deps`)
run without a shell, with a timeout and a cap on what it prints. One page at a time, so
the text lands on exactly the page it came from and page anchors stay exact.

Why not OCRmyPDF: it writes a new PDF with a hidden text layer, which pypdf would then have
to read back (losing Tesseract's line order to pypdf's heuristics), and it needs
Ghostscript and qpdf beside Tesseract; here the rendered page also serves the vision path
(a model reading the page image), so rendering once ourselves is the simpler, sturdier way.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import ollama
from django.conf import settings

from workspace.runtime.types import Message, ModelRuntime

# Largest rendered side in pixels: a page that declares an enormous size is scaled down
# instead of filling memory (300 dpi on A4 is 2480 x 3508).
MAX_SIDE_PX = 4200
# Tesseract's output for one page is cut here (a dense page is about 10,000 characters).
MAX_PAGE_CHARS = 100_000
# Below this mean word confidence (0-100) the page is not taken as read: text in another
# script or language than CARREL_OCR_LANGUAGE comes out as confident-looking garbage
# (a Japanese scan read as English scored 32; the English test scans score about 95).
MIN_CONFIDENCE = 50
INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng (or `make ocr-deps`)"


class OcrError(Exception):
    """One page could not be recognized; the message says why, in a sentence."""


@dataclass(frozen=True)
class RenderedPage:
    png: bytes
    width: int
    height: int


def tesseract_command() -> str | None:
    """The tesseract executable, or None when OCR is not installed here."""
    configured = getattr(settings, "CARREL_TESSERACT", "") or "tesseract"
    return shutil.which(configured)


def ocr_available() -> bool:
    return tesseract_command() is not None


def missing_message() -> str:
    """What `make run` and a document say when Tesseract is not installed."""
    return f"Tesseract OCR is not installed, so scanned pages cannot be read: {INSTALL_HINT}."


def _png(gray: bytes, *, width: int, height: int, stride: int) -> bytes:
    """An 8-bit grayscale PNG of a PDFium bitmap buffer (stdlib only)."""
    rows = b"".join(b"\x00" + gray[y * stride : y * stride + width] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def render_page(path: Path | str, *, number: int, password: str = "", dpi: int = 0) -> RenderedPage:
    """Page `number` (1-based) of a PDF as a grayscale PNG at `dpi`, its longer side at
    most MAX_SIDE_PX. Raises OcrError when PDFium cannot open or draw it."""
    import pypdfium2 as pdfium

    dpi = dpi or settings.CARREL_OCR_DPI
    try:
        pdf = pdfium.PdfDocument(str(path), password=password or None)
    except Exception as exc:  # PdfiumError and friends
        raise OcrError(f"PDFium could not open the file ({exc}).") from exc
    try:
        page = pdf[number - 1]
        try:
            width_pt, height_pt = page.get_size()
            longest = max(width_pt, height_pt, 1.0)
            scale = min(dpi / 72, MAX_SIDE_PX / longest)
            bitmap = page.render(scale=scale, grayscale=True)
            try:
                gray = bytes(bitmap.buffer)
                png = _png(gray, width=bitmap.width, height=bitmap.height, stride=bitmap.stride)
                return RenderedPage(png=png, width=bitmap.width, height=bitmap.height)
            finally:
                bitmap.close()
        finally:
            page.close()
    except OcrError:
        raise
    except Exception as exc:
        raise OcrError(f"PDFium could not draw the page ({type(exc).__name__}: {exc}).") from exc
    finally:
        pdf.close()


@dataclass(frozen=True)
class Recognized:
    text: str
    confidence: float  # mean word confidence, 0-100
    words: int


def text_from_tsv(tsv: str) -> Recognized:
    """Tesseract's TSV (one row per word, with its block, paragraph and line) as text:
    words of a line joined by spaces, a blank line between paragraphs."""
    lines: list[str] = []
    words: list[str] = []
    confidences: list[float] = []
    current: tuple[str, str, str] | None = None
    paragraph: tuple[str, str] | None = None
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        key = (cells[2], cells[3], cells[4])
        if key != current:
            if words:
                lines.append(" ".join(words))
            words = []
            if paragraph is not None and key[:2] != paragraph:
                lines.append("")
            current, paragraph = key, key[:2]
        words.append(cells[11].strip())
        try:
            confidences.append(max(0.0, float(cells[10])))
        except ValueError:
            continue
    if words:
        lines.append(" ".join(words))
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return Recognized(text="\n".join(lines), confidence=mean, words=len(confidences))


def recognize(png: bytes, *, language: str = "") -> Recognized:
    """Tesseract's text for one page image. Raises OcrError (missing, timed out, failed)."""
    command = tesseract_command()
    if command is None:
        raise OcrError(missing_message())
    language = language or settings.CARREL_OCR_LANGUAGE
    timeout = settings.CARREL_OCR_PAGE_SECONDS
    # One thread per tesseract: the worker's processes already use the cores.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory(prefix="carrel-ocr-") as folder:
        image = Path(folder) / "page.png"
        image.write_bytes(png)
        try:
            done = subprocess.run(  # a fixed argv, no shell
                [command, str(image), "stdout", "-l", language, "--psm", "3", "tsv"],
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OcrError(f"OCR took longer than {timeout} s on this page.") from exc
        except OSError as exc:
            raise OcrError(f"Tesseract could not be started ({exc}).") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = detail[-1][:200] if detail else f"exit status {done.returncode}"
        raise OcrError(f"Tesseract failed on this page ({reason}).")
    # TSV repeats each word's position: about eight times the text's size.
    tsv = done.stdout[: MAX_PAGE_CHARS * 8].decode("utf-8", "replace")
    found = text_from_tsv(tsv)
    return Recognized(found.text[:MAX_PAGE_CHARS], found.confidence, found.words)


def ocr_page(path: Path | str, *, number: int, password: str = "") -> str:
    """The recognized (not yet normalized) text of one scanned page. Raises OcrError, also
    when Tesseract is too unsure of what it read to trust it."""
    found = recognize(render_page(path, number=number, password=password).png)
    if found.words and found.confidence < MIN_CONFIDENCE:
        language = settings.CARREL_OCR_LANGUAGE
        raise OcrError(
            f"OCR was unsure of what it read (confidence {round(found.confidence)} of 100); "
            f"the page may be in another language or script than {language!r} "
            "(CARREL_OCR_LANGUAGE) or too blurred."
        )
    return found.text


# --- Vision: the active Ollama model reads the page image ------------------------------------

TRANSCRIBE_PROMPT = (
    "This image is one page of a scanned document. Transcribe all of its text exactly as "
    "written, in reading order (column by column), one paragraph per line group. Do not "
    "summarize, translate, explain or add anything; write only the page's text. If the page "
    "has no text, answer with nothing."
)
# A dense page is about 1,500 tokens; the model may not write more than this for one page.
TRANSCRIBE_MAX_TOKENS = 3000
# The vision model gets a smaller image than Tesseract: it scales images itself.
VISION_DPI = 150


def model_reads_images(runtime: ModelRuntime) -> bool:
    """Whether the active model is an Ollama model whose /api/show lists "vision"."""
    from workspace.runtime.ollama import OllamaRuntime

    if not isinstance(runtime, OllamaRuntime):
        return False
    try:
        client = ollama.Client(host=runtime.host, timeout=10)
        shown = client.show(runtime.model)
    except Exception:  # unreachable or unknown model: no vision, Tesseract reads the page
        return False
    return "vision" in (shown.capabilities or [])


def transcribe_page(
    runtime: ModelRuntime, path: Path | str, *, number: int, password: str = ""
) -> str:
    """The model's transcription of one page image. Raises OcrError (and the runtime's
    ModelRuntimeError, which the caller turns into a fallback)."""
    rendered = render_page(path, number=number, password=password, dpi=VISION_DPI)
    result = runtime.chat(
        [Message(role="user", content=TRANSCRIBE_PROMPT, images=(rendered.png,))],
        max_tokens=TRANSCRIBE_MAX_TOKENS,
        temperature=0.0,
    )
    return result.text[:MAX_PAGE_CHARS]
