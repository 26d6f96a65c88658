"""Carrel's token counts against llama.cpp's own tokenization of the same text."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import llama_cpp
import pytest
from llama_cpp import Llama
from pypdf import PdfReader

from workspace.runtime.tokenizer import (
    _segments,
    default_gguf_path,
    get_tokenizer,
    render_gemma_prompt,
)
from workspace.runtime.types import Message


@pytest.fixture(scope="module")
def llama_vocab():
    """An independent llama.cpp vocabulary, tokenizing the plain way (one call, whole text)."""
    llama = Llama(model_path=str(default_gguf_path()), vocab_only=True, verbose=False)
    yield llama
    llama.close()


def llama_count(llama: Llama, text: str, *, special: bool = False, bos: bool = False) -> int:
    return len(llama.tokenize(text.encode("utf-8"), add_bos=bos, special=special))


def pdf_text(path: Path) -> str:
    return "\n\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


@pytest.fixture(scope="module")
def thesis_text(shared_data: Path) -> str:
    return pdf_text(shared_data / "papers" / "GeoTopo-komprimiert.pdf")


def test_counts_match_llama_cpps_own_tokenization_for_varied_real_text(
    llama_vocab, shared_data, thesis_text
):
    samples = [
        thesis_text[:3000],  # German with umlauts and formulas
        pdf_text(shared_data / "papers" / "habibi.pdf"),  # Arabic
        pdf_text(shared_data / "papers" / "pdflatex-4-pages.pdf"),
        inspect.getsource(render_gemma_prompt),  # indented code
        "Tabs\tand  double  spaces\n\n\n\nand 日本語 and emoji 🙂🙂 and <start_of_turn> as text",
        " ",
        "",
    ]
    tokenizer = get_tokenizer()
    for text in samples:
        assert tokenizer.count(text) == llama_count(llama_vocab, text), text[:80]
        assert tokenizer.count(text) == len(tokenizer.encode(text))


def test_counting_a_whole_thesis_in_segments_equals_tokenizing_it_in_one_call(
    llama_vocab, thesis_text
):
    # Measured on this thesis, on 4 copies of it, on the 100 BAMBOO papers and on the other
    # sample PDFs (118 cuts in all): zero difference. It is exact because cuts fall just
    # before a whitespace run and no Gemma token reaches from a word into the whitespace
    # after it (see the next test), so the bound asserted is equality.
    for text in (thesis_text, "\n\n".join([thesis_text] * 4)):
        assert len(_segments(text)) > 10
        assert get_tokenizer().count(text) == llama_count(llama_vocab, text)


def test_no_gemma_token_reaches_from_a_word_into_the_whitespace_after_it(llama_vocab):
    vocab = llama_cpp.llama_model_get_vocab(llama_vocab.model)
    crossing = []
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        text = llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", errors="replace")
        piece = text.replace("\u2581", " ")  # SentencePiece spells a space as U+2581
        if re.search(r"\S\s", piece):
            crossing.append(piece)
    # The one exception is an HTML fragment; prose and code cuts never land inside it.
    assert crossing == ["> </"]


def test_segment_cuts_keep_indentation_runs_whole(llama_vocab):
    # Long, deeply indented source: a cut inside a run of spaces used to cost a token.
    code = Path(inspect.getfile(Llama)).read_text()
    assert len(_segments(code)) > 10
    assert get_tokenizer().count(code) == llama_count(llama_vocab, code)


def test_count_messages_is_what_the_model_evaluates_including_the_chat_template(llama_vocab):
    messages = [
        Message("system", "Answer from the sources only."),
        Message("user", "What is a topological space?"),
        Message("assistant", "A set with a family of open subsets."),
        Message("user", "And a metric space?"),
    ]
    rendered = render_gemma_prompt(messages)
    count = get_tokenizer().count_messages(messages)
    assert count == llama_count(llama_vocab, rendered, special=True, bos=True)
    # Turn markers are single special tokens, not their spelling...
    assert count < 1 + get_tokenizer().count(rendered)
    # ...and the template costs tokens beyond the contents.
    contents = sum(get_tokenizer().count(m.content) for m in messages)
    assert count > contents + 4 * 2  # at least <start_of_turn> and <end_of_turn> per turn


def test_count_messages_grows_by_the_content_and_folds_the_system_prompt():
    tokenizer = get_tokenizer()
    question = "Which chapters discuss homotopy?"
    empty = tokenizer.count_messages([Message("user", "")])
    assert tokenizer.count_messages([Message("user", question)]) == empty + tokenizer.count(
        question
    )
    system = "Cite pages."
    assert tokenizer.count_messages(
        [Message("system", system), Message("user", question)]
    ) == tokenizer.count_messages([Message("user", f"{system}\n\n{question}")])
