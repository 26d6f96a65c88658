"""Typed readers for environment variables: the one place settings come from."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str) -> str:
    """The variable's value; unset or blank means the default, as for numbers (an
    `.env` line `DATABASE_URL=` must not stop Carrel with dj-database-url's "Scheme '://'
    is unknown")."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return raw


def env_optional(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def env_bool(name: str, default: bool) -> bool:
    """Unset or blank means the default: `CARREL_LOGIN_LOCKOUT=` must not turn lockout off."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_count(name: str, default: int) -> int:
    """A whole number of things, 0 or more (a limit where 0 means none)."""
    value = env_int(name, default)
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated; unset or blank means the default."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def local_secret_key(var_dir: Path) -> str:
    """A per-machine secret for local use, created once and kept under var/.

    The file is written to a temporary name created with mode 0600 (never readable by
    others, whatever the umask) and linked into place, which fails if another process got
    there first: then its key is used, so processes starting together agree on one key.
    Production must set SECRET_KEY explicitly (settings refuse to start otherwise).
    """
    from django.core.management.utils import get_random_secret_key

    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        temporary = var_dir / f".secret_key.{os.getpid()}.{os.urandom(4).hex()}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(get_random_secret_key())
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:  # a key file from before, or copied in loosely
        path.chmod(0o600)
    return path.read_text().strip()


# What Django's deployment check asks of a key, and the example file's placeholder.
SECRET_KEY_MIN_CHARS = 50
_PLACEHOLDERS = ("change-me", "changeme", "replace-me", "placeholder", "django-insecure")


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot sign a lab server's sessions, or None when it can."""
    lowered = key.lower()
    if any(word in lowered for word in _PLACEHOLDERS):
        return "is a placeholder from an example; generate a real one"
    if len(key) < SECRET_KEY_MIN_CHARS:
        return f"is {len(key)} characters long; use at least {SECRET_KEY_MIN_CHARS} random ones"
    if len(set(key)) < 5:
        return "repeats too few characters to be random"
    return None
