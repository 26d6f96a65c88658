"""Citations in answers: parsed from [Title, p. N] and checked against the context map."""

from __future__ import annotations

from research.citations import check_citations, match_title, parse_citations
from workspace.packing import ContextMap, MapEntry


def context_map() -> ContextMap:
    return ContextMap(
        strategy="near_edge",
        reason="test",
        window=8192,
        prompt_limit=7000,
        output_reserve=1024,
        margin=100,
        prompt_tokens=5000,
        fixed_tokens=200,
        source_tokens=4800,
        full_text_tokens=9000,
        entries=[
            MapEntry(0, 1, "Attention Is All You Need", "summary", 120),
            MapEntry(1, 2, "Deep Residual Learning for Image Recognition", "summary", 110),
            MapEntry(2, 1, "Attention Is All You Need", "excerpt", 900, pages=[[2, 3]]),
            MapEntry(
                3,
                3,
                "A Very Long Title About Glaciers and Their Valleys in Norway",
                "excerpt",
                400,
                pages=[[7, 7]],
            ),
        ],
    )


def test_citations_are_parsed_with_single_pages_ranges_and_several_per_bracket() -> None:
    text = (
        "Self-attention replaces recurrence [Attention Is All You Need, p. 2]. "
        "It trains faster [Attention Is All You Need, pp. 2\u2013"
        "3; Deep Residual Learning, page 4]. "
        "Not a citation: [1] or [see above]."
    )
    citations = parse_citations(text)
    assert [(c.title, c.page_start, c.page_end) for c in citations] == [
        ("Attention Is All You Need", 2, 2),
        ("Attention Is All You Need", 2, 3),
        ("Deep Residual Learning", 4, 4),
    ]
    assert text[citations[0].start : citations[0].end] == "[Attention Is All You Need, p. 2]"
    assert citations[1].start == citations[2].start, "two citations share one bracket"


def test_a_citation_of_a_packed_page_is_not_flagged() -> None:
    checked = check_citations(
        "Attention suffices [Attention is all you need, p. 3].", context_map()
    )
    assert len(checked) == 1
    assert checked[0].source_id == 1
    assert not checked[0].flagged


def test_citations_that_do_not_point_to_a_packed_page_are_flagged_with_the_reason() -> None:
    text = (
        "A [Attention Is All You Need, p. 9]. "
        "B [Deep Residual Learning for Image Recognition, p. 1]. "
        "C [Some Paper Nobody Packed, p. 4]."
    )
    unseen, summary_only, unknown = check_citations(text, context_map())
    assert unseen.flagged and "Page 9" in unseen.problem
    assert summary_only.flagged and "summary" in summary_only.problem
    assert unknown.flagged and unknown.source_id is None and "No source" in unknown.problem


def test_shortened_or_slightly_misspelt_titles_still_match_their_source() -> None:
    titles = {
        1: "Attention Is All You Need",
        3: "A Very Long Title About Glaciers and Their Valleys in Norway",
    }
    assert match_title("A Very Long Title About Glaciers…", titles) == 3
    assert match_title("Atention Is All You Need", titles) == 1
    assert match_title("Attention", titles) is None, "too short to be a prefix match"
    assert match_title("", titles) is None


def test_the_claim_of_a_citation_is_the_sentence_it_closes() -> None:
    from research.qa.services import best_passage, claim_before

    text = "Ice is heavy. Glaciers carve valleys [A, p. 1]. Bees dance? [B, p. 2] Done."
    first, second = parse_citations(text)
    assert claim_before(text, first) == "Glaciers carve valleys"
    assert claim_before(text, second) == "Bees dance"
    page = "Rivers meander. Glaciers carve deep valleys in hard rock. Snow falls."
    assert best_passage(page, "Glaciers carve valleys") == (
        "Glaciers carve deep valleys in hard rock."
    )
    assert best_passage(page, "Bees dance") == ""
