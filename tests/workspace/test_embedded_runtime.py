"""The embedded llama.cpp backend, against the real packaged Gemma 3 270M model."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from llama_cpp import Llama
from pydantic import BaseModel, Field

from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
from workspace.runtime.errors import InvalidModelOutput, ModelRuntimeError, PromptTooLong
from workspace.runtime.rendering import strip_echo
from workspace.runtime.select import get_runtime, reset_runtime_cache
from workspace.runtime.tokenizer import get_tokenizer, render_gemma_prompt
from workspace.runtime.types import ChatResult, Message

QUESTION = [
    Message("system", "You are a concise assistant."),
    Message("user", "Name three planets of the solar system."),
]


class Book(BaseModel):
    title: str = Field(max_length=60)
    year: int
    tags: list[str] = Field(max_length=3)


@pytest.fixture(scope="module")
def runtime():
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=2048)
    yield rt
    rt.close()


@pytest.fixture
def embedded_settings(settings):
    settings.EMBEDDED_GGUF_PATH = None
    settings.EMBEDDED_N_CTX = 8192
    settings.EMBEDDED_THREADS = 0
    return settings


def long_messages(shared_data: Path, tokens_at_least: int) -> list[Message]:
    content = (shared_data / "qa" / "bamboo_paperqa_4k.jsonl").read_text()
    text = ""
    while get_tokenizer().count(text) < tokens_at_least:
        text += content[len(text) : len(text) + 4000]
    return [Message("user", f"Summarise:\n\n{text}")]


def test_facts_describe_the_packaged_demo_model_without_loading_it(embedded_settings):
    rt = EmbeddedRuntime.from_settings()
    facts = rt.facts()
    llama = Llama(model_path=str(packaged_gguf_path()), vocab_only=True, verbose=False)
    try:  # llama.cpp's own reading of the GGUF metadata
        trained = int(llama.metadata[f"{llama.metadata['general.architecture']}.context_length"])
    finally:
        llama.close()
    assert facts.backend == "embedded"
    assert facts.model == packaged_gguf_path().name
    assert facts.context_window == 8192
    assert facts.max_context == trained
    assert facts.demo is True
    assert rt.n_threads == max(1, (os.cpu_count() or 1) // 4)
    assert rt.count_tokens("Hello there") == get_tokenizer().count("Hello there")
    assert not rt.loaded


def test_the_embedded_backend_is_one_instance_kept_across_calls(embedded_settings):
    # One instance means one llama.cpp context, whose KV cache serves the next prompt.
    embedded_settings.CARREL_BACKEND = "embedded"
    reset_runtime_cache()
    try:
        rt = get_runtime()
        assert isinstance(rt, EmbeddedRuntime)
        assert get_runtime() is rt
        assert not rt.loaded
    finally:
        reset_runtime_cache()


def test_the_window_is_capped_at_the_models_training_window(embedded_settings):
    embedded_settings.EMBEDDED_N_CTX = 10_000_000
    embedded_settings.EMBEDDED_THREADS = 1
    rt = EmbeddedRuntime.from_settings()
    assert rt.facts().context_window == rt.facts().max_context < 10_000_000
    assert rt.n_threads == 1


def test_another_gguf_file_is_named_and_not_called_a_demo(embedded_settings, tmp_path):
    other = tmp_path / "my-gemma.gguf"
    other.symlink_to(packaged_gguf_path())
    embedded_settings.EMBEDDED_GGUF_PATH = str(other)
    facts = EmbeddedRuntime.from_settings().facts()
    assert facts.model == "my-gemma.gguf"
    assert facts.demo is False


def test_a_missing_model_file_is_a_clear_error(embedded_settings, tmp_path):
    embedded_settings.EMBEDDED_GGUF_PATH = str(tmp_path / "absent.gguf")
    with pytest.raises(ModelRuntimeError, match="CARREL_GGUF_PATH"):
        EmbeddedRuntime.from_settings()


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("not a model")
    with pytest.raises(ModelRuntimeError, match="Cannot read the model file"):
        EmbeddedRuntime(bogus)


def test_an_over_long_prompt_is_refused_before_anything_is_loaded_or_generated(shared_data):
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=512)
    messages = long_messages(shared_data, 600)
    with pytest.raises(PromptTooLong) as refused:
        rt.chat(messages, max_tokens=16)
    assert refused.value.prompt_tokens == rt.count_messages(messages)
    assert refused.value.context_window == 512
    with pytest.raises(PromptTooLong):
        rt.stream_chat(messages, max_tokens=16)  # at the call, not at the first chunk
    with pytest.raises(PromptTooLong):
        rt.structured(messages, schema=Book, max_tokens=16)
    assert not rt.loaded


@pytest.mark.model
def test_a_prompt_that_exactly_fills_the_window_is_accepted(shared_data):
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=512)
    try:
        messages = long_messages(shared_data, 480)[:1]
        prompt = rt.count_messages(messages)
        messages = [
            Message("user", messages[0].content[: len(messages[0].content) * 490 // prompt])
        ]
        prompt = rt.count_messages(messages)
        assert 400 < prompt < 512
        with pytest.raises(PromptTooLong):
            rt.chat(messages, max_tokens=512 - prompt + 1)
        result = rt.chat(messages, max_tokens=512 - prompt, temperature=0)
        assert result.prompt_tokens == prompt
        assert result.output_tokens <= 512 - prompt
    finally:
        rt.close()


@pytest.mark.model
def test_a_real_chat_answer_counts_the_prompt_as_we_do(runtime):
    result = runtime.chat(QUESTION, max_tokens=24, temperature=0, seed=7)
    assert result.text.strip()
    assert result.prompt_tokens == result.expected_prompt_tokens
    assert result.prompt_tokens == get_tokenizer().count_prompt(runtime.render(QUESTION).text)
    assert result.prompt_tokens == runtime.count_messages(QUESTION)
    assert result.done_reason in {"stop", "length"}
    assert 1 <= result.output_tokens <= 24
    assert result.model == packaged_gguf_path().name
    assert runtime.loaded


@pytest.mark.model
def test_streaming_yields_pieces_that_add_up_to_the_final_text(runtime):
    chunks = list(runtime.stream_chat(QUESTION, max_tokens=24, temperature=0, seed=7))
    *pieces, last = chunks
    assert len(pieces) >= 3
    assert not any(chunk.done for chunk in pieces)
    assert last.done and isinstance(last.result, ChatResult)
    assert "".join(chunk.text for chunk in pieces) == last.result.text
    assert last.result.prompt_tokens == runtime.count_messages(QUESTION)
    assert last.result.done_reason in {"stop", "length"}
    # Greedy decoding: the stream is the same answer chat() gives.
    assert last.result.text == runtime.chat(QUESTION, max_tokens=24, temperature=0).text


@pytest.mark.model
def test_max_tokens_one_stops_at_the_output_cap(runtime):
    result = runtime.chat(QUESTION, max_tokens=1)
    assert result.done_reason == "length"
    assert result.hit_output_cap
    assert result.output_tokens == 1
    streamed = list(runtime.stream_chat(QUESTION, max_tokens=1))[-1].result
    assert streamed is not None and streamed.hit_output_cap and streamed.output_tokens == 1


@pytest.mark.model
def test_a_json_schema_answer_validates(runtime):
    messages = [
        Message(
            "user",
            "The novel Dune by Frank Herbert was published in 1965. "
            "Describe it as JSON with a title, the year and up to three tags.",
        )
    ]
    book = runtime.structured(messages, schema=Book, max_tokens=80)
    assert isinstance(book, Book)
    assert isinstance(book.year, int)
    assert len(book.tags) <= 3


@pytest.mark.model
def test_a_json_answer_cut_off_at_max_tokens_is_invalid_output(runtime):
    with pytest.raises(InvalidModelOutput, match="cut off") as cut:
        runtime.structured([Message("user", "Describe Dune as JSON.")], schema=Book, max_tokens=3)
    assert cut.value.raw.startswith("{")
    assert cut.value.retryable


@pytest.mark.model
def test_concurrent_callers_get_the_answers_they_would_get_alone(runtime):
    questions = [[Message("user", q)] for q in ("Name a colour.", "Name a river.", "Count to 3.")]
    alone = [runtime.chat(q, max_tokens=12, temperature=0).text for q in questions]
    together: dict[int, str] = {}

    def ask(index: int) -> None:
        if index % 2:
            stream = runtime.stream_chat(questions[index], max_tokens=12, temperature=0)
            together[index] = "".join(chunk.text for chunk in stream)
        else:
            together[index] = runtime.chat(questions[index], max_tokens=12, temperature=0).text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [together[i] for i in range(len(questions))] == alone


# --- the prompt format, and outputs that repeat the prompt -----------------------------------

SUMMARY_PROMPT = [
    Message(
        "system",
        "You summarize sources for a researcher. Use only the text you are given; do not add "
        "facts. After each claim, cite the page it comes from as [p. N].",
    ),
    Message(
        "user",
        "Source: “Bamboo”, page 1.\n\n[p. 1]\nBamboo is a fast-growing grass. It can grow 90 cm "
        "in one day and is used in construction because it is strong and light.\n\n"
        "Summarize this passage in 2 to 4 sentences, citing pages as [p. N].",
    ),
]


def begins_with_prompt_text(output: str, messages: list[Message]) -> bool:
    """True when the output opens with (at least 30 characters of) a message's own text."""
    head = " ".join(output.split())[:30]
    return len(head) >= 30 and any(" ".join(m.content.split()).startswith(head) for m in messages)


