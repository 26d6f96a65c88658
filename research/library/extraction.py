"""Reading uploaded files into numbered, normalized pages.

PDFs are read with pypdf one page range at a time (so a long PDF can be split across
workers); plain text and Markdown become numbered sections with line ranges. Everything a
person could upload by mistake ends as an ExtractionError with a code and a sentence they
can act on; nothing else escapes from here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import statistics
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import FileNotDecryptedError, PdfStreamError

from research.markdown import Heading, front_matter_title, markdown_headings
from research.models import Document

ErrorCode = Document.ErrorCode
FileType = Document.FileType

PDF_EXTENSIONS = {".pdf"}
TEXT_EXTENSIONS = {".txt", ".text"}
MARKDOWN_EXTENSIONS = {".md", ".markdown"}
SNIFF_BYTES = 8192
# A page with fewer letters or digits than this has no usable text layer.
MIN_PAGE_CHARS = 16
# Plain text and Markdown sections are cut to about this many lines.
SECTION_LINES = 60


class ExtractionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PageContent:
    number: int
    label: str
    text: str
    has_images: bool = False
    error: str = ""
    ocr: bool = False  # the text was recognized from the page's image (research/library/ocr.py)
    ocr_error: str = ""  # why a scanned page could not be recognized
    ocr_engine: str = ""  # "tesseract", or "vision" (the model transcribed the page image)

    @property
    def scanned(self) -> bool:
        """No usable text layer, but images: a scan, worth OCR."""
        return self.has_images and not self.error and self.letters < MIN_PAGE_CHARS

    @property
    def letters(self) -> int:
        return sum(1 for char in self.text if char.isalnum())


@dataclass(frozen=True)
class DocumentInfo:
    page_count: int
    title: str
    metadata: dict[str, str] = field(default_factory=dict)


# --- File types --------------------------------------------------------------------------


def describe_bytes(head: bytes) -> str:
    """What a file's first bytes look like, in words."""
    signatures = [
        (b"%PDF-", "a PDF"),
        (b"PK\x03\x04", "a ZIP archive (a Word, EPUB or ZIP file)"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file"),
        (b"{\\rtf", "an RTF document"),
        (b"\x1f\x8b", "a gzip archive"),
    ]
    stripped = head.lstrip()
    for signature, name in signatures:
        if stripped.startswith(signature):
            return name
    # The PDF header may follow up to 1 KB of junk that is not text.
    at = head.find(b"%PDF-", 0, 1024)
    if at > 0 and _decode_text(head[:at], partial=True) is None:
        return "a PDF"
    if stripped[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if _decode_text(head, partial=True) is not None:
        return "plain text"
    return "binary data"


def file_type_for(*, name: str, head: bytes) -> str:
    """The FileType of an upload from its name, checked against its first bytes."""
    suffix = PurePath(name).suffix.lower()
    kind = describe_bytes(head)
    if suffix in PDF_EXTENSIONS:
        if kind != "a PDF":
            hint = " Rename it to .txt or .md to add it as text." if kind == "plain text" else ""
            raise ExtractionError(
                ErrorCode.WRONG_TYPE,
                f"“{name}” is named .pdf but is not a PDF: it contains {kind}.{hint}",
            )
        return FileType.PDF
    if suffix in TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS:
        if kind != "plain text":
            hint = " Rename it to .pdf to add it as a PDF." if kind == "a PDF" else ""
            raise ExtractionError(
                ErrorCode.WRONG_TYPE,
                f"“{name}” is named {suffix} but is not a text file: it contains {kind}.{hint}",
            )
        return FileType.MARKDOWN if suffix in MARKDOWN_EXTENSIONS else FileType.TEXT
    what = f"is a {suffix} file" if suffix else "has no file extension"
    raise ExtractionError(
        ErrorCode.UNSUPPORTED,
        f"Carrel reads PDF (.pdf), plain text (.txt) and Markdown (.md) files; “{name}” {what}.",
    )


# --- Normalization ---------------------------------------------------------------------------

_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st", "\u00ad": ""}
)
# C0 controls other than tab and newline; NUL becomes U+FFFD (PostgreSQL text cannot hold it).
_CONTROLS = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")
_TEXT_CONTROLS = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")  # keeps form feeds (page breaks)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u3000]+")
_HYPHENATED = re.compile(r"(?<=[^\W\d_])-\n(?=[a-zäöüßàâçéèêëîïôûùüÿñæœ])")
_SENTENCE_END = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]?$")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_pdf_text(text: str) -> str:
    """Tidy pypdf's text: whitespace, ligatures, hyphenation; mark paragraph ends.

    pypdf separates lines but not paragraphs. A line that ends a sentence and is clearly
    shorter than the page's usual line closes a paragraph, so chunking can cut there.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)
    text = _CONTROLS.sub(" ", text.replace("\x00", "\ufffd"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = _HYPHENATED.sub("", "\n".join(lines))
    lines = text.split("\n")
    lengths = [len(line) for line in lines if len(line) > 20]
    typical = statistics.median(lengths) if len(lengths) >= 4 else 0
    out: list[str] = []
    for index, line in enumerate(lines):
        out.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            typical
            and line
            and following
            and len(line) < 0.8 * typical
            and _SENTENCE_END.search(line)
        ):
            out.append("")
    return _BLANK_RUNS.sub("\n\n", "\n".join(out)).strip()


def normalize_plain_text(text: str) -> str:
    """Newlines, trailing spaces and control characters; indentation is kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = _TEXT_CONTROLS.sub(" ", text.replace("\x00", "\ufffd"))
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


