"""Issue 17: no model output may begin with a copy of Carrel's own prompt.

A base model (the packaged Gemma 3 270M) gets a document to continue instead of a chat
turn (workspace/runtime/rendering.py), and every answer passes the echo guard, which
takes a leading copy of the prompt's instructions or material off it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.library import document_summary
from research.qa.services import QA_RULES
from workspace.packing.prompt import build_messages
from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
from workspace.runtime.rendering import (
    EchoGuard,
    echo_guard,
    render_continuation_prompt,
    render_gemma_prompt,
    render_prompt,
    strip_echo,
)
from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import Message

MARKED = (
    "[p. 1]\nBamboo is a fast-growing grass. It can grow 90 cm in one day and is used in "
    "construction because it is strong and light.\n\n[p. 2]\nIn Asia, bamboo scaffolding is "
    "common on tall buildings."
)
SOURCES = (
    "# Sources\n\n## Bamboo\n[Bamboo, p. 1]\nBamboo is a fast-growing grass. It can grow 90 cm "
    "in one day.\n\n[Bamboo, p. 2]\nIn Asia, bamboo scaffolding is common on tall buildings.\n\n"
)


def answer_prompt(question: str = "How fast does bamboo grow?") -> list[Message]:
    return build_messages(system=QA_RULES, sources_text=SOURCES, question=question)


def chunk_summary_prompt() -> list[Message]:
    return document_summary.chunk_messages(
        title="Bamboo", marked_text=MARKED, page_start=1, page_end=2
    )


def document_summary_prompt() -> list[Message]:
    return document_summary.reduce_messages(
        title="Bamboo",
        page_count=2,
        items_text="Page 1: Bamboo grows up to 90 cm a day [p. 1].\n\n"
        "Page 2: Bamboo scaffolding is used in Asia [p. 2].",
        whole=True,
    )


PROMPTS = {
    "answer": answer_prompt,
    "passage summary": chunk_summary_prompt,
    "document summary": document_summary_prompt,
}


def begins_with_prompt_text(output: str, messages: list[Message]) -> bool:
    """True when the output opens with (at least 30 characters of) the start of a
    message's text or of one of its lines."""
    head = " ".join(output.split())[:30]
    if len(head) < 30:
        return False
    starts = [m.content for m in messages]
    starts += [line for m in messages for line in m.content.splitlines() if line.strip()]
    return any(" ".join(start.split()).startswith(head) for start in starts)


# --- how a base model's prompt reads -----------------------------------------------------------


def test_a_base_model_reads_the_material_then_the_task_then_a_cue():
    rendered = render_continuation_prompt(answer_prompt())
    assert rendered.startswith("# Sources\n")
    assert rendered.index("bamboo scaffolding") < rendered.index("# Task\n" + QA_RULES)
    assert rendered.endswith("Question: How fast does bamboo grow?\nAnswer:")
    assert "<start_of_turn>" not in rendered

    summary = render_continuation_prompt(chunk_summary_prompt())
    assert summary.startswith("Source: “Bamboo”, pages 1-2.")
    assert summary.index("scaffolding") < summary.index("# Task\n" + document_summary.SYSTEM)
    assert summary.endswith("citing pages as [p. N].\nSummary:")


def test_a_conversation_continues_as_questions_and_answers_for_a_base_model():
    messages = build_messages(
        system="Cite pages; the summaries above are shorter than the sources.",
        sources_text=SOURCES,
        question="And in Asia?",
        history=[("How fast does it grow?", "90 cm a day [Bamboo, p. 1].")],
    )
    assert render_continuation_prompt(messages).endswith(
        "# Task\nCite pages; the summaries above are shorter than the sources.\n\n"
        "Question: How fast does it grow?\n"
        "Answer: 90 cm a day [Bamboo, p. 1].\nQuestion: And in Asia?\nAnswer:"
    )


def test_a_lone_short_request_is_asked_as_a_question_after_the_task():
    messages = [Message("system", "Be brief."), Message("user", "Name three planets.")]
    assert render_continuation_prompt(messages) == (
        "# Task\nBe brief.\n\nQuestion: Name three planets.\nAnswer:"
    )
    material = [Message("system", "Summarize these turns."), Message("user", "A.\n\nB.")]
    assert render_continuation_prompt(material) == (
        "A.\n\nB.\n\n# Task\nSummarize these turns.\n\nSummary:"
    )


def test_an_instruction_tuned_model_still_reads_gemmas_chat_format():
    messages = answer_prompt()
    chat = render_prompt(messages, instruction_tuned=True)
    assert chat.text == render_gemma_prompt(messages)
    assert chat.stop == ("<end_of_turn>",)
    base = render_prompt(messages, instruction_tuned=False)
    assert "\nQuestion:" in base.stop and "\n# Task" in base.stop
    # A grammar-constrained (structured) call keeps the chat format on any model.
    structured = render_prompt(messages, instruction_tuned=False, structured=True)
    assert structured.text == render_gemma_prompt(messages)


@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_a_base_models_prompt_costs_no_more_than_the_chat_prompt_packing_counted(kind):
    # Packers budget with the chat format's count; the base model's prompt must fit in it.
    tokenizer = get_tokenizer()
    messages = PROMPTS[kind]()
    continuation = tokenizer.count_prompt(render_continuation_prompt(messages))
    assert continuation <= tokenizer.count_messages(messages)


