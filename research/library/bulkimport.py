"""Adding many files at once: several chosen together, and .zip files of PDFs, text and
Markdown, each file going through the ordinary upload path (`services.document_upload`:
size and type checks, the storage quota, duplicates by content, ingestion).

A .zip is checked whole before any of it is stored: its size, and what it unpacks to
(CARREL_BULK_ZIP_MAX_MB both; the bytes actually read are counted too), its member count
(CARREL_BULK_ZIP_MAX_MEMBERS), no member name that is absolute or climbs out of the
archive, no .zip inside it. A refused .zip stores nothing; the other files of the
upload go ahead. The whole upload may add at most CARREL_BULK_MAX_FILES files (each .zip
member counts one), or nothing is stored. Member names are only compared as strings and a
member is stored under its base name (archives.py); nothing is written to a path from the
archive.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.template.defaultfilters import filesizeformat

from research.library import services
from research.library.archives import (
    ARCHIVE_ERRORS,
    ArchiveRefused,
    member_file,
    normal_name,
    open_archive,
)
from research.models import Project

ARCHIVE_SUFFIXES = (".zip",)
# Members a zip tool adds that are not the person's files: macOS resource forks, Finder
# and Windows folder files. Skipped without a message.
_TOOL_FOLDERS = ("__MACOSX/",)
_TOOL_FILES = ("thumbs.db", "desktop.ini")


@dataclass
class BulkReport:
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # "name (as “Existing title”)"
    refused: list[str] = field(default_factory=list)  # one message a file or a refused .zip
    document_ids: list[int] = field(default_factory=list)  # the documents this upload added
    problem: str = ""  # the whole upload was refused: nothing stored
    # Refusals that made no document row (a refused .zip, an unreadable member, the quota):
    # a refused file's row carries its own message.
    without_row: list[str] = field(default_factory=list)
    batch_id: int | None = None  # the ImportBatch of a multi-file or .zip upload

    def refuse(self, message: str, *, has_row: bool = False) -> None:
        self.refused.append(message)
        if not has_row:
            self.without_row.append(message)

    def summary(self) -> str:
        """One grouped message: added, duplicates, refused with their reasons."""
        if self.problem:
            return self.problem
        count = len(self.added)
        parts = [f"Added {count} file{'' if count == 1 else 's'}."]
        if self.duplicates:
            parts.append(
                f"Already in this project (same content), not added again: "
                f"{_names(self.duplicates)}."
            )
        if self.refused:
            parts.append(f"Not added ({len(self.refused)}): " + " ".join(self.refused[:10]))
            if len(self.refused) > 10:
                parts.append(f"({len(self.refused) - 10} more not added.)")
        return " ".join(parts)

    @property
    def clean(self) -> bool:
        return not (self.problem or self.duplicates or self.refused)


def _names(items: list[str], limit: int = 10) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


class _Batch:
    """One .zip, checked whole, with the members it will add."""

    def __init__(self, upload: File) -> None:
        self.name = posixpath.basename(str(upload.name or "upload.zip"))[:300]
        size = upload.size or 0
        limit = settings.CARREL_BULK_ZIP_MAX_BYTES
        if size > limit:
            raise ArchiveRefused(
                f"“{self.name}” is {filesizeformat(size)}; a .zip may be at most "
                f"{filesizeformat(limit)} (CARREL_BULK_ZIP_MAX_MB). Nothing in it was added."
            )
        try:
            self.zip, infos = open_archive(
                upload,
                max_members=settings.CARREL_BULK_ZIP_MAX_MEMBERS,
                setting="CARREL_BULK_ZIP_MAX_MEMBERS",
            )
        except ArchiveRefused as refused:
            raise ArchiveRefused(f"“{self.name}”: {refused} Nothing in it was added.") from None
        self.members: list[zipfile.ZipInfo] = []
        for info in infos:
            normal = normal_name(info.filename)
            if not normal:
                raise ArchiveRefused(
                    f"“{self.name}” was refused: a file in it is named "
                    f"“{info.filename[:120]}”, a path outside the archive. Nothing in it was "
                    "added."
                )
            if info.is_dir() or _tool_file(normal):
                continue
            if normal.lower().endswith(ARCHIVE_SUFFIXES):
                raise ArchiveRefused(
                    f"“{self.name}” was refused: it holds another .zip "
                    f"(“{posixpath.basename(normal)[:120]}”). Unpack it and upload its files, "
                    "or upload it on its own. Nothing in it was added."
                )
            self.members.append(info)
        # What it unpacks to is held to the same limit (a small .zip of a huge file, a
        # "zip bomb"): declared sizes here, the bytes actually read in files().
        self.budget = limit
        declared = sum(info.file_size for info in self.members)
        if declared > limit:
            raise ArchiveRefused(
                f"“{self.name}” unpacks to {filesizeformat(declared)}; a .zip may unpack to "
                f"at most {filesizeformat(limit)} (CARREL_BULK_ZIP_MAX_MB). Nothing in it was "
                "added."
            )

    def files(self, report: BulkReport) -> Iterator[tuple[str, File]]:
        """Each member as a file named by its base name; members that cannot be read are
        reported and skipped. The caller closes each file."""
        limit = settings.CARREL_MAX_UPLOAD_BYTES
        for info in self.members:
            shown = f"{self.name}: {posixpath.basename(normal_name(info.filename))[:120]}"
            try:
                file = member_file(self.zip, info, min(limit, self.budget))
            except ARCHIVE_ERRORS as error:
                report.refuse(f"“{shown}” could not be read from the .zip ({error}).")
                continue
            if file is None and self.budget < limit:
                report.refuse(
                    f"“{shown}” was not read: the .zip unpacks to more than "
                    f"{filesizeformat(settings.CARREL_BULK_ZIP_MAX_BYTES)} "
                    "(CARREL_BULK_ZIP_MAX_MB), more than its files declare."
                )
                continue
            if file is None:
                report.refuse(
                    f"“{shown}” is over the limit of {filesizeformat(limit)} per file "
                    "(CARREL_MAX_UPLOAD_MB)."
                )
                continue
            self.budget -= file.size or 0
            yield shown, file


def _tool_file(normal: str) -> bool:
    base = posixpath.basename(normal).lower()
    return normal.startswith(_TOOL_FOLDERS) or base.startswith(".") or base in _TOOL_FILES


def _is_archive(upload: File) -> bool:
    return str(upload.name or "").lower().endswith(ARCHIVE_SUFFIXES)


def _record(report: BulkReport, shown: str, outcome: services.UploadOutcome) -> None:
    if outcome.duplicate_of is not None:
        report.duplicates.append(f"“{shown}” (as “{outcome.duplicate_of.title}”)")
    elif outcome.accepted and outcome.document is not None:
        report.added.append(shown)
        report.document_ids.append(outcome.document.pk)
    else:
        report.refuse(outcome.message, has_row=outcome.document is not None)


def documents_bulk_upload(
    *, project: Project, uploaded_by: User | None, files: Sequence[File]
) -> BulkReport:
    """Add every file, and every member of every .zip, to `project`; one report for all.
    More than one file, or any .zip, makes an import batch (ImportBatch):
    its documents are followed, and the ones not started yet cancelled, on one page."""
    report = BulkReport()
    plain = [upload for upload in files if not _is_archive(upload)]
    batches: list[_Batch] = []
    for upload in files:
        if not _is_archive(upload):
            continue
        try:
            batches.append(_Batch(upload))
        except ArchiveRefused as refused:
            report.refuse(str(refused))
    total = len(plain) + sum(len(batch.members) for batch in batches)
    limit = settings.CARREL_BULK_MAX_FILES
    if total > limit:
        report.problem = (
            f"This upload holds {total} files; one upload may add at most {limit} "
            "(CARREL_BULK_MAX_FILES). Nothing was added: upload them in smaller groups."
        )
        return report
    group = None
    if len(files) > 1 or len(plain) < len(files):
        group = services.import_batch_create(project=project, created_by=uploaded_by)
        report.batch_id = group.pk
    if plain:
        for upload, outcome in zip(
            plain,
            services.document_upload(
                project=project, uploaded_by=uploaded_by, files=plain, batch=group
            ),
            strict=True,
        ):
            _record(report, outcome.name or str(upload.name), outcome)
    for batch in batches:
        for shown, file in batch.files(report):
            try:
                (outcome,) = services.document_upload(
                    project=project, uploaded_by=uploaded_by, files=[file], batch=group
                )
            finally:
                file.close()
            _record(report, shown, outcome)
    if group is not None:
        services.import_batch_note(
            batch=group, refused=report.without_row, duplicates=report.duplicates
        )
    return report