def test_the_prompt_is_gemmas_chat_format_with_the_system_text_in_the_first_user_turn():
    messages = [
        Message("system", "Cite pages."),
        Message("user", "What is a torus?"),
        Message("assistant", "A surface like a ring [p. 2]."),
        Message("user", "And a sphere?"),
    ]
    assert render_gemma_prompt(messages) == (
        "<start_of_turn>user\nCite pages.\n\nWhat is a torus?<end_of_turn>\n"
        "<start_of_turn>model\nA surface like a ring [p. 2].<end_of_turn>\n"
        "<start_of_turn>user\nAnd a sphere?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    # The turn markers reach the model as Gemma's special tokens, not as their spelling.
    tokens = get_tokenizer().encode(render_gemma_prompt(messages[:2]), special=True)
    start, end = (
        get_tokenizer().encode(t, special=True) for t in ("<start_of_turn>", "<end_of_turn>")
    )
    assert len(start) == len(end) == 1
    assert tokens[0] == start[0] and tokens.count(start[0]) == 2 and tokens.count(end[0]) == 1


def test_the_prompt_check_sees_an_echo_and_nothing_else():
    assert begins_with_prompt_text(SUMMARY_PROMPT[0].content + "\n\nSource:", SUMMARY_PROMPT)
    assert begins_with_prompt_text("Source: “Bamboo”, page 1.\n\n[p. 1]\nBamboo is", SUMMARY_PROMPT)
    assert not begins_with_prompt_text("Bamboo grows up to 90 cm a day [p. 1].", SUMMARY_PROMPT)


@pytest.mark.model
def test_the_runtime_returns_what_the_model_wrote_less_a_leading_copy_of_the_prompt(runtime):
    rendered = runtime.render(SUMMARY_PROMPT)
    result = runtime.chat(SUMMARY_PROMPT, max_tokens=40, temperature=0)
    direct = Llama(model_path=str(packaged_gguf_path()), n_ctx=2048, swa_full=True, verbose=False)
    try:
        completion: Any = direct.create_completion(
            rendered.text, max_tokens=40, temperature=0, stop=list(rendered.stop)
        )
        written = completion["choices"][0]["text"]
    finally:
        direct.close()
    assert result.text == strip_echo(written, prompt=rendered.text)
    assert not result.text.startswith("<start_of_turn>")


@pytest.mark.model
def test_an_answer_does_not_begin_with_the_prompts_text(runtime):
    for temperature in (0.0, 0.7):
        result = runtime.chat(SUMMARY_PROMPT, max_tokens=60, temperature=temperature, seed=3)
        assert not begins_with_prompt_text(result.text, SUMMARY_PROMPT), result.text
