"""Import a bibliography: a BibTeX (.bib) or CSL-JSON (.json) file, alone or in a .zip
with its attached files, as Zotero's "Export Collection" with "Export Files" writes it
(a `.bib` whose `file` fields point into a `files/` folder beside it).

Each entry with a file becomes a document through the ordinary upload path
(`services._add_file`: size limits, type checks, the storage quota, duplicates, ingestion)
and keeps the entry's title, authors, year, DOI, abstract and key. Entries without a file
and entries that cannot be read are reported, never guessed at. Zip member names are only
ever compared as strings with the paths the entries name: nothing is written to a path
taken from the archive.
"""

from __future__ import annotations

import json
import logging
import posixpath
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

import bibtexparser
from bibtexparser.middlewares import LatexDecodingMiddleware
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from research.library import services
from research.library.archives import (
    ARCHIVE_ERRORS,
    ArchiveRefused,
    member_file,
    normal_name,
    open_archive,
    read_member,
)
from research.library.metadata import MAX_ABSTRACT, clean_doi, split_authors, year_from_date
from research.models import Document, Project

logger = logging.getLogger(__name__)

BIB_SUFFIXES = (".bib", ".bibtex")
CSL_SUFFIXES = (".json",)
# Limits on what one import may hold: this, and the CARREL_BIB_IMPORT_* settings
# (docs/deploy.md).
MAX_BIBLIOGRAPHY_BYTES = 8 * 1024 * 1024  # the .bib or .json itself
MAX_JSON_DEPTH = 16


@dataclass(frozen=True)
class Entry:
    """One bibliography entry, reduced to what a document keeps."""

    key: str
    entry_type: str
    title: str
    authors: list[str]
    year: int | None
    doi: str
    abstract: str
    files: list[str]  # attachment paths as the entry names them, relative to the bibliography

    @property
    def name(self) -> str:
        return f"{self.key} (“{self.title[:80]}”)" if self.title else self.key or "an entry"


@dataclass
class ImportReport:
    entries: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # already in the project: details filled
    without_file: list[str] = field(default_factory=list)
    missing_file: list[str] = field(default_factory=list)  # names a file the archive lacks
    refused: list[str] = field(default_factory=list)  # the upload path's own messages
    broken: list[str] = field(default_factory=list)
    problem: str = ""  # the whole import was refused

    @property
    def ok(self) -> bool:
        return not self.problem

    def summary(self) -> str:
        """One message a person can act on."""
        if self.problem:
            return self.problem
        parts = [
            f"Imported {len(self.added)} of {self.entries} "
            f"entr{'y' if self.entries == 1 else 'ies'} as documents."
        ]
        if self.updated:
            parts.append(f"Already here, details filled in: {_names(self.updated)}.")
        if self.without_file:
            parts.append(f"No file attached: {_names(self.without_file)}.")
        if self.missing_file:
            parts.append(f"File not found in the upload: {_names(self.missing_file)}.")
        if self.refused:
            parts.append("Not added: " + " ".join(self.refused[:10]))
            if len(self.refused) > 10:
                parts.append(f"({len(self.refused) - 10} more not added.)")
        if self.broken:
            parts.append(f"Could not read: {_names(self.broken)}.")
        return " ".join(parts)


def _names(items: list[str], limit: int = 10) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


class ImportRefused(Exception):
    pass


