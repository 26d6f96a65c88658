"""Packing: the strategy ladder, the stable prefix, the context map, map-reduce plans.

Sources are real text cut by workspace.chunking and counted by Gemma's tokenizer; every
budget claim is checked by counting the final prompt with the same tokenizer.
"""

from __future__ import annotations

import json

import pytest

from workspace.chunking import PageText, chunk_pages
from workspace.packing import (
    BM25Retriever,
    Budget,
    ContextMap,
    PackingError,
    Piece,
    Source,
    batch_notes,
    choose_strategy,
    map_prompt,
    pack,
    reduce_prompt,
)
from workspace.packing.layout import QUESTION_HEADING
from workspace.packing.ordering import edges_first
from workspace.runtime.tokenizer import count_tokens, get_tokenizer, render_gemma_prompt

TOPICS = {
    "glaciers": "Glaciers carve valleys as the ice grinds bedrock into till and moraines.",
    "bees": "Honey bees dance to tell the hive where nectar and pollen can be found.",
    "tides": "Tides rise and fall twice a day because the moon pulls on the oceans.",
    "volcanoes": "Volcanoes erupt when magma pressure breaks through the crust of the earth.",
    "ledgers": "Medieval ledgers record tithes, rents and the harvest of every parish.",
    "comets": "Comets grow bright tails of gas and dust when they swing near the sun.",
}


