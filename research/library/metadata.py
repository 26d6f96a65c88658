"""A paper's bibliographic metadata from its PDF: title, authors, year, DOI and abstract.

Read from the PDF's own metadata (title, author, creation date) and its first page's text,
with plain string operations only: no regular expression runs on document text. Every
guess is conservative; a person can correct any field on the document's page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_TITLE = 300
MAX_AUTHORS = 30
MAX_AUTHOR = 120
MAX_DOI = 200
MAX_ABSTRACT = 4000
# Only this much of the first page is read: titles, authors and abstracts are near the top.
FIRST_PAGE_CHARS = 12_000
MIN_YEAR = 1800
MAX_YEAR = 2100

# PDF titles that are no title: what word processors and converters write by default.
_PLACEHOLDER_TITLES = ("untitled", "microsoft word", "document", "title", "slide 1", "pdf")
_PLACEHOLDER_SUFFIXES = (".doc", ".docx", ".dvi", ".tex", ".pdf", ".odt", ".rtf", ".ps")
# Lines at the top of a first page that are not the title.
_NOT_TITLE_STARTS = (
    "arxiv",
    "doi",
    "http",
    "www.",
    "preprint",
    "proceedings",
    "journal",
    "vol.",
    "volume",
    "contents",
    "published",
    "received",
    "copyright",
    "©",
    "abstract",
    "issn",
    "page ",
)
_ABSTRACT_WORDS = ("abstract", "summary")
_ABSTRACT_ENDS = (
    "keywords",
    "key words",
    "index terms",
    "introduction",
    "1 introduction",
    "1. introduction",
    "i. introduction",
    "1 background",
    "contents",
    "ccs concepts",
)
_NAME_JOINERS = {"van", "von", "der", "de", "den", "la", "le", "du", "da", "di", "del", "y"}
_AUTHOR_MARKS = "*†‡§¶\u2217\u22c6#0123456789,"  # incl. the asterisk operator, star
_DOI_END_PUNCTUATION = ".,;:)]}>'\""


@dataclass(frozen=True)
class PaperMetadata:
    title: str = ""
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    doi: str = ""
    abstract: str = ""


# --- DOI -------------------------------------------------------------------------------------


def find_doi(text: str) -> str:
    """The first DOI in text ("10." + a registrant of digits and dots + "/" + a suffix up to
    the next space), without trailing punctuation; "" when there is none."""
    start = 0
    while True:
        at = text.find("10.", start)
        if at < 0:
            return ""
        start = at + 3
        if at > 0 and (text[at - 1].isalnum() or text[at - 1] == "."):
            continue  # part of a longer number ("210.5")
        end = at + 3
        while end < len(text) and end - at < 20 and (text[end].isdecimal() or text[end] == "."):
            end += 1
        registrant = text[at + 3 : end]
        if len(registrant) < 4 or not registrant[0].isdecimal() or end >= len(text):
            continue
        if text[end] != "/":
            continue
        stop = end + 1
        while stop < len(text) and stop - at < MAX_DOI and not text[stop].isspace():
            stop += 1
        doi = text[at:stop].rstrip(_DOI_END_PUNCTUATION)
        if len(doi) > end + 1 - at:
            return doi
    return ""


def clean_doi(value: str) -> str:
    """A DOI as typed or pasted ("https://doi.org/10.1/x", "doi:10.1/x") reduced to 10.1/x."""
    value = value.strip()
    return find_doi(value) or ""


# --- Year ------------------------------------------------------------------------------------


def _years(text: str) -> list[int]:
    """Four-digit numbers in text that could be a publication year, in order."""
    found = []
    index = 0
    length = len(text)
    while index < length:
        if not text[index].isdecimal():
            index += 1
            continue
        end = index
        while end < length and text[end].isdecimal():
            end += 1
        if end - index == 4 and (index == 0 or text[index - 1] not in "./:-"):
            value = int(text[index:end])
            if MIN_YEAR <= value <= MAX_YEAR:
                found.append(value)
        index = end
    return found


def year_from_date(value: str) -> int | None:
    """The year of a date such as "2022-04-03" (what extraction keeps of a PDF date)."""
    head = value.strip()[:4]
    if len(head) == 4 and head.isdecimal() and MIN_YEAR <= int(head) <= MAX_YEAR:
        return int(head)
    return None


# --- Authors ---------------------------------------------------------------------------------


def split_authors(value: str) -> list[str]:
    """Names from a PDF's /Author or a typed list: "A and B", "A; B", "A, B, and C", or
    "Last, First" for one person."""
    value = " ".join(value.split())
    if not value:
        return []
    for joiner in (" and ", " & ", " AND "):
        value = value.replace(joiner, ";")
    if ";" in value:
        parts = value.split(";")
    elif "," in value:
        pieces = [piece.strip() for piece in value.split(",") if piece.strip()]
        # "Smith, John" is one person; "John Smith, Jane Doe" two.
        parts = [value] if all(len(p.split()) == 1 for p in pieces) and len(pieces) == 2 else pieces
    else:
        parts = [value]
    names = [" ".join(part.split())[:MAX_AUTHOR] for part in parts]
    return [name for name in names if name][:MAX_AUTHORS]


def family_name(author: str) -> str:
    """The family name of "First Last", "Last, First" or "First van der Last"."""
    author = author.strip()
    if "," in author:
        return author.split(",", 1)[0].strip()
    words = author.split()
    if not words:
        return ""
    family = [words[-1]]
    for word in reversed(words[:-1]):
        if word.casefold() in _NAME_JOINERS:
            family.insert(0, word)
        else:
            break
    return " ".join(family)


def _strip_marks(word: str) -> str:
    return word.strip(_AUTHOR_MARKS + " ")


def _looks_like_name(part: str) -> bool:
    words = [_strip_marks(word) for word in part.split()]
    words = [word for word in words if word]
    if not 2 <= len(words) <= 5:
        return False
    for word in words:
        if word.casefold() in _NAME_JOINERS:
            continue
        if not word[0].isupper() or not all(c.isalpha() or c in ".-'\u2019" for c in word):
            return False
    return True


def authors_from_line(line: str) -> list[str]:
    """The names on an author line ("Ada Lovelace1, Charles Babbage* and Mary Somerville"),
    or [] when the line does not look like one."""
    line = line.replace(" and ", ",").replace(" & ", ",").replace("·", ",")
    parts = [part.strip() for part in line.split(",")]
    parts = [part for part in parts if _strip_marks(part)]
    if not parts or len(parts) > MAX_AUTHORS:
        return []
    if not all(_looks_like_name(part) for part in parts):
        return []
    return [" ".join(_strip_marks(w) for w in part.split() if _strip_marks(w)) for part in parts]


# --- Title and abstract ----------------------------------------------------------------------


def usable_pdf_title(title: str, *, file_stem: str = "") -> bool:
    """Whether a PDF's /Title names the work (not "Microsoft Word - draft.docx", not empty,
    not the file's own name)."""
    folded = title.strip().casefold()
    if len(folded) < 4 or not any(c.isalpha() for c in folded):
        return False
    if file_stem and folded == file_stem.strip().casefold():
        return False
    if folded.endswith(_PLACEHOLDER_SUFFIXES):
        return False
    return not any(folded.startswith(word) for word in _PLACEHOLDER_TITLES)


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text[:FIRST_PAGE_CHARS].split("\n")]


