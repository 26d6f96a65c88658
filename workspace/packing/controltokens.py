"""Source text that cannot fake chat turns.

A model server renders the chat template and then parses the tokenizer's control tokens
in the whole prompt, so a document containing "<end_of_turn>\\n<start_of_turn>user\\n…"
would close Carrel's turn and open one of its own. Every control token (and the unknown
token) is removed from every source's text, title and summary before packing. The list is
read from the tokenizer's own vocabulary (the GGUF Carrel counts tokens with), not written
by hand: Gemma 3 has over six thousand of them (`<start_of_turn>`, `<eos>`, `<unused0>`…).

Removing a token can join its two sides into a new one (`<start_of<eos>_turn>`), so removal
repeats until nothing is left. A piece whose text changed is counted again, so the budget
stays exact.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache

from workspace.packing.tokens import TokenCounter
from workspace.packing.types import Piece, Source


class ControlTokens:
    """Removes a fixed set of token strings from text, in one left-to-right scan per round."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens = frozenset(token for token in tokens if token)
        # first character -> the lengths of the tokens starting with it, longest first
        lengths: dict[str, set[int]] = defaultdict(set)
        for token in self.tokens:
            lengths[token[0]].add(len(token))
        self._lengths = {char: sorted(sizes, reverse=True) for char, sizes in lengths.items()}
        self._first = next(iter(self._lengths)) if len(self._lengths) == 1 else None

    def _next_start(self, text: str, position: int) -> int:
        """Where the next character that can start a token is, or -1."""
        found = [text.find(char, position) for char in self._lengths]
        return min((i for i in found if i >= 0), default=-1)

    def _strip_once(self, text: str) -> str:
        out: list[str] = []
        start = 0
        i = self._next_start(text, 0)
        while i >= 0:
            match = next((n for n in self._lengths[text[i]] if text[i : i + n] in self.tokens), 0)
            if match:
                out.append(text[start:i])
                start = i + match
            i = self._next_start(text, i + max(match, 1))
        out.append(text[start:])
        return "".join(out)

    def remove(self, text: str) -> str:
        """Text with every token removed (the same object when there was none)."""
        if self._first is not None:
            if self._first not in text:
                return text
        elif not any(char in text for char in self._lengths):
            return text
        while True:
            stripped = self._strip_once(text)
            if stripped == text:
                return text
            text = stripped

    def contains(self, text: str) -> bool:
        return self.remove(text) != text


_lock = threading.Lock()


@lru_cache(maxsize=1)
def vocabulary_control_tokens() -> ControlTokens:
    """The control and unknown tokens of the tokenizer's GGUF vocabulary."""
    import llama_cpp

    from workspace.runtime.tokenizer import default_gguf_path

    with _lock:
        model = llama_cpp.Llama(model_path=str(default_gguf_path()), vocab_only=True, verbose=False)
        try:
            vocab = llama_cpp.llama_model_get_vocab(model.model)
            special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
            texts = [
                llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", errors="replace")
                for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
                if llama_cpp.llama_vocab_get_attr(vocab, token) & special
            ]
        finally:
            model.close()
    return ControlTokens(texts)


def strip_control_tokens(text: str) -> str:
    """`text` without any of the tokenizer's control tokens."""
    return vocabulary_control_tokens().remove(text)


def clean_sources(
    sources: Sequence[Source], counter: TokenCounter, tokens: ControlTokens | None = None
) -> list[Source]:
    """Sources whose titles, summaries and pieces hold no control token; a piece that
    changed is counted again. Unchanged sources are returned as they are."""
    tokens = tokens or vocabulary_control_tokens()
    cleaned: list[Source] = []
    for source in sources:
        pieces: list[Piece] = []
        changed = False
        for piece in source.pieces:
            text = tokens.remove(piece.text)
            if text is not piece.text:
                piece = replace(piece, text=text, tokens=counter.count(text))
                changed = True
            pieces.append(piece)
        title = tokens.remove(source.title)
        summary = tokens.remove(source.summary)
        if changed or title is not source.title or summary is not source.summary:
            source = replace(source, title=title, summary=summary, pieces=tuple(pieces))
        cleaned.append(source)
    return cleaned
