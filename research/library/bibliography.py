"""How documents are cited: "Author Year" labels, stable citation keys and BibTeX.

Labels and keys are computed over a whole project, in the order its documents were added,
so a document keeps the same label and key whichever documents an export or a prompt
holds: the first of two "Smith 2020" papers is "Smith 2020a" and the second "Smith 2020b";
keys are `familyYEARword` (`lovelace1843sketch`), the second with the same stem `...a`,
the third `...b`. A document without authors or a year is labelled by its title.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from research.citations import match_title, parse_citations
from research.library.metadata import family_name
from research.models import Document
from workspace.export_text import markdown_line, markdown_text

# Title words that never make a citation key's word.
_STOP_WORDS = {
    "a", "an", "the", "on", "of", "in", "for", "and", "to", "with", "at", "by", "from",
    "is", "are", "how", "what", "why", "towards", "toward", "via", "der", "die", "das",
    "ein", "eine", "le", "la", "les", "un", "une", "el", "los",
}  # fmt: skip
KEY_CHARS = "-_:./+"  # what a key may hold besides ASCII letters and digits
_BIBTEX_SPECIAL = {
    "\\": "\\textbackslash{}",
    "{": "\\{",
    "}": "\\}",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
}


@dataclass(frozen=True)
class Cited:
    """What citing one document needs (a row of values, no model instance)."""

    id: int
    title: str
    authors: tuple[str, ...]
    year: int | None
    doi: str = ""
    entry_type: str = ""
    imported_key: str = ""  # the key the entry had in an imported bibliography


def cited_from_document(document: Document) -> Cited:
    return Cited(
        id=document.pk,
        title=document.title,
        authors=tuple(_author_list(document.authors)),
        year=document.year,
        doi=document.doi,
        entry_type=document.entry_type,
        imported_key=document.citation_key,
    )


def _author_list(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(name) for name in value if str(name).strip()]


def _project_cited(project_id: int) -> list[Cited]:
    rows = (
        Document.objects.filter(project_id=project_id)
        .order_by("created_at", "id")
        .values_list("id", "title", "authors", "year", "doi", "entry_type", "citation_key")
    )
    return [
        Cited(
            id=row_id,
            title=title,
            authors=tuple(_author_list(authors)),
            year=year,
            doi=doi,
            entry_type=entry_type,
            imported_key=citation_key,
        )
        for row_id, title, authors, year, doi, entry_type, citation_key in rows
    ]


# --- "Author Year" ---------------------------------------------------------------------------


def author_year(cited: Cited) -> str:
    """ "Lovelace 1843", "Lovelace and Babbage 1843", "Lovelace et al. 1843"; "" unless
    both the authors and the year are known."""
    families = [family_name(author) for author in cited.authors]
    families = [name for name in families if name]
    if not families or cited.year is None:
        return ""
    if len(families) == 1:
        who = families[0]
    elif len(families) == 2:
        who = f"{families[0]} and {families[1]}"
    else:
        who = f"{families[0]} et al."
    return f"{who} {cited.year}"


def _letters(index: int) -> str:
    """a, b, …, z, aa, ab, …"""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("a") + rest) + text
    return text


def labels_for(cited: Iterable[Cited]) -> dict[int, str]:
    """Each document's citation label: "Author Year" (with a, b, … when two share it, in
    the order given) or else its title."""
    groups: dict[str, list[int]] = defaultdict(list)
    labels: dict[int, str] = {}
    for item in cited:
        label = author_year(item)
        if label:
            groups[label].append(item.id)
        else:
            labels[item.id] = item.title
    for label, ids in groups.items():
        for index, doc_id in enumerate(ids):
            labels[doc_id] = label if len(ids) == 1 else f"{label}{_letters(index)}"
    return labels


def citation_labels_for_project(*, project_id: int) -> dict[int, str]:
    """Document id → the label prompts and answers cite it by, over the whole project."""
    return labels_for(_project_cited(project_id))


# --- Citation keys ---------------------------------------------------------------------------


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def key_stem(cited: Cited) -> str:
    """familyYEARword: the first author's family name, the year ("nd" when unknown) and
    the title's first word that is not a stop word, in lowercase ASCII."""
    family = _ascii_word(family_name(cited.authors[0])) if cited.authors else ""
    word = ""
    for token in cited.title.split():
        candidate = _ascii_word(token)
        if candidate and candidate not in _STOP_WORDS:
            word = candidate
            break
    year = str(cited.year) if cited.year is not None else "nd"
    return f"{family or 'anon'}{year}{word[:20]}"