# --- the echo guard ---------------------------------------------------------------------------

PROMPT = render_gemma_prompt(chunk_summary_prompt())


def test_the_guard_removes_a_leading_copy_of_the_instructions_and_the_material():
    copied = f"{document_summary.SYSTEM}\n\nSource: “Bamboo”, pages 1-2.\n\n[p. 1]\nBamboo is"
    assert strip_echo(copied, prompt=PROMPT) == ""
    assert (
        strip_echo(f"{document_summary.SYSTEM} Bamboo grows fast [p. 1].", prompt=PROMPT)
        == "Bamboo grows fast [p. 1]."
    )
    assert (
        strip_echo("Bamboo is a fast-growing grass. Asia builds with it [p. 2].", prompt=PROMPT)
        == "Asia builds with it [p. 2]."
    )


def test_the_guard_leaves_an_answer_that_repeats_an_earlier_answer():
    said = "Bamboo grows up to 90 cm in one day [Bamboo, p. 1]."
    messages = [*answer_prompt(), Message("assistant", said), Message("user", "How fast?")]
    for tuned in (True, False):
        assert echo_guard(messages, instruction_tuned=tuned).strip(said) == said
        assert echo_guard(messages, instruction_tuned=tuned).strip(QA_RULES + " " + said) == said


def test_the_guard_leaves_an_answer_that_only_shares_words_with_the_prompt():
    for answer in (
        "Bamboo is a fast-growing grass [p. 1].",  # not a whole sentence of the prompt
        "Yes.",
        "It can grow 90 cm in one day [p. 1].",  # not from the start of a prompt line
        "Bamboo grows quickly and is used for scaffolding [p. 1], [p. 2].",
    ):
        assert strip_echo(answer, prompt=PROMPT) == answer


@settings(max_examples=200, deadline=None)
@given(
    answer=st.sampled_from(
        [
            f"{document_summary.SYSTEM}\n\nSource: “Bamboo”, pages 1-2.\n\n[p. 1]\nBamboo",
            "Bamboo is a fast-growing grass. It grows [p. 1]",
            "  \nBamboo grows fast [p. 1].",
            f"{document_summary.SYSTEM} Bamboo is a fast-growing grass. Asia [p. 2].",
            "Yes.",
        ]
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=12), max_size=40),
)
def test_a_streamed_answer_shows_exactly_the_guarded_whole(answer, cuts):
    guard = EchoGuard(PROMPT)
    shown, position = [], 0
    for size in cuts:
        shown.append(guard.feed(answer[position : position + size]))
        position += size
    shown.append(guard.feed(answer[position:]))
    shown.append(guard.finish())
    assert "".join(shown) == strip_echo(answer, prompt=PROMPT)


def test_the_guard_checks_a_long_answer_against_a_long_prompt_in_linear_passes():
    # A prompt of many lines all starting with the same word, and an answer repeating it:
    # each candidate line ends its run at its first differing word.
    prompt = "\n".join(f"the line number {n} of the sources." for n in range(5000))
    answer = "the line number 7 of the sources. " + "the answer " * 2000
    assert strip_echo(answer, prompt=prompt).startswith("the answer")


# --- the real base model: no kind of call shows an echo ----------------------------------------


@pytest.fixture(scope="module")
def base_runtime():
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=2048)
    assert not rt.facts().instruction_tuned  # the packaged model is the base model
    yield rt
    rt.close()


@pytest.mark.model
@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_no_kind_of_call_on_the_base_model_begins_with_the_prompts_text(base_runtime, kind):
    messages = PROMPTS[kind]()
    for temperature in (0.0, 0.7):
        result = base_runtime.chat(messages, max_tokens=60, temperature=temperature, seed=3)
        assert not begins_with_prompt_text(result.text, messages), result.text
        streamed = list(
            base_runtime.stream_chat(messages, max_tokens=60, temperature=temperature, seed=3)
        )
        text = "".join(chunk.text for chunk in streamed[:-1])
        assert streamed[-1].result is not None and streamed[-1].result.text == text
        assert not begins_with_prompt_text(text, messages), text


@pytest.mark.model
def test_a_base_model_shown_the_chat_format_copies_it_and_the_guard_takes_the_copy_off():
    # The fault of issue 17 reproduced: the base model given Gemma's chat turns repeats the
    # user turn word for word. The guard alone must keep that from the caller.
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=2048)
    rt.__dict__["instruction_tuned"] = True  # render as if it were instruction-tuned
    try:
        messages = chunk_summary_prompt()
        rendered = rt.render(messages)
        assert rendered.text == render_gemma_prompt(messages)
        raw: list[str] = []
        guarded = EchoGuard(rendered.text)
        result = rt.chat(messages, max_tokens=60, temperature=0)
        # what the model wrote, unguarded, from the model process directly
        payload, _ = rt._request(messages, max_tokens=60, temperature=0, seed=None)
        *_, final = rt._process.request(payload)
        raw.append(final["text"])
        assert begins_with_prompt_text(raw[0], messages), raw[0]  # it does copy the prompt
        assert result.text == guarded.strip(raw[0])
        assert not begins_with_prompt_text(result.text, messages), result.text
    finally:
        rt.close()
