"""One prompt of summaries and excerpts: the look-up route (and the summaries route, which
is the same layout with every summary in it).

Documents first: the question's documents are ranked (workspace.retrieval.documents), and
the top ones are sent whole while they fit in `document_share` of the room for excerpts.
The rest of the room takes the best passages of the whole library, strongest first (the
retriever scores a passage with its neighbours: workspace.retrieval.hybrid). What matches
nothing comes last, in reading order. Nothing is ever cut: a piece fits whole or stays out,
and the context map says why.

LookupOptions also holds what bench.packing measured and did not keep by default: adding
the neighbour a passage runs on into (its matching words reach its first or last lines) or
both neighbours, and a long top document's best passages in its share.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from workspace.packing.assembly import LeftOuts, Packed, normalise, pages_of
from workspace.packing.bm25 import STOPWORDS, stem, terms
from workspace.packing.contextmap import MapEntry
from workspace.packing.layout import (
    EXCERPTS_HEADING,
    SEPARATOR,
    SOURCES_HEADING,
    SUMMARIES_HEADING,
    Parts,
    piece_cost,
    summary_heading,
)
from workspace.packing.ordering import edges_first
from workspace.packing.retrievers import Retriever
from workspace.packing.tokens import TokenCounter
from workspace.packing.types import Budget, Piece, Source
from workspace.retrieval.documents import TITLE_SUMMARY_WEIGHT, rank_documents

SOURCE_PRIOR = 0.5  # weight of a source's best match in each of its pieces' scores
EDGE_SHARE = 0.2  # a match this close to a passage's start or end runs on into its neighbour
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class LookupOptions:
    """How the one-prompt routes choose excerpts (bench.packing measures each)."""

    document_share: float = 0.5  # share of the excerpt room for the top documents, whole
    top_passages: bool = False  # a top document too long to send whole: its best passages
    neighbours: Literal["none", "runs_on", "both"] = "none"
    neighbour_depth: int = 20  # how many of the strongest passages may bring a neighbour
    title_summary_weight: float = TITLE_SUMMARY_WEIGHT
    summary_share: float | None = None  # None: the budget's summary_share


def _runs_on(piece: Piece, wanted: set[str]) -> tuple[bool, bool]:
    """Whether the question's words occur in the piece's first or last EDGE_SHARE."""
    size = len(piece.text) or 1
    before = after = False
    for match in _WORD.finditer(piece.text):
        word = match.group().lower()
        if word not in STOPWORDS and stem(word) in wanted:
            position = match.start() / size
            before = before or position < EDGE_SHARE
            after = after or position > 1 - EDGE_SHARE
            if before and after:
                break
    return before, after


def _whole_cost(source: Source, counter: TokenCounter) -> int:
    """About what a whole source costs as excerpts (one marker per piece, at most)."""
    if not source.pieces:
        return 0
    per_piece = piece_cost(counter, source.title, source.pieces[0]) - source.pieces[0].tokens
    return source.tokens + per_piece * len(source.pieces)


def _index_in_source(siblings: tuple[Piece, ...], piece: Piece) -> int:
    """Where a piece sits in its source (its ordinal, when ordinals count from 0)."""
    if 0 <= piece.ordinal < len(siblings) and siblings[piece.ordinal].id == piece.id:
        return piece.ordinal
    return next(index for index, sibling in enumerate(siblings) if sibling.id == piece.id)


@dataclass
class _Unit:
    """A run of adjacent selected pieces of one source: one excerpt in the prompt."""

    source: Source
    pieces: list[Piece]
    score: float
    rank: int  # rank of its best piece


def _units(
    selected: dict[int, Piece],
    scores: dict[int, float],
    rank_of: dict[int, int],
    source_of: dict[int, Source],
) -> list[_Unit]:
    """Selected pieces merged into runs of adjacent pieces, strongest first."""
    by_source: dict[int, list[Piece]] = defaultdict(list)
    for piece in selected.values():
        by_source[piece.source_id].append(piece)
    runs: list[tuple[Source, list[Piece]]] = []
    for source_id, pieces in by_source.items():
        pieces.sort(key=lambda piece: piece.ordinal)
        for piece in pieces:
            if (
                runs
                and runs[-1][0].id == source_id
                and piece.ordinal == runs[-1][1][-1].ordinal + 1
            ):
                runs[-1][1].append(piece)
            else:
                runs.append((source_of[source_id], [piece]))
    units = [
        _Unit(
            source=source,
            pieces=run,
            score=max(scores.get(piece.id, 0.0) for piece in run),
            rank=min(rank_of[piece.id] for piece in run),
        )
        for source, run in runs
    ]
    units.sort(key=lambda unit: (-unit.score, unit.rank))
    return units


def _priority(
    *,
    query: str,
    sources: Sequence[Source],
    matched: list[int],
    scores: dict[int, float],
    by_id: dict[int, Piece],
    room: int,
    options: LookupOptions,
    counter: TokenCounter,
) -> tuple[list[int], list[int]]:
    """Piece ids in the order they should claim room, and the document order."""
    owner_of = {piece_id: by_id[piece_id].source_id for piece_id in matched}
    documents = rank_documents(
        query,
        sources,
        matched,
        owner_of=owner_of,
        title_summary_weight=options.title_summary_weight,
    )
    source_of = {source.id: source for source in sources}
    order: list[int] = []
    # Documents first: the top documents whole while they fit in their share.
    share = int(options.document_share * room)
    used = 0
    for document in documents:
        if document.best_passage is None:
            break
        source = source_of[document.source_id]
        cost = _whole_cost(source, counter)
        if used + cost <= share:
            order.extend(piece.id for piece in source.pieces)
            used += cost
            continue
        if used == 0 and options.top_passages:
            # The top document is too long to send whole: its best passages, each with
            # both neighbours, take the share.
            per_piece = cost // max(1, len(source.pieces))
            index_of = {piece.id: index for index, piece in enumerate(source.pieces)}
            for piece_id in matched:
                if used >= share:
                    break
                if by_id[piece_id].source_id != source.id:
                    continue
                index = index_of[piece_id]
                for near in (index, index - 1, index + 1):
                    if 0 <= near < len(source.pieces):
                        order.append(source.pieces[near].id)
                        used += per_piece
        break
    # Then the best passages of the library (with neighbours, if chosen).
    wanted = set(terms(query))
    for rank, piece_id in enumerate(matched):
        order.append(piece_id)
        if options.neighbours == "none" or rank >= options.neighbour_depth:
            continue
        piece = by_id[piece_id]
        if options.neighbours == "both":
            before = after = True
        else:
            before, after = _runs_on(piece, wanted)
        siblings = source_of[piece.source_id].pieces
        position = _index_in_source(siblings, piece)
        if before and position > 0:
            order.append(siblings[position - 1].id)
        if after and position + 1 < len(siblings):
            order.append(siblings[position + 1].id)
    return order, [document.source_id for document in documents]


def pack_excerpts(
    *,
    query: str,
    sources: Sequence[Source],
    available: int,
    budget: Budget,
    reason: str,
    retriever: Retriever,
    counter: TokenCounter,
    dedupe: bool,
    every_summary: bool = False,
    summary_costs: dict[int, int] | None = None,
    source_prior: float = SOURCE_PRIOR,
    options: LookupOptions | None = None,
) -> Packed:
    """Summaries, then excerpts, within `available` tokens. `every_summary` (the summaries
    route) gives summaries all the room they need, in the sources' order; otherwise they
    take at most their share, most relevant documents first."""
    options = options or LookupOptions()
    source_of = {source.id: source for source in sources}
    position = {source.id: index for index, source in enumerate(sources)}
    all_pieces = [piece for source in sources for piece in source.pieces]
    by_id = {piece.id: piece for piece in all_pieces}
    left = LeftOuts()
    notes: list[str] = []

    ranking = retriever(query, all_pieces, len(all_pieces)) if all_pieces and query.strip() else []
    scores: dict[int, float] = {}
    for ranked in ranking:
        if ranked.piece_id in by_id and ranked.piece_id not in scores:
            scores[ranked.piece_id] = ranked.score
    source_score: dict[int, float] = defaultdict(float)
    for piece_id, score in scores.items():
        owner = by_id[piece_id].source_id
        source_score[owner] = max(source_score[owner], score)
    # A piece of a source that matches strongly elsewhere is likelier to be what the
    # question is about: lift it by a share of its source's best score.
    if source_prior:
        scores = {
            piece_id: score + source_prior * source_score[by_id[piece_id].source_id]
            for piece_id, score in scores.items()
        }
    matched = sorted(scores, key=lambda piece_id: -scores[piece_id])

    sep = counter.count(SEPARATOR)
    heading = counter.count(SOURCES_HEADING)
    share = budget.summary_share if options.summary_share is None else options.summary_share
    room_before_summaries = available - heading - counter.count(EXCERPTS_HEADING)
    order, document_order = _priority(
        query=query,
        sources=sources,
        matched=matched,
        scores=scores,
        by_id=by_id,
        room=max(0, room_before_summaries - int(share * available)),
        options=options,
        counter=counter,
    )
    order += [piece.id for piece in all_pieces if piece.id not in scores]
    rank_of: dict[int, int] = {}
    for rank, piece_id in enumerate(order):
        rank_of.setdefault(piece_id, rank)

    # Summaries: every one for the summaries route; otherwise those of the most relevant
    # documents, within their share. Either way after the sources heading, which they follow.
    cap = min(available if every_summary else int(share * available), available - heading)
    used = counter.count(SUMMARIES_HEADING)
    chosen: list[Source] = []
    seen_summaries: set[str] = set()
    missing = 0
    document_rank = {source_id: rank for rank, source_id in enumerate(document_order)}
    summary_order = (
        list(sources)
        if every_summary
        else sorted(sources, key=lambda s: (document_rank.get(s.id, len(sources)), position[s.id]))
    )
    for source in summary_order:
        if not source.summary.strip():
            missing += 1
            continue
        if summary_costs is not None and source.id in summary_costs:
            cost = summary_costs[source.id]
        else:
            cost = (
                counter.count(summary_heading(source.title)) + counter.count(source.summary) + sep
            )
        key = normalise(source.summary)
        if dedupe and key in seen_summaries:
            left.add(source, "summary", "duplicate", cost)
        elif used + cost <= cap:
            chosen.append(source)
            seen_summaries.add(key)
            used += cost
        else:
            left.add(source, "summary", "summary_share", cost)
    if missing:
        notes.append(f"{missing} source(s) have no summary, so only excerpts can represent them")
    chosen.sort(key=lambda source: position[source.id])
    summaries_used = used if chosen else 0

    # Excerpts: in priority order, whole, each text at most once.
    room = available - heading - summaries_used - counter.count(EXCERPTS_HEADING)
    selected: dict[int, Piece] = {}
    seen_texts: set[str] = set()
    considered: set[int] = set()
    skipped: list[int] = []

    seen_raw: set[str] = set()  # exact texts selected: a cheap duplicate check

    def consider(piece: Piece, remaining: int) -> int:
        """Select the piece if it fits; return what it cost (0: not selected)."""
        source = source_of[piece.source_id]
        if piece.tokens + sep > room:
            left.add(source, "excerpt", "too_large", piece.tokens, piece)
            return 0
        if dedupe and piece.text in seen_raw:
            left.add(source, "excerpt", "duplicate", piece.tokens, piece)
            return 0
        if piece.tokens + sep > remaining:  # cheap checks before normalising or counting
            skipped.append(piece.id)
            return 0
        key = normalise(piece.text) if dedupe else ""
        if dedupe and key in seen_texts:
            left.add(source, "excerpt", "duplicate", piece.tokens, piece)
            return 0
        cost = piece_cost(counter, source.title, piece)
        if cost > remaining:
            skipped.append(piece.id)
            return 0
        selected[piece.id] = piece
        if dedupe:
            seen_texts.add(key)
            seen_raw.add(piece.text)
        return cost

    smallest = min((piece.tokens for piece in all_pieces), default=0) + sep
    remaining = room
    for index, piece_id in enumerate(order):
        if remaining < smallest:  # nothing more can fit: the rest wait, unconsidered
            skipped.extend(p for p in dict.fromkeys(order[index:]) if p not in considered)
            break
        if piece_id in considered:
            continue
        considered.add(piece_id)
        remaining -= consider(by_id[piece_id], remaining)

    def assemble() -> tuple[Parts, list[MapEntry]]:
        parts = Parts(counter)
        entries: list[MapEntry] = []
        if not chosen and not selected:
            return parts, entries
        parts.add(SOURCES_HEADING, heading)
        if chosen:
            parts.add(SUMMARIES_HEADING)
            for source in chosen:
                tokens = parts.add(summary_heading(source.title))
                tokens += parts.add(source.summary)
                tokens += parts.add(SEPARATOR, sep)
                entries.append(
                    MapEntry(
                        len(entries),
                        source.id,
                        source.title,
                        "summary",
                        tokens,
                        score=source_score.get(source.id),
                    )
                )
        if selected:
            parts.add(EXCERPTS_HEADING)
            for unit in edges_first(_units(selected, scores, rank_of, source_of)):
                entries.append(
                    MapEntry(
                        position=len(entries),
                        source_id=unit.source.id,
                        title=unit.source.title,
                        form="excerpt",
                        tokens=parts.add_pieces(unit.source.title, unit.pieces),
                        pages=pages_of(unit.pieces),
                        chunk_ids=[piece.id for piece in unit.pieces],
                        score=unit.score if unit.score > 0 else None,
                    )
                )
        return parts, entries

    parts, entries = assemble()
    # Adjacent pieces on the same pages share one marker: fill what that freed, once.
    first_pass, skipped = skipped, []
    leftover = available - parts.tokens
    if not selected:
        leftover -= counter.count(EXCERPTS_HEADING) + (0 if chosen else heading)
    added = False
    for index, piece_id in enumerate(first_pass):
        if leftover < smallest:
            skipped.extend(first_pass[index:])
            break
        cost = consider(by_id[piece_id], leftover)
        leftover -= cost
        added = added or cost > 0
    if added:
        parts, entries = assemble()
    for piece_id in skipped:
        piece = by_id[piece_id]
        if piece.tokens + sep > room:
            code = "too_large"
        elif dedupe and piece.text in seen_raw:
            code = "duplicate"
        else:
            code = "budget" if piece_id in scores else "no_match"
        left.add(source_of[piece.source_id], "excerpt", code, piece.tokens, piece)
    return Packed(
        "near_edge", reason, parts, entries, left.items(), retriever=retriever.name, notes=notes
    )