def document_text(topic: str, pages: int, sentences_per_page: int = 12) -> list[str]:
    """Page texts about one topic: paragraphs of varied sentences, each page distinct."""
    base = TOPICS[topic]
    texts = []
    for page in range(1, pages + 1):
        paragraphs = []
        for paragraph in range(3):
            sentences = [
                f"{base} Note {page}.{paragraph}.{n} on {topic} adds detail number {n * page}."
                for n in range(sentences_per_page // 3)
            ]
            paragraphs.append(" ".join(sentences))
        texts.append("\n\n".join(paragraphs))
    return texts


def make_source(
    source_id: int, topic: str, *, pages: int = 3, target: int = 120, summary: str | None = None
) -> Source:
    drafts = chunk_pages(
        [PageText(n + 1, text) for n, text in enumerate(document_text(topic, pages))],
        target_tokens=target,
    )
    pieces = tuple(
        Piece(
            source_id * 1000 + d.ordinal,
            source_id,
            d.ordinal,
            d.text,
            d.token_count,
            d.page_start,
            d.page_end,
        )
        for d in drafts
    )
    return Source(
        id=source_id,
        title=f"On {topic}",
        pieces=pieces,
        summary=summary if summary is not None else f"A short account of {topic}. {TOPICS[topic]}",
    )


def library(*topics: str, pages: int = 3) -> list[Source]:
    return [make_source(n + 1, topic, pages=pages) for n, topic in enumerate(topics)]


def real_tokens(result) -> int:
    return get_tokenizer().count_messages(result.messages)


def user_content(result) -> str:
    return next(message.content for message in result.messages if message.role == "user")


def test_everything_that_fits_is_sent_in_full_in_a_fixed_order() -> None:
    sources = library("glaciers", "bees", "tides")
    result = pack(question="Why do tides rise?", sources=sources, budget=Budget(window=32768))

    assert result.context_map.strategy == "fits"
    assert [entry.source_id for entry in result.context_map.entries] == [1, 2, 3]
    assert all(entry.form == "full" for entry in result.context_map.entries)
    text = user_content(result)
    for source in sources:
        for piece in source.pieces:
            assert piece.text in text
    assert text.index("On glaciers") < text.index("On bees") < text.index("On tides")
    assert text.rstrip().endswith("Why do tides rise?")
    assert real_tokens(result) <= result.context_map.prompt_tokens <= 32768 - 1024


def test_near_the_edge_summaries_come_first_and_the_best_excerpts_sit_at_both_ends() -> None:
    sources = library("glaciers", "bees", "tides", "volcanoes", "ledgers", "comets", pages=4)
    total = sum(source.tokens for source in sources)
    window = int(total * 0.6)
    question = "Bees dance for nectar and pollen in the hive; tides and the moon; comets?"
    result = pack(
        question=question,
        sources=sources,
        budget=Budget(window=window, output_reserve=256),
        retriever=BM25Retriever(),
    )

    context_map = result.context_map
    assert context_map.strategy == "near_edge"
    forms = [entry.form for entry in context_map.entries]
    summaries = forms.count("summary")
    assert summaries == len(sources), "every source keeps its summary"
    assert forms[:summaries] == ["summary"] * summaries
    excerpts = [entry for entry in context_map.entries if entry.form == "excerpt"]
    scores = [entry.score or 0.0 for entry in excerpts]
    assert len({entry.source_id for entry in excerpts if entry.score}) >= 3
    assert excerpts[0].source_id == 2, "the strongest evidence (on bees) opens the excerpts"
    assert scores[0] == max(scores)
    assert scores[-1] == sorted(scores)[-2], "the second strongest closes them"
    assert min(scores) < scores[-1]
    assert real_tokens(result) <= context_map.prompt_limit


def test_far_beyond_the_window_the_ladder_plans_map_reduce_groups_that_each_fit() -> None:
    sources = library("glaciers", "bees", "tides", "volcanoes", pages=6)
    budget = Budget(window=900, output_reserve=128, margin=16)
    result = pack(
        question="What carves valleys?", sources=sources, budget=budget, route="map_reduce"
    )

    context_map = result.context_map
    assert context_map.strategy == "map_reduce"
    assert result.messages == []
    assert len(context_map.groups) == len(result.groups) > 4
    planned = [chunk for group in context_map.groups for chunk in group.chunk_ids]
    everything = [piece.id for source in sources for piece in source.pieces]
    assert planned == everything, "every piece is read once, in document order"
    for group in result.groups:
        step = map_prompt(
            question="What carves valleys?", pieces=group, sources=sources, budget=budget
        )
        assert real_tokens(step) <= budget.prompt_limit


def test_the_ladder_reads_its_thresholds_from_the_budget() -> None:
    budget = Budget(window=10_000, output_reserve=1000, margin=100, far_factor=4.0)
    # edge: 85% of 10,000 = 8,500 for the whole prompt
    assert choose_strategy(fixed=500, full_text=8000, summaries=0, budget=budget)[0] == "fits"
    assert choose_strategy(fixed=500, full_text=8001, summaries=0, budget=budget)[0] == "near_edge"
    available = budget.prompt_limit - 500
    assert (
        choose_strategy(fixed=500, full_text=4 * available + 1, summaries=0, budget=budget)[0]
        == "map_reduce"
    )
    crowded = int(budget.summary_share * available) + 1
    assert (
        choose_strategy(fixed=500, full_text=9000, summaries=crowded, budget=budget)[0]
        == "map_reduce"
    )


def test_two_questions_over_the_same_sources_share_the_prompt_prefix_up_to_the_question() -> None:
    sources = library("glaciers", "bees", "tides")
    budget = Budget(window=32768)
    first = pack(question="Why do tides rise?", sources=sources, budget=budget, system="Rules.")
    second = pack(question="What do bees eat?", sources=sources, budget=budget, system="Rules.")

    one = render_gemma_prompt(first.messages)
    two = render_gemma_prompt(second.messages)
    prefix = one[: one.index(QUESTION_HEADING) + len(QUESTION_HEADING)]
    assert two.startswith(prefix)
    assert len(prefix) > 0.95 * len(one) - len("Why do tides rise?") - 100


def test_a_follow_up_keeps_the_first_exchange_as_a_shared_prefix() -> None:
    sources = library("glaciers", "bees")
    budget = Budget(window=32768)
    first = pack(question="What carves valleys?", sources=sources, budget=budget, system="R.")
    follow = pack(
        question="And how fast?",
        sources=sources,
        budget=budget,
        system="R.",
        history=[("What carves valleys?", "Glaciers do [On glaciers, p. 1].")],
    )

    first_prompt = render_gemma_prompt(first.messages, add_generation_prompt=False)
    assert render_gemma_prompt(follow.messages).startswith(first_prompt)
    assert follow.messages[-1].content == "And how fast?"
    assert follow.context_map.history_turns == 1


def test_the_context_map_lists_what_was_left_out_and_why() -> None:
    duplicate = make_source(9, "bees", pages=4)
    copy = Source(
        id=10,
        title="Bees again",
        summary=duplicate.summary,
        pieces=tuple(
            Piece(10_000 + p.ordinal, 10, p.ordinal, p.text, p.tokens, p.page_start, p.page_end)
            for p in duplicate.pieces
        ),
    )
    sources = [*library("glaciers", "tides", "volcanoes", pages=4), duplicate, copy]
    budget = Budget(window=1800, output_reserve=200, margin=0)
    result = pack(
        question="How do bees dance?",
        sources=sources,
        budget=budget,
        retriever=BM25Retriever(),
        strategy="near_edge",
    )

    left = result.context_map.left_out
    reasons = {item.reason for item in left}
    assert {"budget", "duplicate"} <= reasons
    duplicates = [item for item in left if item.reason == "duplicate" and item.form == "excerpt"]
    assert duplicates and all(item.source_id in (9, 10) for item in duplicates)
    packed = {chunk for entry in result.context_map.entries for chunk in entry.chunk_ids}
    omitted = {chunk for item in left for chunk in item.chunk_ids}
    everything = {piece.id for source in sources for piece in source.pieces}
    assert packed | omitted == everything and not packed & omitted
    assert all(item.why and item.tokens > 0 for item in left)
    assert real_tokens(result) <= budget.prompt_limit


def test_the_context_map_survives_a_json_round_trip() -> None:
    result = pack(
        question="Why do comets glow?",
        sources=library("comets", "tides", pages=5),
        budget=Budget(window=1500, output_reserve=100),
        retriever=BM25Retriever(),
    )
    data = json.loads(result.context_map.to_json())
    again = ContextMap.from_dict(data)
    assert again == result.context_map
    assert again.seen_pages() == result.context_map.seen_pages()


def test_a_question_larger_than_the_budget_is_refused_with_a_clear_error() -> None:
    with pytest.raises(PackingError, match="question alone"):
        pack(
            question="why " * 400,
            sources=library("bees"),
            budget=Budget(window=300, output_reserve=50),
        )


def test_forcing_full_text_over_the_budget_is_refused() -> None:
    with pytest.raises(PackingError, match="full text needs"):
        pack(
            question="Why?",
            sources=library("bees", "tides", pages=6),
            budget=Budget(window=600, output_reserve=50),
            strategy="fits",
        )


def test_older_turns_give_way_when_the_conversation_outgrows_its_share() -> None:
    history = [(f"Question {n}?", "An answer that goes on. " * 40) for n in range(8)]
    result = pack(
        question="Last one?",
        sources=library("bees"),
        budget=Budget(window=4000, output_reserve=100),
        history=history,
        retriever=BM25Retriever(),
    )
    kept = result.context_map.history_turns
    assert 0 < kept < len(history)
    contents = [message.content for message in result.messages]
    assert any("Question 7?" in content for content in contents)
    assert not any("Question 0?" in content for content in contents)
    assert real_tokens(result) <= 4000 - 100


def test_strongest_evidence_goes_to_the_edges() -> None:
    assert edges_first([1, 2, 3, 4, 5]) == [1, 3, 5, 4, 2]
    assert edges_first([1, 2]) == [1, 2]
    assert edges_first([]) == []


def test_bm25_ranks_the_matching_piece_first_and_leaves_out_what_does_not_match() -> None:
    sources = library("glaciers", "bees", "tides")
    pieces = [piece for source in sources for piece in source.pieces]
    ranked = BM25Retriever()("moon pulls oceans", pieces, 5)
    assert ranked and all(pieces_by_id(pieces)[r.piece_id].source_id == 3 for r in ranked)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert BM25Retriever()("zeppelin", pieces, 5) == []


def pieces_by_id(pieces: list[Piece]) -> dict[int, Piece]:
    return {piece.id: piece for piece in pieces}


def test_notes_that_do_not_fit_one_reduce_prompt_are_reduced_in_batches() -> None:
    notes = [f"Part {n}: glaciers carve valleys [On glaciers, p. {n}]. " * 12 for n in range(1, 9)]
    budget = Budget(window=1200, output_reserve=200, margin=0)
    batches = batch_notes(notes, question="What carves valleys?", budget=budget, system="R.")
    assert len(batches) > 1
    assert sorted(i for batch in batches for i in batch) == list(range(len(notes)))
    for batch in batches:
        prompt = reduce_prompt(
            question="What carves valleys?",
            notes=[notes[i] for i in batch],
            budget=budget,
            system="R.",
        )
        assert real_tokens(prompt) <= budget.prompt_limit
    with pytest.raises(PackingError):
        reduce_prompt(question="What carves valleys?", notes=notes, budget=budget, system="R.")


def test_page_markers_name_the_source_and_pages_in_citation_form() -> None:
    source = make_source(1, "ledgers", pages=2, target=400)
    result = pack(question="What do ledgers record?", sources=[source], budget=Budget(window=8192))
    text = user_content(result)
    assert "[On ledgers, p. 1]\n" in text
    assert "[On ledgers, p. 2]\n" in text or "[On ledgers, pp. 1-2]\n" in text
    assert count_tokens(text) <= result.context_map.source_tokens + count_tokens(
        QUESTION_HEADING + "What do ledgers record?"
    )