# --- Reading entries --------------------------------------------------------------------------


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on `separator` except where a backslash escapes it (Zotero's file fields)."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in ":;\\":
            # The separator is unescaped; other escapes are kept for a later split.
            escaped = text[index + 1]
            current.append(escaped if escaped == separator else char + escaped)
            index += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def file_paths(value: str) -> list[str]:
    """Attachment paths of a BibTeX `file` field: Zotero writes "desc:path:mime" items
    separated by ";" (with "\\:" inside names); a plain path also works."""
    paths = []
    for item in _split_unescaped(value, ";"):
        item = item.strip()
        if not item:
            continue
        pieces = [piece.replace("\\\\", "\\") for piece in _split_unescaped(item, ":")]
        if len(pieces) >= 3:
            path = pieces[1]
        elif len(pieces) == 2 and len(pieces[0]) == 1:  # a Windows drive letter
            path = ":".join(pieces)
        else:
            path = item
        if path.strip():
            paths.append(path.strip())
    return paths


def _plain(text: str) -> str:
    """One line, without the braces BibTeX keeps for capitals."""
    return " ".join(text.replace("{", "").replace("}", "").split())


def _year(value: str) -> int | None:
    value = value.strip()
    return year_from_date(value) if value else None


def bibtex_entries(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of a BibTeX file, and a line for each block that could not be read."""
    library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    entries: list[Entry] = []
    broken: list[str] = []
    for block in library.failed_blocks:
        line = getattr(block, "start_line", None)
        where = f"line {line + 1}" if isinstance(line, int) else "a block"
        raw = " ".join(str(getattr(block, "raw", "")).split())[:60]
        broken.append(f"the entry at {where} ({raw}…)" if raw else f"the entry at {where}")
    for item in library.entries:
        fields = {name.lower(): str(f.value) for name, f in item.fields_dict.items()}
        title = _plain(fields.get("title", ""))[:300]
        if not title:
            broken.append(f"{item.key} (no title)")
            continue
        entries.append(
            Entry(
                key=item.key.strip()[:100],
                entry_type=item.entry_type.lower()[:30],
                title=title,
                authors=split_authors(_plain(fields.get("author", "")))
                or split_authors(_plain(fields.get("editor", ""))),
                year=_year(fields.get("year", "")) or _year(fields.get("date", "")),
                doi=clean_doi(fields.get("doi", "")),
                abstract=_plain(fields.get("abstract", ""))[:MAX_ABSTRACT],
                files=file_paths(fields.get("file", "")),
            )
        )
    return entries, broken


def _depth(value: Any, limit: int) -> int:
    depth = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        depth = max(depth, level)
        if depth > limit:
            return depth
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return depth


def _csl_name(person: Any) -> str:
    if not isinstance(person, dict):
        return ""
    if person.get("literal"):
        return str(person["literal"])
    family, given = str(person.get("family", "")), str(person.get("given", ""))
    return f"{family}, {given}" if family and given else family or given


def _csl_year(issued: Any) -> int | None:
    if not isinstance(issued, dict):
        return None
    parts = issued.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        return _year(str(parts[0][0]))
    return _year(str(issued.get("raw", "")))


def csl_entries(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of a CSL-JSON file (a list of items, as Zotero exports it). A `file`
    key (a path or a list of paths) names an attachment; CSL itself has none."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise ImportRefused(f"This CSL-JSON file is not valid JSON ({error}).") from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise ImportRefused("A CSL-JSON file holds a list of items; this one does not.")
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ImportRefused(f"This CSL-JSON file is nested deeper than {MAX_JSON_DEPTH} levels.")
    entries: list[Entry] = []
    broken: list[str] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            broken.append(f"item {number} (not an object)")
            continue
        key = str(item.get("citation-key") or item.get("id") or f"item{number}")[:100]
        title = _plain(str(item.get("title", "")))[:300]
        if not title:
            broken.append(f"{key} (no title)")
            continue
        people = item.get("author") or item.get("editor") or []
        files = item.get("file", [])
        files = [files] if isinstance(files, str) else files
        entries.append(
            Entry(
                key=key,
                entry_type=str(item.get("type", "")).replace("-", "")[:30],
                title=title,
                authors=[name for name in map(_csl_name, people) if name][:30]
                if isinstance(people, list)
                else [],
                year=_csl_year(item.get("issued")),
                doi=clean_doi(str(item.get("DOI", ""))),
                abstract=_plain(str(item.get("abstract", "")))[:MAX_ABSTRACT],
                files=[str(path) for path in files if isinstance(path, str)]
                if isinstance(files, list)
                else [],
            )
        )
    return entries, broken


def _entries_of(name: str, data: bytes) -> tuple[list[Entry], list[str]]:
    if len(data) > MAX_BIBLIOGRAPHY_BYTES:
        raise ImportRefused(
            f"“{name}” is {filesizeformat(len(data))}; a bibliography may be at most "
            f"{filesizeformat(MAX_BIBLIOGRAPHY_BYTES)}."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if name.lower().endswith(CSL_SUFFIXES):
        return csl_entries(text)
    return bibtex_entries(text)


# --- Archives ---------------------------------------------------------------------------------


_normal = normal_name  # archives.py: the zip safeguards shared with the bulk upload


class _Archive:
    """The members of a zip, by normalized name; each read with a size cap."""

    def __init__(self, upload: IO[bytes]) -> None:
        try:
            self.zip, infos = open_archive(
                upload,
                max_members=settings.CARREL_BIB_IMPORT_MAX_MEMBERS,
                setting="CARREL_BIB_IMPORT_MAX_MEMBERS",
                what="an import",
            )
        except ArchiveRefused as refused:
            raise ImportRefused(str(refused)) from None
        self.members = {
            _normal(info.filename): info
            for info in infos
            if not info.is_dir() and _normal(info.filename)
        }

    def bibliography(self) -> zipfile.ZipInfo:
        found = sorted(
            (info for name, info in self.members.items() if name.lower().endswith(BIB_SUFFIXES)),
            key=lambda info: (info.filename.count("/"), info.filename),
        ) or sorted(
            (info for name, info in self.members.items() if name.lower().endswith(CSL_SUFFIXES)),
            key=lambda info: (info.filename.count("/"), info.filename),
        )
        if not found:
            raise ImportRefused("This .zip holds no .bib or CSL-JSON (.json) file.")
        return found[0]

    def read(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        return read_member(self.zip, info, limit)

    def member_for(self, base: str, path: str) -> zipfile.ZipInfo | None:
        """The member an entry's path names, relative to the bibliography's folder."""
        wanted = _normal(posixpath.join(base, path.replace("\\", "/")))
        if wanted and wanted in self.members:
            return self.members[wanted]
        wanted = _normal(path)
        return self.members.get(wanted) if wanted else None


def _member_file(archive: _Archive, info: zipfile.ZipInfo, limit: int) -> File | None:
    return member_file(archive.zip, info, limit)


def _entry_file(
    entry: Entry, archive: _Archive | None, base: str, report: ImportReport
) -> tuple[File | None, str]:
    """The file an entry names (the first that the archive holds), or why there is none."""
    if not entry.files:
        return None, "none"
    if archive is None:
        return None, "missing"
    limit = settings.CARREL_MAX_UPLOAD_BYTES
    for path in entry.files:
        info = archive.member_for(base, path)
        if info is None:
            continue
        try:
            file = _member_file(archive, info, limit)
        except ARCHIVE_ERRORS as error:
            report.refused.append(
                f"{entry.name}: its file could not be read from the .zip ({error})."
            )
            return None, "refused"
        if file is None:
            report.refused.append(
                f"{entry.name}: its file is over the limit of {filesizeformat(limit)} per file "
                "(CARREL_MAX_UPLOAD_MB)."
            )
            return None, "refused"
        return file, ""
    return None, "missing"


def _details(entry: Entry) -> dict[str, Any]:
    return {
        "title": entry.title,
        "authors": entry.authors,
        "year": entry.year,
        "doi": entry.doi,
        "abstract": entry.abstract,
        "citation_key": entry.key,
        "entry_type": entry.entry_type,
        "metadata_source": Document.MetadataSource.IMPORT,
    }


def _add_entry(
    *, project: Project, uploaded_by: User | None, entry: Entry, file: File,
    report: ImportReport,
) -> None:  # fmt: skip
    # One transaction: the ingestion task is sent once the entry's details are stored, so
    # extraction never sees the document without them.
    with transaction.atomic():
        (outcome,) = services.document_upload(
            project=project, uploaded_by=uploaded_by, files=[file]
        )
        if outcome.duplicate_of is not None:
            existing = outcome.duplicate_of
            if existing.metadata_source != Document.MetadataSource.PERSON:
                Document.objects.filter(pk=existing.pk).update(**_details(entry))
            report.updated.append(f"{entry.name} as “{existing.title}”")
            return
        if not outcome.accepted or outcome.document is None:
            report.refused.append(f"{entry.name}: {outcome.message}")
            return
        document = outcome.document
        Document.objects.filter(pk=document.pk).update(**_details(entry))
        report.added.append(entry.name)


def bibliography_import(
    *, project: Project, uploaded_by: User | None, upload: File
) -> ImportReport:
    """Import a .bib, a CSL-JSON file, or a .zip holding one with its attached files."""
    report = ImportReport()
    name = str(upload.name or "upload")
    lowered = name.lower()
    size = upload.size or 0
    max_archive = settings.CARREL_BIB_IMPORT_MAX_BYTES
    max_entries = settings.CARREL_BIB_IMPORT_MAX_ENTRIES
    archive: _Archive | None = None
    base = ""
    try:
        if size > max_archive:
            raise ImportRefused(
                f"“{name}” is {filesizeformat(size)}; an import may be at most "
                f"{filesizeformat(max_archive)} (CARREL_BIB_IMPORT_MAX_MB)."
            )
        if lowered.endswith(".zip"):
            upload.seek(0)
            archive = _Archive(upload)
            info = archive.bibliography()
            base = posixpath.dirname(_normal(info.filename))
            bib_name = posixpath.basename(info.filename)
            try:
                data = archive.read(info, MAX_BIBLIOGRAPHY_BYTES)
            except ARCHIVE_ERRORS as error:
                raise ImportRefused(
                    f"“{bib_name}” could not be read from the .zip ({error})."
                ) from None
            entries, broken = _entries_of(bib_name, data)
        elif lowered.endswith(BIB_SUFFIXES + CSL_SUFFIXES):
            upload.seek(0)
            entries, broken = _entries_of(name, upload.read(MAX_BIBLIOGRAPHY_BYTES + 1))
        else:
            raise ImportRefused(
                f"“{name}” is not a bibliography: import a .bib, a CSL-JSON (.json) file, or "
                "a .zip of Zotero's “Export Collection” with “Export Files”."
            )
        if len(entries) + len(broken) > max_entries:
            raise ImportRefused(
                f"This bibliography holds {len(entries) + len(broken)} entries; an import may "
                f"hold at most {max_entries} (CARREL_BIB_IMPORT_MAX_ENTRIES). Split it."
            )
    except ImportRefused as refused:
        report.problem = str(refused)
        return report
    report.entries = len(entries) + len(broken)
    report.broken = broken
    for entry in entries:
        file, why = _entry_file(entry, archive, base, report)
        if file is None:
            if why == "none":
                report.without_file.append(entry.name)
            elif why == "missing":
                report.missing_file.append(entry.name)
            continue
        try:
            _add_entry(
                project=project, uploaded_by=uploaded_by, entry=entry, file=file, report=report
            )
        finally:
            file.close()
    return report