def _usable_key(key: str) -> bool:
    return 0 < len(key) <= 100 and all(c.isascii() and (c.isalnum() or c in KEY_CHARS) for c in key)


def keys_for(cited: Iterable[Cited]) -> dict[int, str]:
    """Each document's citation key: the key its imported entry had (so a LaTeX file
    written against the user's own .bib keeps working), else its stem, then stem + a, b, …
    for later documents with the same stem (in the order given)."""
    items = list(cited)
    keys: dict[int, str] = {}
    taken: set[str] = set()
    for item in items:
        if _usable_key(item.imported_key) and item.imported_key not in taken:
            keys[item.id] = item.imported_key
            taken.add(item.imported_key)
    for item in items:
        if item.id in keys:
            continue
        stem = key_stem(item)
        key, count = stem, 0
        while key in taken:
            key = f"{stem}{_letters(count)}"
            count += 1
        keys[item.id] = key
        taken.add(key)
    return keys


def citation_keys_for_project(*, project_id: int) -> dict[int, str]:
    return keys_for(_project_cited(project_id))


def citation_key_for_document(*, document: Document) -> str:
    return citation_keys_for_project(project_id=document.project_id)[document.pk]


# --- BibTeX ----------------------------------------------------------------------------------


def bibtex_escape(text: str) -> str:
    """A field value safe inside braces: TeX's special characters escaped, one line."""
    text = " ".join(text.split())
    return "".join(_BIBTEX_SPECIAL.get(char, char) for char in text)


