"""The strategy ladder: full text when it fits, summaries plus the best excerpts near the
window's edge, map-reduce far beyond it. Pure: sources, a budget and a retriever in; the
exact prompt and its context map out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from workspace.packing.assembly import (
    LeftOuts,
    Packed,
    PackingError,
    PackResult,
    finish,
    layout_full,
    normalise,
    pages_of,
    trim_history,
)
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
from workspace.packing.mapreduce import MAP_RULES, plan_map_reduce
from workspace.packing.ordering import edges_first
from workspace.packing.prompt import Turn
from workspace.packing.retrievers import Retriever, default_retriever
from workspace.packing.tokens import GemmaCounter, TokenCounter
from workspace.packing.types import Budget, Piece, Source, Strategy

SOURCE_PRIOR = 0.5  # weight of a source's best match in each of its pieces' scores


def choose_strategy(
    *, fixed: int, full_text: int, summaries: int, budget: Budget
) -> tuple[Strategy, str]:
    """The rung of the ladder for this much material, and why."""
    available = max(1, budget.prompt_limit - fixed)
    if fixed + full_text <= budget.edge_limit:
        return "fits", (
            f"all {full_text:,} tokens of text fit under {budget.edge_limit:,} "
            f"({budget.edge_share:.0%} of the {budget.window:,}-token window)"
        )
    if full_text > budget.far_factor * available:
        return "map_reduce", (
            f"{full_text:,} tokens of text are {full_text / available:.1f} times the "
            f"{available:,} tokens available for sources, more than {budget.far_factor:g} times"
        )
    if summaries > budget.summary_share * available:
        return "map_reduce", (
            f"the summaries alone ({summaries:,} tokens) would take more than "
            f"{budget.summary_share:.0%} of the {available:,} tokens available for sources"
        )
    return "near_edge", (
        f"{full_text:,} tokens of text pass {budget.edge_share:.0%} of the window: "
        "summaries for everything, then the most relevant excerpts"
    )


def pack(
    *,
    question: str,
    sources: Sequence[Source],
    budget: Budget,
    system: str = "",
    history: Sequence[Turn] = (),
    query: str | None = None,
    retriever: Retriever | None = None,
    strategy: Strategy | None = None,
    counter: TokenCounter | None = None,
    dedupe: bool = True,
    map_system: str = MAP_RULES,
    source_prior: float = SOURCE_PRIOR,
) -> PackResult:
    """Pack sources for a question under a budget.

    Sources keep the given order wherever order is free (full text, summaries), so the
    prompt prefix is stable. `strategy` forces a rung (the bench forces "near_edge" to
    measure a single prompt); `query` is what retrieval searches for (default: the question);
    `source_prior` lifts pieces of sources that match strongly elsewhere (0 turns it off).
    """
    counter = counter or GemmaCounter()
    turns, fixed = trim_history(
        history, system=system, question=question, budget=budget, counter=counter
    )
    if fixed > budget.prompt_limit:
        raise PackingError(
            f"The rules and question alone take {fixed:,} tokens, over the prompt budget of "
            f"{budget.prompt_limit:,}. Shorten the question or choose a larger window."
        )
    full_text = sum(source.tokens for source in sources)
    forced = strategy is not None
    reason = "chosen by the caller"
    if strategy is None:
        summaries = sum(counter.count(s.summary) for s in sources if s.summary.strip())
        strategy, reason = choose_strategy(
            fixed=fixed, full_text=full_text, summaries=summaries, budget=budget
        )
    if strategy == "map_reduce":
        try:
            return plan_map_reduce(
                question=question,
                sources=sources,
                budget=budget,
                system=map_system,
                full_text=full_text,
                reason=reason,
                counter=counter,
            )
        except PackingError:
            if forced:
                raise
            # The map rules leave no room for sources: one prompt is all there can be.
            strategy = "near_edge"
            reason += "; map steps would have no room for sources, so one prompt instead"
    packed: Packed | None = None
    if strategy == "fits":
        packed = _fits(sources, reason, counter)
        total = fixed + packed.parts.tokens
        if forced and total > budget.prompt_limit:
            raise PackingError(
                f"The full text needs {total:,} tokens, over the prompt budget of "
                f"{budget.prompt_limit:,}."
            )
        if not forced and total > budget.edge_limit:
            packed = None  # page markers and headings pushed it past the edge
            reason = (
                f"with page markers the full text needs {total:,} tokens, past "
                f"{budget.edge_limit:,}: summaries, then the most relevant excerpts"
            )
    if packed is None:
        packed = _near_edge(
            query=query or question,
            sources=sources,
            available=budget.prompt_limit - fixed,
            budget=budget,
            reason=reason,
            retriever=retriever or default_retriever(),
            counter=counter,
            dedupe=dedupe,
            source_prior=source_prior,
        )
    return finish(
        packed,
        budget=budget,
        fixed=fixed,
        full_text=full_text,
        system=system,
        question=question,
        turns=turns,
    )


def _fits(sources: Sequence[Source], reason: str, counter: TokenCounter) -> Packed:
    parts = Parts(counter)
    left = LeftOuts()
    for source in sources:
        if not source.pieces:
            left.add(source, "full", "empty", 0)
    runs = [(source, list(source.pieces)) for source in sources if source.pieces]
    entries: list[MapEntry] = []
    if runs:
        parts.add(SOURCES_HEADING)
        entries = layout_full(parts, runs)
    return Packed("fits", reason, parts, entries, left.items())


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


def _near_edge(
    *,
    query: str,
    sources: Sequence[Source],
    available: int,
    budget: Budget,
    reason: str,
    retriever: Retriever,
    counter: TokenCounter,
    dedupe: bool,
    source_prior: float = SOURCE_PRIOR,
) -> Packed:
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
    # Best first; pieces that match nothing come last, in reading order (background).
    order = sorted(scores, key=lambda piece_id: -scores[piece_id])
    order += [piece.id for piece in all_pieces if piece.id not in scores]
    rank_of = {piece_id: rank for rank, piece_id in enumerate(order)}

    # Summaries: all of them when they fit in their share, else the most relevant sources'.
    sep = counter.count(SEPARATOR)
    heading = counter.count(SOURCES_HEADING)
    cap = int(budget.summary_share * available)
    used = counter.count(SUMMARIES_HEADING)
    chosen: list[Source] = []
    seen_summaries: set[str] = set()
    missing = 0
    for source in sorted(sources, key=lambda s: (-source_score[s.id], position[s.id])):
        if not source.summary.strip():
            missing += 1
            continue
        cost = counter.count(summary_heading(source.title)) + counter.count(source.summary) + sep
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

    # Excerpts: the most relevant pieces that fit, whole, each text at most once.
    room = available - heading - summaries_used - counter.count(EXCERPTS_HEADING)
    selected: dict[int, Piece] = {}
    seen_texts: set[str] = set()
    skipped: list[int] = []

    def consider(piece: Piece, remaining: int) -> int:
        """Select the piece if it fits; return what it cost (0: not selected)."""
        source = source_of[piece.source_id]
        key = normalise(piece.text) if dedupe else ""
        if dedupe and key in seen_texts:
            left.add(source, "excerpt", "duplicate", piece.tokens, piece)
            return 0
        if piece.tokens + sep > room:
            left.add(source, "excerpt", "too_large", piece.tokens, piece)
            return 0
        if piece.tokens + sep > remaining:  # cheap check before counting the marker
            skipped.append(piece.id)
            return 0
        cost = piece_cost(counter, source.title, piece)
        if cost > remaining:
            skipped.append(piece.id)
            return 0
        selected[piece.id] = piece
        if dedupe:
            seen_texts.add(key)
        return cost

    remaining = room
    for piece_id in order:
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
    for piece_id in first_pass:
        cost = consider(by_id[piece_id], leftover)
        leftover -= cost
        added = added or cost > 0
    if added:
        parts, entries = assemble()
    for piece_id in skipped:
        piece = by_id[piece_id]
        code = "budget" if piece_id in scores else "no_match"
        left.add(source_of[piece.source_id], "excerpt", code, piece.tokens, piece)
    return Packed(
        "near_edge", reason, parts, entries, left.items(), retriever=retriever.name, notes=notes
    )


__all__ = ["PackResult", "PackingError", "choose_strategy", "pack"]