# --- PDF ---------------------------------------------------------------------------------


class _CaptureLogs(logging.Handler):
    """Collect pypdf's and fontTools' warnings instead of letting them flood worker logs."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages and len(self.messages) < 20:
            self.messages.append(message)


@contextlib.contextmanager
def _quiet_pdf_logs() -> Iterator[_CaptureLogs]:
    handler = _CaptureLogs()
    loggers = [logging.getLogger(name) for name in ("pypdf", "fontTools")]
    saved = [(logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        for logger, (propagate, level) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


def _damaged(detail: str) -> ExtractionError:
    return ExtractionError(
        ErrorCode.DAMAGED,
        f"This PDF is damaged and cannot be read ({detail}). Download or export it again, "
        "then upload the new copy.",
    )


def _empty_user_password(reader: PdfReader) -> bool:
    """Whether the file opens without a password, as a PDF viewer would open it.

    pypdf tries the owner password first, so decrypt("") succeeds on files whose *owner*
    password is empty even when opening them needs a user password; viewers ask for it.
    """
    result = reader.decrypt("")
    if result != PasswordType.OWNER_PASSWORD:
        return result == PasswordType.USER_PASSWORD
    try:  # pypdf has no public call for "is the user password empty?"
        from pypdf._encryption import AlgV4, AlgV5

        enc = reader._encryption
        assert enc is not None
        if enc.V <= 4:
            key = AlgV4.verify_user_password(
                b"", enc.R, enc.Length, enc.values.O, enc.values.U, enc.P, enc.id1_entry,
                enc.EncryptMetadata,
            )  # fmt: skip
        else:
            key = AlgV5.verify_user_password(enc.R, b"", enc.values.U, enc.values.UE)
        return bool(key)
    except Exception:
        return True


def open_pdf(path: Path | str, *, password: str = "") -> PdfReader:
    """A readable PdfReader, or an ExtractionError saying why not."""
    try:
        if Path(path).stat().st_size == 0:
            raise ExtractionError(ErrorCode.EMPTY, "The file is empty (0 bytes).")
        with _quiet_pdf_logs():
            reader = PdfReader(str(path))
            if reader.is_encrypted:
                if password:
                    if reader.decrypt(password) == PasswordType.NOT_DECRYPTED:
                        raise ExtractionError(
                            ErrorCode.WRONG_PASSWORD,
                            "That password did not open this PDF. Check it (passwords are "
                            "case-sensitive) and try again.",
                        )
                elif not _empty_user_password(reader):
                    raise ExtractionError(
                        ErrorCode.NEEDS_PASSWORD,
                        "This PDF is protected by a password. Enter it to continue.",
                    )
            len(reader.pages)  # parses the page tree: damage shows up here
    except ExtractionError:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionError(
            ErrorCode.NEEDS_PASSWORD, f"This PDF needs a password ({exc})."
        ) from exc
    except PdfStreamError as exc:
        raise _damaged(f"the file ends too early: {exc}") from exc
    except Exception as exc:  # pypdf raises many types on broken input
        raise _damaged(f"{type(exc).__name__}: {exc}") from exc
    return reader


@lru_cache(maxsize=1)
def _reader_for(path: str, mtime_ns: int, size: int, password: str, thread: int) -> PdfReader:
    return open_pdf(path, password=password)


def open_pdf_reused(path: Path, *, password: str = "") -> PdfReader:
    """open_pdf, but the same file (same path, size and modification time) opened again in
    this process gets the reader already parsed: a document's planning step and each of its
    page ranges open it, and parsing the cross-reference table and page tree cost more than
    a tenth of ingestion (bench/ingest.py). Errors are not cached, and a reader is never
    shared between threads (pypdf is not thread-safe; workers are prefork processes)."""
    stat = path.stat()
    return _reader_for(str(path), stat.st_mtime_ns, stat.st_size, password, threading.get_ident())


def _pdf_string(value: object) -> str:
    text = str(value).strip() if value is not None else ""
    return text.replace("\x00", "")[:500]


_METADATA_KEYS = {
    "/Title": "title",
    "/Author": "author",
    "/Subject": "subject",
    "/Keywords": "keywords",
    "/Creator": "creator",
    "/Producer": "producer",
    "/CreationDate": "created",
    "/ModDate": "modified",
}
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?")


def _pdf_value(key: str, value: object) -> str:
    text = _pdf_string(value)
    if key in ("/CreationDate", "/ModDate") and (match := _PDF_DATE.match(text)):
        return "-".join(part for part in match.groups() if part)
    return text


def pdf_info(reader: PdfReader, *, fallback_title: str) -> DocumentInfo:
    with _quiet_pdf_logs():
        try:
            raw: Any = reader.metadata or {}
        except Exception:
            raw = {}
        metadata = {
            name: _pdf_value(key, raw.get(key))
            for key, name in _METADATA_KEYS.items()
            if _pdf_value(key, raw.get(key))
        }
        count = len(reader.pages)
    title = metadata.get("title", "") or fallback_title
    return DocumentInfo(page_count=count, title=title[:300], metadata=metadata)


def _has_images(page: PageObject) -> bool:
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        if not xobjects:
            return False
        return any(
            xobject.get_object().get("/Subtype") in ("/Image", "/Form")
            for xobject in xobjects.get_object().values()
        )
    except Exception:
        return False


def pdf_pages(reader: PdfReader, *, first: int, last: int) -> Iterator[PageContent]:
    """Pages first..last (1-based, inclusive). A page pypdf cannot read comes back empty
    with its error, so one bad page never stops the rest."""
    for number in range(first, last + 1):
        with _quiet_pdf_logs():
            try:
                page = reader.pages[number - 1]
                raw = page.extract_text() or ""
                error = ""
            except Exception as exc:
                page, raw, error = None, "", f"{type(exc).__name__}: {exc}"[:300]
            text = normalize_pdf_text(raw)
            content = PageContent(number=number, label=f"p. {number}", text=text, error=error)
            if page is not None and content.letters < MIN_PAGE_CHARS:
                content = PageContent(
                    number=number, label=content.label, text=text, has_images=_has_images(page)
                )
        yield content


# --- Plain text and Markdown ----------------------------------------------------------------


def _decode_text(data: bytes, *, partial: bool = False) -> str | None:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; None for binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None if not partial else data[: len(data) // 2 * 2].decode("utf-16", "replace")
    if b"\x00" in data[:SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if partial and exc.start >= len(data) - 4:  # a character cut at the sniff boundary
            return data[: exc.start].decode("utf-8-sig")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for char in text if char.isprintable() or char in "\n\r\t")
    return text if printable >= 0.95 * max(1, len(text)) else None


@dataclass(frozen=True)
class _Section:
    heading: str
    start_line: int  # 1-based
    lines: list[str]


def _markdown_sections(
    lines: list[str], *, headings: list[Heading], first_line: int = 1
) -> list[_Section]:
    """Sections starting at each heading; `headings` index into `lines`."""
    sections: list[_Section] = []
    heading, start = "", first_line
    current: list[str] = []
    at = {found.line: found.text for found in headings}
    for index, line in enumerate(lines, start=first_line):
        text = at.get(index - first_line)
        if text is not None and current and any(part.strip() for part in current):
            sections.append(_Section(heading, start, current))
            heading, start, current = "", index, []
        if text is not None:
            heading = text
        current.append(line)
    if current:
        sections.append(_Section(heading, start, current))
    return sections


def _split_lines(section: _Section) -> list[_Section]:
    """Cut a long section into pieces of about SECTION_LINES lines, at blank lines."""
    if len(section.lines) <= SECTION_LINES * 1.5:
        return [section]
    pieces: list[_Section] = []
    lines, offset = section.lines, 0
    while offset < len(lines):
        end = min(len(lines), offset + SECTION_LINES)
        if end < len(lines):
            window = range(end, max(offset + SECTION_LINES // 2, offset + 1), -1)
            end = next((i for i in window if not lines[i - 1].strip()), end)
        if len(lines) - end < SECTION_LINES // 2:
            end = len(lines)
        pieces.append(_Section(section.heading, section.start_line + offset, lines[offset:end]))
        offset = end
    return pieces


def too_many_pages(*, name: str, count: int | None, limit: int) -> ExtractionError:
    """The error for a document past CARREL_MAX_DOCUMENT_PAGES (count None: "more than")."""
    what = f"{count:,} pages" if count is not None else f"more than {limit:,} sections"
    return ExtractionError(
        ErrorCode.TOO_LARGE,
        f"“{name}” has {what}; Carrel reads at most {limit:,} pages or sections per document "
        "(CARREL_MAX_DOCUMENT_PAGES). Split it into smaller files and upload those.",
    )


def text_pages(
    data: bytes, *, file_type: str, name: str, max_pages: int = 0
) -> tuple[DocumentInfo, list[PageContent]]:
    """Numbered sections of a text or Markdown file, each labelled with its line range.
    With `max_pages`, a file of more sections than that is refused (ExtractionError)."""
    if not data:
        raise ExtractionError(ErrorCode.EMPTY, "The file is empty (0 bytes).")
    decoded = _decode_text(data)
    if decoded is None:
        raise ExtractionError(
            ErrorCode.WRONG_TYPE, f"“{name}” is not a text file: it contains binary data."
        )
    text = normalize_plain_text(decoded)
    lines = text.split("\n")
    title = PurePath(name).stem
    if file_type == FileType.MARKDOWN:
        body = 0  # the first line after YAML front matter, which is metadata, not a section
        if lines and lines[0].strip() == "---":
            end = next((i for i, line in enumerate(lines[1:80], 1) if line.strip() == "---"), 0)
            for line in lines[1:end]:
                title = front_matter_title(line) or title
            body = end + 1 if end else 0
        headings = markdown_headings(lines[body:])
        if headings and headings[0].level == 1 and title == PurePath(name).stem:
            title = headings[0].text
        raw_sections = _markdown_sections(lines[body:], headings=headings, first_line=body + 1)
    elif "\f" in text:
        raw_sections, start = [], 1
        for block in text.split("\f"):
            block_lines = block.split("\n")
            raw_sections.append(_Section("", start, block_lines))
            start += len(block_lines) - 1
    else:
        raw_sections = [_Section("", 1, lines)]
    sections = [piece for section in raw_sections for piece in _split_lines(section)]
    pages: list[PageContent] = []
    for section in sections:
        content = "\n".join(section.lines).strip("\n")
        if not content.strip():
            continue
        end_line = section.start_line + len(section.lines) - 1
        span = f"lines {section.start_line}-{end_line}"
        label = f"{section.heading[:150]} ({span})" if section.heading else span
        if max_pages and len(pages) >= max_pages:
            raise too_many_pages(name=name, count=None, limit=max_pages)
        pages.append(PageContent(number=len(pages) + 1, label=label, text=content))
    if not pages:
        raise ExtractionError(ErrorCode.NO_TEXT, "The file contains only blank lines.")
    info = DocumentInfo(page_count=len(pages), title=title.strip()[:300] or name)
    return info, pages


@lru_cache(maxsize=1)
def _text_pages_for(
    path: str, mtime_ns: int, size: int, file_type: str, name: str, max_pages: int
) -> tuple[DocumentInfo, list[PageContent]]:
    return text_pages(Path(path).read_bytes(), file_type=file_type, name=name, max_pages=max_pages)


def text_pages_reused(
    path: Path, *, file_type: str, name: str, max_pages: int = 0
) -> tuple[DocumentInfo, list[PageContent]]:
    """text_pages of a stored file, parsed once per process while the file is unchanged:
    a document's planning step and its extraction both read it (like open_pdf_reused).
    Errors are not cached; callers must not change the list they get."""
    stat = path.stat()
    return _text_pages_for(str(path), stat.st_mtime_ns, stat.st_size, file_type, name, max_pages)
