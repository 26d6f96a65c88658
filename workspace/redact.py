"""Credentials out of anything Carrel shows or prints: `redis://:secret@host` becomes
`redis://:***@host`, and the passwords of the configured services (Redis, the broker, the
result backend, Ollama, the database) are masked wherever they appear in an error's words.

A linear scan, not a regular expression: error text can be long and is not ours.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from django.conf import settings

MASK = "***"
MIN_SECRET_CHARS = 4
_URL_ENDS = " \t\r\n\"'<>()[]{},;/?#"


def _userinfo_redacted(userinfo: str) -> str:
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else MASK


def _redact_urls(text: str) -> str:
    pieces: list[str] = []
    position = 0
    while (scheme_end := text.find("://", position)) != -1:
        start = scheme_end + 3
        end = start
        while end < len(text) and text[end] not in _URL_ENDS:
            end += 1
        authority = text[start:end]
        at = authority.rfind("@")
        if at != -1:
            pieces += [text[position:start], _userinfo_redacted(authority[:at]), authority[at:]]
        else:
            pieces.append(text[position:end])
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def configured_secrets() -> list[str]:
    """The passwords in Carrel's service settings, longest first."""
    found: set[str] = set()
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "OLLAMA_HOST"):
        value = str(getattr(settings, name, "") or "")
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            found |= {password, unquote(password)}
    database = settings.DATABASES.get("default", {}).get("PASSWORD")
    if database:
        found.add(str(database))
    # A very short "password" would mask ordinary words; URLs are masked by position anyway.
    return sorted((s for s in found if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str) -> str:
    """Text with every URL's password, and every configured service password, masked."""
    text = _redact_urls(str(text))
    for secret in configured_secrets():
        text = text.replace(secret, MASK)
    return text
