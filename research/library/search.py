"""Keyword search over chunks, on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

Both indexes are created by migration 0003 and filled here, one document at a time.
Queries are built from the words of the user's text only, each quoted (FTS5) or passed
through plainto_tsquery (PostgreSQL), and OR-ed together, so no input can inject query
syntax; ranking (BM25 / ts_rank) puts chunks matching more and rarer words first.
Both use English stemming ("models" finds "model").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import connection

MAX_QUERY_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """The distinct words of a query, in order, at most MAX_QUERY_TERMS of them."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        word = word.strip("_")
        if word and word not in seen:
            seen[word] = None
    return list(seen)[:MAX_QUERY_TERMS]


def _fts5_query(terms: Sequence[str]) -> str:
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def chunk_index_document(*, document_id: int) -> None:
    """(Re)index every chunk of a document. Idempotent: it replaces the document's entries."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "DELETE FROM research_chunk_fts WHERE rowid IN "
                "(SELECT id FROM research_chunk WHERE document_id = %s)",
                [document_id],
            )
            cursor.execute(
                "INSERT INTO research_chunk_fts (rowid, text) "
                "SELECT id, text FROM research_chunk WHERE document_id = %s",
                [document_id],
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE research_chunk SET search_vector = to_tsvector('english', text) "
                "WHERE document_id = %s",
                [document_id],
            )
        else:  # pragma: no cover - Carrel supports SQLite and PostgreSQL only
            raise NotImplementedError(f"No keyword index for {connection.vendor}")


def chunk_unindex_document(*, document_id: int) -> None:
    """Remove a document's chunks from the index (the chunks themselves stay)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "DELETE FROM research_chunk_fts WHERE rowid IN "
                "(SELECT id FROM research_chunk WHERE document_id = %s)",
                [document_id],
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE research_chunk SET search_vector = NULL WHERE document_id = %s",
                [document_id],
            )


def chunk_search(
    *, query: str, document_ids: Sequence[int], limit: int = 50
) -> list[tuple[int, float]]:
    """(chunk_id, score) of the best-matching chunks of the given documents, best first.

    Scores are comparable within one call only; higher is better. Any text is safe.
    """
    terms = query_terms(query)
    ids = [int(document_id) for document_id in document_ids]
    if not terms or not ids or limit <= 0:
        return []
    id_marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT c.id, -bm25(research_chunk_fts) AS score "
                "FROM research_chunk_fts JOIN research_chunk c ON c.id = research_chunk_fts.rowid "
                f"WHERE research_chunk_fts MATCH %s AND c.document_id IN ({id_marks}) "
                "ORDER BY score DESC, c.id LIMIT %s",
                [_fts5_query(terms), *ids, limit],
            )
        elif connection.vendor == "postgresql":
            tsquery = " || ".join(["plainto_tsquery('english', %s)"] * len(terms))
            cursor.execute(
                f"WITH q AS (SELECT ({tsquery}) AS query) "
                "SELECT c.id, ts_rank(c.search_vector, q.query, 1) AS score "
                "FROM research_chunk c, q "
                f"WHERE c.search_vector @@ q.query AND c.document_id IN ({id_marks}) "
                "ORDER BY score DESC, c.id LIMIT %s",
                [*terms, *ids, limit],
            )
        else:  # pragma: no cover
            raise NotImplementedError(f"No keyword index for {connection.vendor}")
        return [(int(chunk_id), float(score)) for chunk_id, score in cursor.fetchall()]


def documents_holding_words(
    *, words: Sequence[str], document_ids: Sequence[int]
) -> dict[str, set[int]]:
    """For each word, which of these documents hold it (the index's stemming: "models"
    finds documents with "model"). At most MAX_QUERY_TERMS words."""
    ids = [int(document_id) for document_id in document_ids]
    holders: dict[str, set[int]] = {word: set() for word in words[:MAX_QUERY_TERMS]}
    if not ids or not holders:
        return holders
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            id_marks = ", ".join(["%s"] * len(ids))
            rows: list[tuple[str, int]] = []
            for word in holders:  # one FTS5 query per word; 2 ms for 10 words on 170 papers
                cursor.execute(
                    "SELECT DISTINCT %s, c.document_id FROM research_chunk_fts "
                    "JOIN research_chunk c ON c.id = research_chunk_fts.rowid "
                    f"WHERE research_chunk_fts MATCH %s AND c.document_id IN ({id_marks})",
                    [word, _fts5_query([word]), *ids],
                )
                rows.extend(cursor.fetchall())
        elif connection.vendor == "postgresql":
            # One statement for every word: 7 ms for 10 words on 170 papers, against 19 ms
            # for a query per word (python -m bench.vectors, "vague check").
            cursor.execute(
                "SELECT DISTINCT w.word, c.document_id FROM unnest(%s::text[]) AS w(word) "
                "JOIN research_chunk c ON c.search_vector @@ plainto_tsquery('english', w.word) "
                "WHERE c.document_id = ANY(%s)",
                [list(holders), ids],
            )
            rows = cursor.fetchall()
        else:  # pragma: no cover
            raise NotImplementedError(f"No keyword index for {connection.vendor}")
    for word, document_id in rows:
        holders[word].add(int(document_id))
    return holders
