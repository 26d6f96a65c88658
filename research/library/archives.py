"""Reading uploaded .zip files safely, for the bibliography import (bibimport.py) and the
bulk upload (bulkimport.py).

A member's name is only ever compared as a string; nothing is written to a path taken from
the archive. A member is read into an anonymous temporary file under a byte cap (the
declared size is not trusted) and named by its base name only.
"""

from __future__ import annotations

import posixpath
import tempfile
import zipfile
import zlib
from typing import IO

from django.core.files import File

# What reading a damaged, encrypted or oddly compressed zip member raises.
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
    OSError,
    EOFError,
    zlib.error,
)


class ArchiveRefused(Exception):
    """The whole archive is refused; the message says why, for the person."""


def normal_name(path: str) -> str:
    """A member path compared as a string: forward slashes, no "./", and "" when it is
    absolute, names a drive, or climbs out of the archive."""
    path = path.replace("\\", "/").strip()
    if len(path) >= 2 and path[1] == ":":  # "C:/..." or "C:..."
        return ""
    path = posixpath.normpath(path)
    if path.startswith(("../", "/")) or path in ("..", "."):
        return ""
    return path


def open_archive(
    upload: IO[bytes], *, max_members: int, setting: str, what: str = "an upload"
) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The opened zip and its entries (directories included), or ArchiveRefused when it
    cannot be opened or holds more than `max_members` entries (`setting` names the limit,
    `what` the thing limited, in the message)."""
    try:
        upload.seek(0)
        archive = zipfile.ZipFile(upload)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ArchiveRefused(f"This .zip cannot be opened ({error}).") from None
    if len(infos) > max_members:
        raise ArchiveRefused(
            f"This .zip holds {len(infos)} files; {what} may hold at most {max_members} "
            f"({setting})."
        )
    return archive, infos


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a member (more than `limit` means it is too large)."""
    with archive.open(info) as member:
        return member.read(limit + 1)


def member_file(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> File | None:
    """The member's bytes in a temporary file (at most `limit` of them), named by its base
    name only; None when it holds more than `limit`. Raises one of ARCHIVE_ERRORS when the
    member cannot be read. The caller closes the file."""
    if info.file_size > limit:
        return None
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the caller, with its File)
    written = 0
    try:
        with archive.open(info) as member:
            while block := member.read(1024 * 1024):
                written += len(block)
                if written > limit:  # the archive's declared size was wrong
                    spool.close()
                    return None
                spool.write(block)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    name = posixpath.basename(normal_name(info.filename))[:300] or "attachment"
    file = File(spool, name=name)
    file.size = written
    return file
