"""Token counting with Gemma's own tokenizer, loaded from a GGUF's vocabulary only.

Gemma 3 and Gemma 4 share the same SentencePiece vocabulary family, so the packaged
Gemma 3 270M GGUF gives exact counts for plain text; chat-template overhead is counted
from the same template the backends render.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from django.conf import settings

from workspace.runtime.rendering import render_gemma_prompt
from workspace.runtime.types import Message

__all__ = ["GemmaTokenizer", "count_tokens", "get_tokenizer", "render_gemma_prompt"]


@cache
def default_gguf_path() -> Path:
    """The GGUF that backs tokenization and the embedded model, assembled once per machine."""
    configured = settings.TOKENIZER_GGUF_PATH or settings.EMBEDDED_GGUF_PATH
    if configured:
        return Path(configured)
    from workspace.runtime.model_file import packaged_model_path

    return packaged_model_path()


_SEGMENT_CHARS = 8000
# A whole whitespace run: Gemma has single tokens for runs of spaces and of newlines, so a
# cut inside a run (e.g. code indentation) would count one token too many.
_BREAK = re.compile(r"\s+")


def _segments(text: str) -> list[str]:
    """Cut text into pieces of about _SEGMENT_CHARS, each ending just before a whitespace run."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > _SEGMENT_CHARS:
        window = text[start + _SEGMENT_CHARS // 2 : start + _SEGMENT_CHARS]
        cut = None
        for match in _BREAK.finditer(window):
            cut = match.start()
        end = start + _SEGMENT_CHARS // 2 + cut if cut is not None else start + _SEGMENT_CHARS
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


class GemmaTokenizer:
    def __init__(self, gguf_path: Path) -> None:
        import llama_cpp
        from llama_cpp import Llama

        self.path = gguf_path
        self._llama = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self._lock = threading.Lock()

        atexit.register(self.close)

    def close(self) -> None:
        """Free llama.cpp's vocabulary before interpreter teardown (avoids a noisy __del__)."""
        with self._lock:
            self._llama.close()

    @property
    def has_chat_template(self) -> bool:
        """Whether the GGUF names a chat template (instruction-tuned models do)."""
        return "tokenizer.chat_template" in self._llama.metadata

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            return []
        with self._lock:
            return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def _n_tokens(self, text: str, *, special: bool = False) -> int:
        """How many tokens text has, in one tokenizer pass and without building a list.

        llama_tokenize with no room for output returns minus the token count. (Llama.tokenize
        sizes its buffer by n_ctx_train, which is 0 for a vocab-only model, so it would
        tokenize every text twice.)
        """
        import llama_cpp

        data = text.encode("utf-8")
        if not data:
            return 0
        with self._lock:
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), None, 0, False, special)
        return -n

    def count(self, text: str) -> int:
        """Tokens in text. Long text is counted in segments cut before whitespace runs:
        llama.cpp's tokenizer slows down superlinearly on one huge string, and (bar one
        piece, "> </") no Gemma token runs from a word into the whitespace after it, so
        the total equals whole-text tokenization (tests/workspace/test_tokenizer.py)."""
        if len(text) <= _SEGMENT_CHARS:
            return self._n_tokens(text)
        return sum(self._n_tokens(segment) for segment in _segments(text))

    def count_messages(self, messages: Sequence[Message]) -> int:
        """Tokens of the rendered chat prompt, with the leading <bos>."""
        return self.count_prompt(render_gemma_prompt(messages))

    def count_prompt(self, prompt: str) -> int:
        """Tokens of a rendered prompt as the model reads it (control tokens as one each),
        with the leading <bos>."""
        return 1 + self._n_tokens(prompt, special=True)

    def decode(self, tokens: Sequence[int]) -> str:
        with self._lock:
            return self._llama.detokenize(list(tokens)).decode("utf-8", errors="replace")


_tokenizer: GemmaTokenizer | None = None
_tokenizer_lock = threading.Lock()


def get_tokenizer() -> GemmaTokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                _tokenizer = GemmaTokenizer(default_gguf_path())
    return _tokenizer


def count_tokens(text: str) -> int:
    return get_tokenizer().count(text)
