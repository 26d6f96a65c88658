"""Routing by question: a look-up is one prompt whatever the library's size; a question
about every document is answered from the summaries when they are enough, by map-reduce
when they are not; the caller may override either, and the map says what was done and why."""

from __future__ import annotations

import pytest

from tests.workspace.test_packing import library, make_source
from workspace.packing import BM25Retriever, Budget, Source, pack
from workspace.packing.routing import Route, choose_route, classify_question, kind_for
from workspace.runtime.tokenizer import get_tokenizer


@pytest.mark.parametrize(
    "question",
    [
        "Summarize each paper.",
        "Compare all the methods.",
        "List every data set used.",
        "What do all of the studies conclude about sleep?",
        "Which papers use BERT?",
        "How many documents mention glaciers?",
        "What themes run across the papers?",
        "Give an overview of the whole library.",
        "Which results hold throughout the literature?",
        "What is measured across the entire collection?",
        "Summarize the papers in this project.",
        "Compare the documents on their methods.",
    ],
)
def test_questions_about_every_document_are_global(question: str) -> None:
    kind = classify_question(question)
    assert kind.kind == "global"
    assert kind.reason.startswith("global: ")


@pytest.mark.parametrize(
    "question",
    [
        "What is trace-based JIT compilation and which paper discusses it?",
        "What is the primary focus of this paper?",
        "Which one of the following answers is true?",
        "What two datasets were used to evaluate the BalSum model?",
        "What is not the strength of our work compared with Ho's work?",
        "How do glaciers carve valleys?",
        "Summarize the paper's method.",
        "What does the article of Bamman et al. in 2014 contain?",
        "How does the notation change throughout the paper?",
        "Is the argument consistent across the whole article?",
        # A multiple-choice question pasted with its options: their words are not the ask.
        "What does the article of Bamman et al. in 2014 contain?\nA. The authors define "
        "the relationship between theory and method throughout the paper.\nB. A word "
        "embedding model of first-person narratives.",
    ],
)
def test_questions_about_something_in_the_library_are_lookups(question: str) -> None:
    assert classify_question(question).kind == "lookup"


def test_the_caller_overrides_the_rule_and_the_map_says_so() -> None:
    assert kind_for("Summarize each paper.", "lookup").kind == "lookup"
    assert kind_for("Summarize each paper.", "lookup").decided_by == "caller"
    assert kind_for("Why do bees dance?", None).decided_by == "rule"
    with pytest.raises(ValueError, match="unknown question kind"):
        kind_for("Why?", "other")  # type: ignore[arg-type]


def big_library(count: int = 8) -> list[Source]:
    topics = ["glaciers", "bees", "tides", "volcanoes", "ledgers", "comets"]
    return [make_source(n + 1, topics[n % len(topics)], pages=4) for n in range(count)]


def test_a_lookup_over_a_library_many_windows_large_is_one_prompt_within_the_budget() -> None:
    sources = big_library()
    budget = Budget(window=1200, output_reserve=100, margin=0)
    assert sum(s.tokens for s in sources) > 6 * budget.window

    result = pack(
        question="How do honey bees dance?",
        sources=sources,
        budget=budget,
        retriever=BM25Retriever(),
    )

    context_map = result.context_map
    assert context_map.route == "lookup" and context_map.strategy == "near_edge"
    assert context_map.question_kind == "lookup"
    assert "look-up" in context_map.route_reason
    assert result.messages and not context_map.groups
    assert get_tokenizer().count_messages(result.messages) <= budget.prompt_limit
    excerpts = [entry for entry in context_map.entries if entry.form == "excerpt"]
    assert excerpts[0].title == "On bees"


def test_a_global_question_is_answered_from_the_summaries_when_they_fit() -> None:
    sources = big_library(6)  # six topics: no summary repeats another
    budget = Budget(window=1500, output_reserve=100, margin=0)
    result = pack(
        question="Summarize each document.",
        sources=sources,
        budget=budget,
        retriever=BM25Retriever(),
    )

    context_map = result.context_map
    assert context_map.route == "summaries" and context_map.question_kind == "global"
    summaries = [entry.source_id for entry in context_map.entries if entry.form == "summary"]
    assert summaries == [source.id for source in sources], "every summary, in fixed order"
    assert get_tokenizer().count_messages(result.messages) <= budget.prompt_limit


def test_a_global_question_goes_to_map_reduce_when_summaries_are_missing() -> None:
    sources = big_library()
    sources[3] = Source(sources[3].id, sources[3].title, sources[3].pieces, summary="")
    result = pack(
        question="Summarize each document.",
        sources=sources,
        budget=Budget(window=1500, output_reserve=100, margin=0),
    )
    assert result.context_map.route == "map_reduce"
    assert "no summary" in result.context_map.route_reason
    assert len(result.groups) > 1


def test_reading_the_whole_library_can_be_chosen_for_a_lookup() -> None:
    result = pack(
        question="How do honey bees dance?",
        sources=big_library(),
        budget=Budget(window=1500, output_reserve=100, margin=0),
        route="map_reduce",
    )
    assert result.context_map.route == "map_reduce"
    assert result.context_map.route_reason == "chosen by the caller"
    assert result.context_map.question_kind == "lookup"


def test_a_small_library_is_sent_in_full_whatever_the_question() -> None:
    for question in ("Summarize each document.", "Why do bees dance?"):
        result = pack(question=question, sources=library("bees", "tides"), budget=Budget(32768))
        assert result.context_map.route == "full_text"
        assert result.context_map.strategy == "fits"


@pytest.mark.parametrize(
    ("kind", "summaries", "missing", "expected"),
    [
        ("lookup", 10, 0, "lookup"),
        ("lookup", 10_000, 3, "lookup"),
        ("global", 500, 0, "summaries"),
        ("global", 500, 1, "map_reduce"),
        ("global", 8_000, 0, "map_reduce"),
    ],
)
def test_the_route_rule(kind: str, summaries: int, missing: int, expected: Route) -> None:
    budget = Budget(window=8192, output_reserve=1024, margin=0)
    choice = choose_route(
        kind=kind,  # type: ignore[arg-type]
        fixed=200,
        full_text=50_000,
        summaries=summaries,
        missing_summaries=missing,
        budget=budget,
    )
    assert choice.route == expected
    assert choice.reason
    fits = choose_route(
        kind=kind,  # type: ignore[arg-type]
        fixed=200,
        full_text=5000,
        summaries=summaries,
        missing_summaries=missing,
        budget=budget,
    )
    assert fits.route == "full_text"


def test_a_route_and_a_strategy_cannot_both_be_forced() -> None:
    with pytest.raises(ValueError, match="not both"):
        pack(
            question="Why?",
            sources=library("bees"),
            budget=Budget(window=4096),
            route="lookup",
            strategy="fits",
        )