def bibtex_entry(cited: Cited, key: str) -> str:
    entry_type = cited.entry_type if cited.entry_type.isalpha() else ""
    entry_type = entry_type or ("article" if cited.doi else "misc")
    fields = [("title", "{" + bibtex_escape(cited.title) + "}")]
    if cited.authors:
        fields.append(("author", " and ".join(bibtex_escape(a) for a in cited.authors)))
    if cited.year is not None:
        fields.append(("year", str(cited.year)))
    if cited.doi:
        fields.append(("doi", bibtex_escape(cited.doi)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{entry_type.lower()}{{{key},\n{body}\n}}\n"


def bibtex_for_documents(*, project_id: int, document_ids: Iterable[int]) -> str:
    """A BibTeX file of the given documents of one project, in the order they were added,
    each under its project-wide citation key."""
    wanted = set(document_ids)
    cited = _project_cited(project_id)
    keys = keys_for(cited)
    return "\n".join(bibtex_entry(item, keys[item.id]) for item in cited if item.id in wanted)


@dataclass(frozen=True)
class CitationView:
    label: str  # what answers cite the document by
    key: str  # its BibTeX key


def citation_view_for_document(*, document: Document) -> CitationView:
    cited = _project_cited(document.project_id)
    return CitationView(
        label=labels_for(cited).get(document.pk, document.title),
        key=keys_for(cited).get(document.pk, key_stem(cited_from_document(document))),
    )


# --- Cited work out --------------------------------------------------------------------------


@dataclass(frozen=True)
class CitedWork:
    """A text whose [Label, p. N] citations became Markdown footnotes, and what it cites."""

    markdown: str
    document_ids: list[int]  # cited documents, in order of first citation


def _pages(start: int, end: int) -> str:
    return f"pp. {start}-{end}" if end > start else f"p. {start}"


def _resolve(title: str, labels: dict[int, str], titles: dict[int, str]) -> int | None:
    return match_title(title, labels) or match_title(title, titles)


def cited_markdown(*, heading: str, text: str, project_id: int) -> CitedWork:
    """`text` as Markdown under `heading`: each citation that names a document of the project
    (by its label or title) becomes a footnote reference, `[^n]`, one number per document
    and pages, whose note gives the label, title and pages and a Pandoc citation with the
    document's key (`[@key, p. 2]`, for a .bib exported beside it). A citation naming no
    document stays as written. HTML in the text is escaped (workspace/export_text.py)."""
    cited = _project_cited(project_id)
    labels = labels_for(cited)
    keys = keys_for(cited)
    titles = {item.id: item.title for item in cited}
    notes: dict[tuple[int, int, int], int] = {}
    order: list[int] = []
    body: list[str] = []
    position = 0
    citations = parse_citations(text)
    index = 0
    while index < len(citations):
        start, end = citations[index].start, citations[index].end
        bracket = [c for c in citations[index:] if c.start == start]
        index += len(bracket)
        marks: list[str] = []
        unresolved: list[str] = []
        for citation in bracket:
            doc_id = _resolve(citation.title, labels, titles)
            if doc_id is None:
                unresolved.append(citation.raw)
                continue
            note = (doc_id, citation.page_start, citation.page_end)
            if note not in notes:
                notes[note] = len(notes) + 1
            if doc_id not in order:
                order.append(doc_id)
            marks.append(f"[^{notes[note]}]")
        body.append(markdown_text(text[position:start]))
        if marks:
            kept = f"[{'; '.join(unresolved)}]" if unresolved else ""
            body.append(markdown_text(kept) + "".join(marks))
        else:
            body.append(markdown_text(text[start:end]))
        position = end
    body.append(markdown_text(text[position:]))
    lines = [f"# {markdown_line(heading)}", "", "".join(body).strip(), ""]
    for (doc_id, first, last), number in notes.items():
        pages = _pages(first, last)
        lines.append(
            f"[^{number}]: {markdown_line(labels[doc_id])}, “{markdown_line(titles[doc_id])}”, "
            f"{pages}. [@{keys[doc_id]}, {pages}]"
        )
    return CitedWork(markdown="\n".join(lines).rstrip() + "\n", document_ids=order)


@dataclass(frozen=True)
class TableCell:
    """One cell of a comparison: the text one document gives on one aspect, and its pages."""

    document_id: int
    text: str
    pages: tuple[int, ...]


def _page_list(pages: tuple[int, ...]) -> str:
    return ("p. " if len(pages) == 1 else "pp. ") + ", ".join(str(page) for page in pages)


def cited_table_markdown(
    *,
    heading: str,
    project_id: int,
    document_ids: list[int],
    rows: list[tuple[str, list[TableCell]]],
) -> CitedWork:
    """A comparison as a Markdown table whose columns are headed by "Author Year" and whose
    cells carry a footnote reference per document and pages, the notes written as in
    `cited_markdown` (label, title, pages, and a Pandoc citation with the .bib key)."""
    cited = _project_cited(project_id)
    labels = labels_for(cited)
    keys = keys_for(cited)
    titles = {item.id: item.title for item in cited}
    notes: dict[tuple[int, tuple[int, ...]], int] = {}

    def cell_text(cell: TableCell) -> str:
        text = markdown_line(cell.text).replace("|", "\\|")
        if not cell.pages or cell.document_id not in titles:
            return text
        note = (cell.document_id, cell.pages)
        notes.setdefault(note, len(notes) + 1)
        return f"{text}[^{notes[note]}]"

    def column(doc_id: int) -> str:
        return markdown_line(labels.get(doc_id) or titles.get(doc_id, "")).replace("|", "\\|")

    lines = [f"# {markdown_line(heading)}", ""]
    lines.append("| Aspect | " + " | ".join(column(doc_id) for doc_id in document_ids) + " |")
    lines.append("|" + "---|" * (len(document_ids) + 1))
    for aspect, cells in rows:
        aspect_text = markdown_line(aspect).replace("|", "\\|")
        lines.append(f"| {aspect_text} | " + " | ".join(cell_text(c) for c in cells) + " |")
    lines.append("")
    for (doc_id, pages), number in notes.items():
        where = _page_list(pages)
        lines.append(
            f"[^{number}]: {markdown_line(labels[doc_id])}, “{markdown_line(titles[doc_id])}”, "
            f"{where}. [@{keys[doc_id]}, {where}]"
        )
    cited_ids = [doc_id for doc_id in document_ids if doc_id in titles]
    return CitedWork(markdown="\n".join(lines).rstrip() + "\n", document_ids=cited_ids)
