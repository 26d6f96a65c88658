"""Reading files into pages: real PDFs, broken and encrypted PDFs, text and Markdown."""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from research.library.extraction import (
    ExtractionError,
    file_type_for,
    normalize_pdf_text,
    open_pdf,
    open_pdf_reused,
    pdf_info,
    pdf_pages,
    text_pages,
)
from research.models import Document
from tests.research.ingest_support import blank_pdf

ErrorCode = Document.ErrorCode


def test_every_page_of_a_real_paper_is_read_in_order_with_its_number(shared_data):
    path = shared_data / "papers" / "pdflatex-4-pages.pdf"
    reader = open_pdf(path)
    info = pdf_info(reader, fallback_title="fallback")
    pages = list(pdf_pages(reader, first=1, last=info.page_count))
    raw = [page.extract_text() for page in PdfReader(path).pages]

    assert info.page_count == len(raw) == 4
    assert [page.number for page in pages] == [1, 2, 3, 4]
    assert [page.label for page in pages] == ["p. 1", "p. 2", "p. 3", "p. 4"]
    for page, original in zip(pages, raw, strict=True):
        # the same words as pypdf's own text, in the same order
        assert page.text.split()[:20] == " ".join(original.split()).split()[:20]


def test_a_page_range_reads_only_those_pages(shared_data):
    reader = open_pdf(shared_data / "papers" / "GeoTopo-komprimiert.pdf")
    pages = list(pdf_pages(reader, first=58, last=60))
    assert [page.number for page in pages] == [58, 59, 60]
    assert all(page.text for page in pages)


def test_title_and_metadata_come_from_the_pdf_when_it_has_them(shared_data):
    geo = pdf_info(open_pdf(shared_data / "papers" / "GeoTopo-komprimiert.pdf"), fallback_title="x")
    assert geo.title == "Geometrie und Topologie"
    assert geo.metadata["author"] == "Martin Thoma"
    assert geo.metadata["created"] == "2016-12-31"
    untitled = pdf_info(
        open_pdf(shared_data / "papers" / "pdflatex-4-pages.pdf"), fallback_title="pdflatex-4"
    )
    assert untitled.title == "pdflatex-4"


def test_normalizing_joins_hyphenated_words_ligatures_and_spaces_and_drops_nul():
    text = "Wegen Bemer-\nkung 55 ist die ﬁnale   Aussage\x00 klar.\nNext line"
    normalized = normalize_pdf_text(text)
    assert "Bemerkung 55" in normalized
    assert "finale Aussage" in normalized
    assert "\x00" not in normalized and "\ufffd" in normalized
    # a hyphen before a capital letter is a real dash, not hyphenation
    assert normalize_pdf_text("Nord-\nSüd") == "Nord-\nSüd"


def test_an_empty_file_is_refused_as_empty(shared_data):
    with pytest.raises(ExtractionError) as caught:
        open_pdf(shared_data / "pdfs-bad" / "empty.pdf")
    assert caught.value.code == ErrorCode.EMPTY


def test_pypdf_recovers_the_corrupted_and_malformed_samples_text(shared_data):
    zen = open_pdf(shared_data / "pdfs-bad" / "corrupted-zen.pdf")
    text = next(iter(pdf_pages(zen, first=1, last=1))).text
    assert "Beautiful is better than ugly." in text
    malformed = open_pdf(shared_data / "pdfs-bad" / "malformed-issue-932.pdf")
    page = next(iter(pdf_pages(malformed, first=1, last=1)))
    assert page.has_images and page.letters < 16  # an image page with a date stamp on it


def test_a_truncated_pdf_is_refused_as_damaged(shared_data, tmp_path):
    data = (shared_data / "papers" / "pdflatex-4-pages.pdf").read_bytes()
    truncated = tmp_path / "cut.pdf"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError) as caught:
        open_pdf(truncated)
    assert caught.value.code == ErrorCode.DAMAGED
    assert "damaged" in caught.value.message


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("encrypted-libreoffice-openpassword.pdf", "openpassword"),
        ("encrypted-r6-user-asdfzxcv.pdf", "asdfzxcv"),
    ],
)
def test_an_encrypted_pdf_asks_for_its_password_and_opens_with_the_right_one(
    shared_data, name, password
):
    path = shared_data / "pdfs-bad" / name
    with pytest.raises(ExtractionError) as asked:
        open_pdf(path)
    assert asked.value.code == ErrorCode.NEEDS_PASSWORD
    with pytest.raises(ExtractionError) as wrong:
        open_pdf(path, password="not-it")
    assert wrong.value.code == ErrorCode.WRONG_PASSWORD
    assert "did not open" in wrong.value.message
    reader = open_pdf(path, password=password)
    assert next(iter(pdf_pages(reader, first=1, last=1))).letters > 16