def _continues_sentence(line: str) -> bool:
    """A comma followed by a lowercase word: body text ("Hello, here is some text"), not a
    title."""
    at = line.find(", ")
    while at >= 0:
        if line[at + 2 : at + 3].islower():
            return True
        at = line.find(", ", at + 2)
    return False


def _title_line(line: str) -> bool:
    folded = line.casefold()
    letters = sum(1 for c in line if c.isalpha())
    words = line.split()
    return (
        2 <= len(words) <= 30
        and letters >= 0.6 * len(line.replace(" ", ""))
        and not folded.startswith(_NOT_TITLE_STARTS)
        and len(words) <= 20
        and not line[0].isdecimal()
        and not line.endswith((".", ",", ";"))
        and not _continues_sentence(line)
        and find_doi(line) == ""
    )


def title_from_first_page(text: str) -> tuple[str, int]:
    """The first line near the top of the page that reads like a title, and its line index;
    ("", -1) when none of the first lines does."""
    lines = _lines(text)
    for index, line in enumerate(lines[:8]):
        if line and _title_line(line):
            return line[:MAX_TITLE], index
        if len(line) > 60:
            break  # running text: the page starts without a title
    return "", -1


def abstract_from_first_page(text: str) -> str:
    """The paragraph after a line that starts with "Abstract" (or "Summary"), up to the
    keywords or the introduction."""
    lines = _lines(text)
    start = -1
    first = ""
    for index, line in enumerate(lines):
        folded = line.casefold()
        word = next((w for w in _ABSTRACT_WORDS if folded.startswith(w)), None)
        if word is None:
            continue
        rest = line[len(word) :]
        if rest and rest[0].isalpha():
            continue  # "Abstraction", "Summary statistics"
        start = index
        first = rest.lstrip(" .:\u2014\u2013-")
        break
    if start < 0:
        return ""
    kept = [first] if first else []
    size = len(first)
    for line in lines[start + 1 :]:
        folded = line.casefold()
        if folded.startswith(_ABSTRACT_ENDS):
            break
        if not line:  # a paragraph end (extraction marks them): the abstract's, once begun
            if size >= 40:
                break
            continue
        kept.append(line)
        size += len(line) + 1
        if size >= MAX_ABSTRACT:
            break
    joined = ""
    for line in kept:
        if joined.endswith("-") and line[:1].islower():
            joined = joined[:-1] + line
        else:
            joined = f"{joined} {line}" if joined else line
    return joined[:MAX_ABSTRACT].strip()


# --- Everything together ---------------------------------------------------------------------


def paper_metadata(
    *, pdf_metadata: dict[str, str], first_page: str, file_stem: str = ""
) -> PaperMetadata:
    """What can be told about a paper from its PDF metadata and first page's text."""
    first_page = first_page[:FIRST_PAGE_CHARS]
    pdf_title = pdf_metadata.get("title", "")
    title = pdf_title if usable_pdf_title(pdf_title, file_stem=file_stem) else ""
    page_title, title_index = title_from_first_page(first_page)
    lines = _lines(first_page)
    if not title:
        title = page_title
    else:  # find the metadata's title on the page, so the author line after it is found
        wanted = title.casefold()
        title_index = next(
            (i for i, line in enumerate(lines[:12]) if line and line.casefold() in wanted),
            title_index,
        )
    authors = split_authors(pdf_metadata.get("author", ""))
    if not authors and title_index >= 0:
        for line in lines[title_index + 1 : title_index + 4]:
            authors = authors_from_line(line)
            if authors:
                break
    doi = find_doi(first_page) or find_doi(
        " ".join(pdf_metadata.get(key, "") for key in ("subject", "keywords"))
    )
    abstract = abstract_from_first_page(first_page)
    head = first_page
    cut = head.casefold().find("abstract")
    if cut > 0:
        head = head[:cut]
    years = _years(head.replace(doi, " ") if doi else head)
    year = years[0] if years else year_from_date(pdf_metadata.get("created", ""))
    return PaperMetadata(
        title=title[:MAX_TITLE], authors=authors, year=year, doi=doi, abstract=abstract
    )
