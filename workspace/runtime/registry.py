"""Known models and their context windows.

Gemma 4's windows are fixed facts of the model family; CARREL_CONTEXT_WINDOWS adds or
overrides entries ("tag=tokens,tag=tokens") for other models or smaller windows.
"""

from __future__ import annotations

from django.conf import settings

GEMMA4_WINDOWS: dict[str, int] = {
    "gemma4:e2b": 128 * 1024,
    "gemma4:e4b": 128 * 1024,
    "gemma4:26b": 256 * 1024,
    "gemma4:31b": 256 * 1024,
}


def _normalise(tag: str) -> str:
    return tag.strip().lower().removesuffix(":latest")


def known_windows() -> dict[str, int]:
    windows = dict(GEMMA4_WINDOWS)
    for pair in settings.CARREL_CONTEXT_WINDOWS:
        tag, _, tokens = pair.partition("=")
        if tag and tokens.strip().isdigit():
            windows[_normalise(tag)] = int(tokens)
    return windows


def context_window_for(tag: str) -> int | None:
    """The window for a tag, matching quantised variants like gemma4:e4b-it-q4_K_M too."""
    windows = known_windows()
    tag = _normalise(tag)
    if tag in windows:
        return windows[tag]
    for known, tokens in sorted(windows.items(), key=lambda kv: -len(kv[0])):
        if tag.startswith(known + "-"):
            return tokens
    return None


def effective_num_ctx(max_context: int) -> int:
    """The num_ctx to send: the full window unless CARREL_NUM_CTX caps it (to save memory)."""
    cap = settings.CARREL_NUM_CTX
    return min(max_context, cap) if cap > 0 else max_context
