"""Better evidence than plain BM25: rank fusion, query expansion from the question's own
words, documents first, and the neighbour a strong passage runs on into."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

from tests.workspace.test_packing import make_source
from workspace.packing import BM25Retriever, Budget, Piece, Source, pack
from workspace.packing.excerpts import LookupOptions
from workspace.retrieval import (
    HybridRetriever,
    MemoryVectors,
    expand_query,
    rank_documents,
    reciprocal_rank_fusion,
    vector_from_bytes,
    vector_to_bytes,
)
from workspace.retrieval.expansion import expansions
from workspace.runtime.tokenizer import count_tokens, get_tokenizer

CONCEPTS = {"car": 0, "automobile": 0, "engine": 0, "bee": 1, "hive": 1, "ice": 2, "glacier": 2}


class ConceptEmbedder:
    """Vectors that count a few concepts, so "automobile" and "car" embed alike."""

    name = "concepts"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            vector = np.full(3, 0.01, dtype=np.float32)
            for word in re.findall(r"\w+", text.lower()):
                if word in CONCEPTS:
                    vector[CONCEPTS[word]] += 1.0
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


class BrokenEmbedder(ConceptEmbedder):
    def embed_query(self, text: str) -> np.ndarray:
        raise ConnectionError("embedding server gone")


PIECES = [
    Piece(1, 1, 0, "Honey bees return to the hive.", 8, 1, 1),
    Piece(2, 1, 1, "The glacier ice melts in summer.", 8, 2, 2),
    Piece(3, 2, 0, "Her car has a loud engine.", 8, 1, 1),
]


def test_rank_fusion_puts_what_both_rankings_agree_on_first() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]])
    assert max(fused, key=fused.__getitem__) == 1
    assert fused[2] < fused[3], "one ranking's second loses to two rankings' votes"
    weighted = reciprocal_rank_fusion([[1], [2]], weights=[1.0, 0.5])
    assert weighted[1] > weighted[2]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


def test_query_expansion_joins_adjacent_words_the_way_papers_spell_terms() -> None:
    assert "dataset" in expansions("Which data set was used?")
    assert "pretrained" in expansions("a pre-trained model")
    assert expansions("BERT") == []
    assert expand_query("data set").startswith("data set ")


def test_expansion_finds_a_piece_that_spells_the_term_as_one_word() -> None:
    pieces = [
        Piece(1, 1, 0, "We release a new dataset of essays.", 9, 1, 1),
        Piece(2, 2, 0, "A set of rules for data entry.", 9, 1, 1),
    ]
    plain = HybridRetriever(BM25Retriever(), expand=False)("data set", pieces, 2)
    expanded = HybridRetriever(BM25Retriever(), expand=True)("data set", pieces, 2)
    assert 1 not in [r.piece_id for r in plain]
    assert 1 in [r.piece_id for r in expanded]


def test_vectors_find_a_piece_that_shares_no_keyword_and_a_failure_keeps_keywords() -> None:
    embedder = ConceptEmbedder()
    vectors = MemoryVectors(embedder)
    vectors.add(PIECES)
    hybrid = HybridRetriever(BM25Retriever(), vectors=vectors, embedder=embedder)
    assert BM25Retriever()("automobile", PIECES, 3) == []
    assert hybrid("automobile", PIECES, 3)[0].piece_id == 3
    assert "fused with vectors in memory" in hybrid.name

    prefiltered = HybridRetriever(
        BM25Retriever(), vectors=vectors, embedder=embedder, prefilter=1, context_weight=0.0
    )
    assert [r.piece_id for r in prefiltered("automobile engine", PIECES, 3)] == [3]
    topped_up = [r.piece_id for r in prefiltered("automobile", PIECES, 3)]
    assert topped_up == [PIECES[0].id], "no keyword match: the pool is topped up in reading order"

    broken = HybridRetriever(
        BM25Retriever(), vectors=vectors, embedder=BrokenEmbedder(), context_weight=0.0
    )
    assert [r.piece_id for r in broken("hive bees", PIECES, 3)] == [1]


def test_vectors_round_trip_through_the_database_format() -> None:
    vector = np.array([0.25, -1.5, 3.0], dtype=np.float32)
    data = vector_to_bytes(vector)
    assert len(data) == 12
    assert np.array_equal(vector_from_bytes(data), vector)


def test_documents_are_ranked_by_their_best_passage() -> None:
    sources = [
        Source(1, "A", tuple(PIECES[:2])),
        Source(2, "B", tuple(PIECES[2:])),
        Source(3, "C", ()),
    ]
    ranked = rank_documents("car", sources, [3, 2], owner_of={1: 1, 2: 1, 3: 2})
    assert [r.source_id for r in ranked] == [2, 1, 3]
    assert ranked[0].best_passage == 1 and ranked[2].best_passage is None


def _story(source_id: int, paragraphs: list[str]) -> Source:
    pieces = tuple(
        Piece(source_id * 100 + n, source_id, n, text, count_tokens(text), n + 1, n + 1)
        for n, text in enumerate(paragraphs)
    )
    return Source(source_id, f"Story {source_id}", pieces, summary="")


FILLER = "The weather was mild and the harbour quiet that year. " * 6


def test_a_passage_whose_match_reaches_its_end_brings_the_next_piece() -> None:
    story = _story(
        1,
        [
            FILLER,
            FILLER + "Then the lighthouse keeper found the brass key",
            "under the third stair, where nobody had looked. " + FILLER,
            FILLER,
        ],
    )
    others = [_story(n, [FILLER.replace("harbour", f"field{n}")] * 3) for n in range(2, 6)]
    # room for the matching piece and one more
    window = story.pieces[1].tokens + story.pieces[2].tokens + 110
    budget = Budget(window=window, output_reserve=0, margin=0)

    def chunks(options: LookupOptions) -> set[int]:
        result = pack(
            question="Where did the lighthouse keeper find the brass key?",
            sources=[story, *others],
            budget=budget,
            retriever=BM25Retriever(),
            lookup=options,
            strategy="near_edge",
        )
        assert get_tokenizer().count_messages(result.messages) <= budget.prompt_limit
        return {c for e in result.context_map.entries for c in e.chunk_ids}

    plain = chunks(LookupOptions(document_share=0.0, neighbours="none", summary_share=0.0))
    assert 101 in plain and 102 not in plain, "without neighbours, background fills the rest"
    runs_on = chunks(LookupOptions(document_share=0.0, summary_share=0.0, neighbours="runs_on"))
    assert {101, 102} <= runs_on


def test_the_top_document_goes_in_whole_when_it_fits_its_share() -> None:
    sources = [make_source(n + 1, topic, pages=2) for n, topic in enumerate(
        ["glaciers", "bees", "tides", "volcanoes", "ledgers", "comets"])]  # fmt: skip
    bees = sources[1]
    budget = Budget(window=bees.tokens * 3, output_reserve=0, margin=0)
    result = pack(
        question="Where do honey bees find nectar?",
        sources=sources,
        budget=budget,
        retriever=BM25Retriever(),
        lookup=LookupOptions(document_share=0.6),
    )
    packed = {c for e in result.context_map.entries for c in e.chunk_ids}
    assert {piece.id for piece in bees.pieces} <= packed
    assert get_tokenizer().count_messages(result.messages) <= budget.prompt_limit


def test_a_passage_inside_a_matching_stretch_outranks_an_isolated_one() -> None:
    pieces = [
        Piece(1, 1, 0, "Tides follow the moon.", 6, 1, 1),
        Piece(2, 1, 1, "Ocean tides rise twice a day.", 7, 1, 1),
        Piece(3, 1, 2, "The moon pulls the ocean.", 6, 2, 2),
        Piece(4, 2, 0, "Ocean tides, ocean tides: they rise twice a day.", 11, 1, 1),
        Piece(5, 2, 1, "Bees make honey in summer.", 6, 1, 1),
    ]
    alone = HybridRetriever(BM25Retriever(), context_weight=0.0)("ocean tides", pieces, 5)
    context = HybridRetriever(BM25Retriever())("ocean tides", pieces, 5)
    assert alone[0].piece_id == 4
    assert context[0].piece_id == 2, "its neighbours match too"
