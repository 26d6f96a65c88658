"""Token counting for packing: Gemma's tokenizer, with a cache for the short strings
(page markers, headings, summaries) that recur from one question to the next.

Why adding up parts is safe: no token in Gemma's vocabulary mixes a newline with any other
character (checked over all 262,144 entries), so text on either side of a newline is
tokenized independently. The packer joins every part at a newline, so the sum of the parts'
counts is an upper bound on the count of the joined prompt (runs of newlines may merge into
one token, which only lowers it). That keeps packing fast — chunk counts come from the
database — without ever sending a prompt over budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import Message


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def count_messages(self, messages: Sequence[Message]) -> int: ...


@lru_cache(maxsize=65536)
def _cached_count(text: str) -> int:
    return get_tokenizer().count(text)


class GemmaCounter:
    """Counts with Gemma's tokenizer; strings up to `cache_chars` long are memoised."""

    cache_chars = 20000

    def count(self, text: str) -> int:
        if len(text) <= self.cache_chars:
            return _cached_count(text)
        return get_tokenizer().count(text)

    def count_messages(self, messages: Sequence[Message]) -> int:
        return get_tokenizer().count_messages(messages)


def gemma_counter() -> GemmaCounter:
    return GemmaCounter()