def test_a_pdf_of_blank_pages_has_no_text_and_no_images(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(blank_pdf(pages=3))
    pages = list(pdf_pages(open_pdf(path), first=1, last=3))
    assert [page.letters for page in pages] == [0, 0, 0]


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("paper.pdf", b"%PDF-1.7\n...", Document.FileType.PDF),
        ("notes.txt", "Plain words, ünïcode.\n".encode(), Document.FileType.TEXT),
        ("notes.md", b"# Heading\n\ntext", Document.FileType.MARKDOWN),
    ],
)
def test_a_file_type_is_taken_from_its_name_when_the_content_agrees(name, head, expected):
    assert file_type_for(name=name, head=head) == expected


@pytest.mark.parametrize(
    ("name", "head", "code", "words"),
    [
        ("paper.pdf", b"Just some notes, not a PDF.\n", ErrorCode.WRONG_TYPE, "plain text"),
        ("paper.pdf", b"PK\x03\x04rest-of-zip", ErrorCode.WRONG_TYPE, "ZIP archive"),
        ("notes.txt", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3", ErrorCode.WRONG_TYPE, "Rename it to .pdf"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00", ErrorCode.WRONG_TYPE, "PNG image"),
        ("report.docx", b"PK\x03\x04", ErrorCode.UNSUPPORTED, ".docx"),
    ],
)
def test_a_file_that_is_not_what_its_name_claims_is_refused_with_what_it_is(
    name, head, code, words
):
    with pytest.raises(ExtractionError) as caught:
        file_type_for(name=name, head=head)
    assert caught.value.code == code
    assert words in caught.value.message


def test_markdown_becomes_one_page_per_section_labelled_by_heading_and_lines():
    text = (
        "# Field notes\n\nIntro line.\n\n## Rivers\n\nThe Elbe floods.\n\n"
        "```\n# not a heading\n```\n\n## Hills\n\nSteep.\n"
    )
    info, pages = text_pages(text.encode(), file_type=Document.FileType.MARKDOWN, name="n.md")
    assert info.title == "Field notes"
    assert [page.label for page in pages] == [
        "Field notes (lines 1-4)",
        "Rivers (lines 5-12)",
        "Hills (lines 13-15)",
    ]
    assert "# not a heading" in pages[1].text


def test_long_plain_text_is_cut_into_line_ranges_at_blank_lines():
    paragraphs = [f"Paragraph {i} line one.\nParagraph {i} line two." for i in range(60)]
    data = "\n\n".join(paragraphs).encode()
    info, pages = text_pages(data, file_type=Document.FileType.TEXT, name="long.txt")
    assert info.page_count == len(pages) > 1
    lines = data.decode().split("\n")
    for page in pages:
        first, last = (int(n) for n in page.label.removeprefix("lines ").split("-"))
        assert page.text == "\n".join(lines[first - 1 : last]).strip("\n")
    assert "\n".join(page.text for page in pages).count("Paragraph") == 120


def test_a_text_file_with_binary_content_is_refused():
    with pytest.raises(ExtractionError) as caught:
        text_pages(b"\x00\x01\x02binary", file_type=Document.FileType.TEXT, name="x.txt")
    assert caught.value.code == ErrorCode.WRONG_TYPE


def test_a_pdf_opened_again_in_the_same_process_reuses_its_parsed_reader(shared_data, tmp_path):
    """Each ingestion step opens the stored file; parsing it once saves a tenth of the time
    (bench/ingest.py). A changed file, another password or a failure is never reused."""
    path = tmp_path / "paper.pdf"
    path.write_bytes((shared_data / "papers" / "pdflatex-4-pages.pdf").read_bytes())
    first = open_pdf_reused(path)
    assert open_pdf_reused(path) is first

    path.write_bytes((shared_data / "papers" / "multicolumn.pdf").read_bytes())
    changed = open_pdf_reused(path)
    assert changed is not first
    assert len(changed.pages) == len(PdfReader(path).pages)

    locked = tmp_path / "locked.pdf"
    locked.write_bytes((shared_data / "pdfs-bad" / "encrypted-r6-user-asdfzxcv.pdf").read_bytes())
    with pytest.raises(ExtractionError):
        open_pdf_reused(locked, password="wrong")
    assert len(open_pdf_reused(locked, password="asdfzxcv").pages) >= 1
