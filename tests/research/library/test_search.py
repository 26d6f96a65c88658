"""The keyword index, on whichever database the tests run against (SQLite or PostgreSQL)."""

from __future__ import annotations

import pytest

from research.library import services
from research.library.search import chunk_index_document, chunk_search, chunk_unindex_document
from research.models import Chunk, Document

pytestmark = pytest.mark.django_db


def _document(project, title: str, texts: list[str]) -> Document:
    document = Document.objects.create(
        project=project,
        title=title,
        original_name=f"{title}.txt",
        file_type=Document.FileType.TEXT,
        content_hash=title,
    )
    Chunk.objects.bulk_create(
        Chunk(document=document, ordinal=i, text=text, token_count=len(text.split()),
              page_start=i + 1, page_end=i + 1)
        for i, text in enumerate(texts)
    )  # fmt: skip
    return document


@pytest.fixture
def library(user):
    project = services.project_create(owner=user, title="Library")
    rivers = _document(
        project,
        "rivers",
        [
            "The Elbe floods the meadows every spring.",
            "Transformers use attention instead of recurrence for sequence models.",
            "Attention, attention: the attention mechanism weighs every token.",
        ],
    )
    hills = _document(project, "hills", ["Attention to the hills: the slopes are steep."])
    for document in (rivers, hills):
        chunk_index_document(document_id=document.pk)
    return rivers, hills


def test_search_ranks_the_chunks_that_match_more_and_rarer_words_first(library):
    rivers, hills = library
    results = chunk_search(query="attention mechanism", document_ids=[rivers.pk, hills.pk])
    ids = [chunk_id for chunk_id, _ in results]
    best = Chunk.objects.get(pk=ids[0])
    assert "mechanism" in best.text
    assert len(ids) == 3  # every chunk that says "attention"
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)


def test_search_only_looks_in_the_given_documents(library):
    _, hills = library
    results = chunk_search(query="attention", document_ids=[hills.pk])
    assert [Chunk.objects.get(pk=i).document_id for i, _ in results] == [hills.pk]
    assert chunk_search(query="attention", document_ids=[]) == []


def test_search_stems_english_words(library):
    rivers, _ = library
    (chunk_id, _), *_ = chunk_search(query="flooding meadow", document_ids=[rivers.pk])
    assert "floods the meadows" in Chunk.objects.get(pk=chunk_id).text


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced attention',
        "attention AND (OR NOT",
        "NEAR(attention steep, 2)",
        "text: attention*",
        "attention'; DROP TABLE research_chunk; --",
        "^attention + -steep",
        "attention\x00",
        "🙂 attention",
    ],
)
def test_any_text_is_a_safe_query(library, query):
    rivers, hills = library
    results = chunk_search(query=query, document_ids=[rivers.pk, hills.pk])
    assert len(results) == 3  # every chunk that says "attention"
    assert Chunk.objects.count() == 4


def test_a_query_without_words_finds_nothing(library):
    rivers, hills = library
    assert chunk_search(query="?! ... --", document_ids=[rivers.pk, hills.pk]) == []


def test_indexing_twice_does_not_duplicate_and_unindexing_removes(library):
    rivers, _ = library
    chunk_index_document(document_id=rivers.pk)
    chunk_index_document(document_id=rivers.pk)
    assert len(chunk_search(query="attention", document_ids=[rivers.pk])) == 2
    chunk_unindex_document(document_id=rivers.pk)
    assert chunk_search(query="attention", document_ids=[rivers.pk]) == []


def test_deleted_chunks_leave_the_index(library):
    rivers, hills = library
    rivers_id = rivers.pk
    services.document_delete(document=rivers)
    assert chunk_search(query="attention", document_ids=[rivers_id]) == []
    assert len(chunk_search(query="attention", document_ids=[hills.pk])) == 1


def test_the_limit_caps_the_results(library):
    rivers, hills = library
    assert len(chunk_search(query="attention", document_ids=[rivers.pk, hills.pk], limit=2)) == 2


def test_the_sqlite_index_still_has_its_delete_trigger_after_every_migration():
    """A migration that rebuilds research_chunk on SQLite drops its triggers; this notices."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the trigger exists on SQLite only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'research_chunk'"
        )
        assert ("research_chunk_fts_delete",) in cursor.fetchall()
