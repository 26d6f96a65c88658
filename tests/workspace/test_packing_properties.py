"""Properties of packing over random sources and budgets (hypothesis): the prompt's real
Gemma token count never exceeds the budget, and no piece is ever cut."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from workspace.packing import (
    BM25Retriever,
    Budget,
    PackingError,
    Piece,
    Source,
    map_prompt,
    pack,
)
from workspace.packing.controltokens import strip_control_tokens
from workspace.packing.prompt import build_messages
from workspace.packing.tokens import GemmaCounter
from workspace.runtime.tokenizer import count_tokens, get_tokenizer

WORDS = st.sampled_from(
    [
        "the",
        "ice",
        "moon",
        "bee",
        "tide",
        "grinds",
        "valleys",
        "über",
        "café",
        "東京",
        "naïve",
        "—",
        "“quoted”",
        "(aside)",
        "[bracket]",
        "p.",
        "7",
        "3.14",
        "x²",
        "\t",
        "¶",
        "well-known",
        "can't",
        "e.g.",
        "🙂",
        "Ω",
        "<start_of_turn>",
        "<end_of_turn>",
        "<eos>",
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", ", ", ". "])


@st.composite
def texts(draw: st.DrawFn, *, min_words: int = 1, max_words: int = 60) -> str:
    words = draw(st.lists(WORDS, min_size=min_words, max_size=max_words))
    parts = []
    for word in words:
        parts.append(word)
        parts.append(draw(SEPARATORS))
    return "".join(parts).strip() or "empty"


@st.composite
def sources(draw: st.DrawFn) -> list[Source]:
    result = []
    next_id = 1
    for source_id in range(1, draw(st.integers(1, 4)) + 1):
        pieces = []
        page = 1
        for ordinal in range(draw(st.integers(0, 6))):
            # a tag no other piece has, to tell exactly which pieces reached the prompt
            text = f"tag{next_id}q " + draw(texts())
            span = draw(st.integers(0, 2))
            pieces.append(
                Piece(next_id, source_id, ordinal, text, count_tokens(text), page, page + span)
            )
            page += span + draw(st.integers(0, 1))
            next_id += 1
        title = draw(texts(max_words=8))
        summary = draw(st.one_of(st.just(""), texts(max_words=30)))
        result.append(Source(source_id, title, tuple(pieces), summary))
    return result


@st.composite
def budgets(draw: st.DrawFn) -> Budget:
    return Budget(
        window=draw(st.integers(80, 2500)),
        output_reserve=draw(st.integers(0, 200)),
        margin=draw(st.integers(0, 40)),
        edge_share=draw(st.floats(0.3, 1.0)),
        summary_share=draw(st.floats(0.0, 0.6)),
        far_factor=draw(st.floats(1.0, 6.0)),
    )


def included_tags(prompt: str, all_sources: list[Source]) -> set[int]:
    return {
        piece.id
        for source in all_sources
        for piece in source.pieces
        if f"tag{piece.id}q " in prompt
    }


@settings(
    max_examples=int(os.environ.get("CARREL_PACKING_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    library=sources(),
    budget=budgets(),
    question=texts(max_words=20),
    history=st.lists(st.tuples(texts(max_words=10), texts(max_words=30)), max_size=2),
    strategy=st.sampled_from([None, None, "near_edge", "fits"]),
    kind=st.sampled_from([None, "lookup", "global"]),
    route=st.sampled_from([None, None, None, "lookup", "summaries", "map_reduce"]),
)
@example(  # found by hypothesis: every summary was let in up to the budget, heading aside
    library=[
        Source(id=1, title="the the the the x² x² the 🙂", pieces=(), summary="the"),
        Source(id=2, title="the", pieces=(), summary=""),
    ],
    budget=Budget(
        window=214,
        output_reserve=132,
        margin=40,
        edge_share=1.0,
        summary_share=0.0,
        far_factor=5.0,
    ),
    question="the tide the",
    history=[],
    strategy="near_edge",
    kind="global",
    route=None,
)
def test_a_packed_prompt_never_exceeds_its_budget_and_never_cuts_a_piece(
    library: list[Source],
    budget: Budget,
    question: str,
    history: list,
    strategy: str | None,
    kind: str | None,
    route: str | None,
) -> None:
    counter = GemmaCounter()
    if strategy is not None:
        route = None
    try:
        result = pack(
            question=question,
            sources=library,
            budget=budget,
            system="Cite pages.",
            history=history,
            retriever=BM25Retriever(),
            strategy=strategy,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            route=route,  # type: ignore[arg-type]
        )
    except PackingError:
        bare = counter.count_messages(
            build_messages(
                system="Cite pages.", sources_text="", question=strip_control_tokens(question)
            )
        )
        # Refused only when the question alone is over, or full text was forced and is
        # over, or map-reduce was forced and its rules leave no room.
        assert bare > budget.prompt_limit or strategy == "fits" or route == "map_reduce"
        return

    tokenizer = get_tokenizer()
    pieces = {piece.id: piece for source in library for piece in source.pieces}
    context_map = result.context_map
    if context_map.strategy == "map_reduce":
        for group in result.groups:
            step = map_prompt(
                question=question,
                pieces=group,
                sources=library,
                budget=budget,
                system="Cite pages.",
            )
            assert tokenizer.count_messages(step.messages) <= budget.prompt_limit
            prompt = "".join(message.content for message in step.messages)
            assert included_tags(prompt, library) == {piece.id for piece in group}
            for piece in group:
                assert piece.text in prompt
            assert strip_control_tokens(prompt) == prompt, "no source can fake a chat turn"
        return

    real = tokenizer.count_messages(result.messages)
    assert real <= context_map.prompt_tokens <= budget.prompt_limit
    prompt = "".join(message.content for message in result.messages)
    listed = {chunk for entry in context_map.entries for chunk in entry.chunk_ids}
    assert included_tags(prompt, library) == listed
    for chunk_id in listed:
        assert strip_control_tokens(pieces[chunk_id].text) in prompt, "a piece is always whole"
    assert strip_control_tokens(prompt) == prompt, "no source can fake a chat turn"
    left = {chunk for item in context_map.left_out for chunk in item.chunk_ids}
    assert listed | left == set(pieces) and not listed & left
