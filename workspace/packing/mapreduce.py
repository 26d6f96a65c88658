"""Map-reduce for material far beyond the window: window-sized groups of sources in fixed
order (each read by one map step that extracts what matters, with page citations), then a
reduce step over the notes. The plan is pure; research/qa_tasks.py runs it on Celery."""

from __future__ import annotations

from collections.abc import Sequence

from workspace.packing.assembly import (
    LeftOuts,
    Packed,
    PackingError,
    PackResult,
    finish,
    layout_full,
)
from workspace.packing.contextmap import ContextMap, GroupPlan, MapEntry
from workspace.packing.controltokens import clean_sources, vocabulary_control_tokens
from workspace.packing.layout import SEPARATOR, SOURCES_HEADING, Parts, piece_cost, source_heading
from workspace.packing.prompt import Turn, build_messages
from workspace.packing.tokens import GemmaCounter, TokenCounter
from workspace.packing.types import Budget, Piece, Source

MAP_RULES = (
    "You are reading one part of a larger set of sources. From this part only, write down "
    "every fact that helps answer the question, each followed by its page marker exactly as "
    "written, like [Title, p. 7]. Quote short key phrases. If nothing in this part is "
    "relevant, reply with exactly: NOTHING RELEVANT."
)
NOTHING_RELEVANT = "NOTHING RELEVANT"
NOTES_HEADING = "# Notes taken from the sources, part by part\n\n"


def note_heading(index: int, total: int) -> str:
    return f"## Part {index + 1} of {total}\n"


def fixed_cost(
    *, system: str, question: str, counter: TokenCounter, history: Sequence[Turn] = ()
) -> int:
    return counter.count_messages(
        build_messages(system=system, sources_text="", question=question, history=history)
    )


def plan_groups(
    sources: Sequence[Source], *, capacity: int, counter: TokenCounter
) -> tuple[list[list[Piece]], list[Piece]]:
    """Groups of pieces in fixed order, each laid out within `capacity` tokens (a long
    source continues in the next group), and the pieces too large for any group."""
    groups: list[list[Piece]] = []
    too_large: list[Piece] = []
    heading = counter.count(SOURCES_HEADING)
    current: list[Piece] = []
    used = heading
    for source in sources:
        source_head = counter.count(source_heading(source.title))
        for piece in source.pieces:
            cost = piece_cost(counter, source.title, piece)
            if heading + source_head + cost > capacity:
                too_large.append(piece)
                continue
            opens = not current or current[-1].source_id != source.id
            if used + cost + (source_head if opens else 0) > capacity:
                groups.append(current)
                current, used, opens = [], heading, True
            current.append(piece)
            used += cost + (source_head if opens else 0)
    if current:
        groups.append(current)
    return groups, too_large


def group_runs(
    pieces: Sequence[Piece], sources: Sequence[Source]
) -> list[tuple[Source, list[Piece]]]:
    """A group's pieces as (source, consecutive pieces) runs, in the group's order."""
    source_of = {source.id: source for source in sources}
    runs: list[tuple[Source, list[Piece]]] = []
    for piece in pieces:
        if runs and runs[-1][0].id == piece.source_id:
            runs[-1][1].append(piece)
        else:
            runs.append((source_of[piece.source_id], [piece]))
    return runs


def plan_map_reduce(
    *,
    question: str,
    sources: Sequence[Source],
    budget: Budget,
    system: str,
    full_text: int,
    reason: str,
    counter: TokenCounter,
) -> PackResult:
    fixed = fixed_cost(system=system, question=question, counter=counter)
    if fixed >= budget.prompt_limit:
        raise PackingError("The map rules and question alone fill the prompt budget.")
    groups, too_large = plan_groups(sources, capacity=budget.prompt_limit - fixed, counter=counter)
    left = LeftOuts()
    source_of = {source.id: source for source in sources}
    for source in sources:
        if not source.pieces:
            left.add(source, "full", "empty", 0)
    for piece in too_large:
        left.add(source_of[piece.source_id], "excerpt", "too_large", piece.tokens, piece)
    entries: list[MapEntry] = []
    plans: list[GroupPlan] = []
    for index, pieces in enumerate(groups):
        parts = Parts(counter)
        parts.add(SOURCES_HEADING)
        for entry in layout_full(parts, group_runs(pieces, sources)):
            entry.group = index
            entry.position = len([e for e in entries if e.group == index])
            entries.append(entry)
        plans.append(
            GroupPlan(
                index=index,
                chunk_ids=[piece.id for piece in pieces],
                source_ids=sorted({piece.source_id for piece in pieces}),
                tokens=fixed + parts.tokens,
            )
        )
    context_map = ContextMap(
        strategy="map_reduce",
        reason=reason,
        window=budget.window,
        prompt_limit=budget.prompt_limit,
        output_reserve=budget.output_reserve,
        margin=budget.margin,
        prompt_tokens=max((plan.tokens for plan in plans), default=fixed),
        fixed_tokens=fixed,
        source_tokens=sum(plan.tokens - fixed for plan in plans),
        full_text_tokens=full_text,
        entries=entries,
        left_out=left.items(),
        groups=plans,
        notes=[
            f"{len(plans)} map step(s), each a prompt of at most {budget.prompt_limit:,} "
            "tokens, then a reduce step over their notes"
        ],
    )
    return PackResult(messages=[], context_map=context_map, groups=groups)


def map_prompt(
    *,
    question: str,
    pieces: Sequence[Piece],
    sources: Sequence[Source],
    budget: Budget,
    system: str = MAP_RULES,
    counter: TokenCounter | None = None,
) -> PackResult:
    """The prompt of one map step: its group's pieces in full, then the question. Control
    tokens are removed from the sources (and such pieces counted again), as in pack()."""
    counter = counter or GemmaCounter()
    tokens = vocabulary_control_tokens()
    question = tokens.remove(question)
    sources = clean_sources(sources, counter, tokens)
    cleaned = {piece.id: piece for source in sources for piece in source.pieces}
    pieces = [cleaned.get(piece.id, piece) for piece in pieces]
    fixed = fixed_cost(system=system, question=question, counter=counter)
    parts = Parts(counter)
    entries: list[MapEntry] = []
    runs = group_runs(pieces, sources)
    if runs:
        parts.add(SOURCES_HEADING)
        entries = layout_full(parts, runs)
    if fixed + parts.tokens > budget.prompt_limit:
        raise PackingError(
            f"A map step needs {fixed + parts.tokens:,} tokens, over the prompt budget of "
            f"{budget.prompt_limit:,}: the sources changed since the plan was made."
        )
    packed = Packed("fits", "one map-reduce group", parts, entries, [])
    return finish(
        packed,
        budget=budget,
        fixed=fixed,
        full_text=sum(p.tokens for p in pieces),
        system=system,
        question=question,
        turns=[],
    )


def useful_notes(notes: Sequence[str]) -> list[str]:
    """Map outputs that found something."""
    return [
        note
        for note in notes
        if note.strip() and not note.strip().upper().startswith(NOTHING_RELEVANT)
    ]


def batch_notes(
    notes: Sequence[str],
    *,
    question: str,
    budget: Budget,
    system: str,
    history: Sequence[Turn] = (),
    counter: TokenCounter | None = None,
) -> list[list[int]]:
    """Indexes of notes in batches that each fit one reduce prompt (one batch when all fit;
    several mean a further round of reducing)."""
    counter = counter or GemmaCounter()
    fixed = fixed_cost(system=system, question=question, counter=counter, history=history)
    capacity = budget.prompt_limit - fixed
    heading = counter.count(NOTES_HEADING)
    batches: list[list[int]] = [[]]
    used = heading
    for index, note in enumerate(notes):
        cost = counter.count(note_heading(index, len(notes))) + counter.count(note)
        cost += counter.count(SEPARATOR)
        if heading + cost > capacity:
            raise PackingError(f"One map note alone ({cost:,} tokens) exceeds the reduce budget.")
        if used + cost > capacity and batches[-1]:
            batches.append([])
            used = heading
        batches[-1].append(index)
        used += cost
    return [batch for batch in batches if batch]


def reduce_prompt(
    *,
    question: str,
    notes: Sequence[str],
    budget: Budget,
    system: str,
    history: Sequence[Turn] = (),
    counter: TokenCounter | None = None,
) -> PackResult:
    """The reduce step: every note under its part heading, the conversation, the question.
    Control tokens are removed from the notes, the conversation and the question."""
    counter = counter or GemmaCounter()
    tokens = vocabulary_control_tokens()
    question = tokens.remove(question)
    notes = [tokens.remove(note) for note in notes]
    history = [(tokens.remove(q), tokens.remove(a)) for q, a in history]
    fixed = fixed_cost(system=system, question=question, counter=counter, history=history)
    parts = Parts(counter)
    parts.add(NOTES_HEADING)
    for index, note in enumerate(notes):
        parts.add(note_heading(index, len(notes)))
        parts.add(note.strip())
        parts.add(SEPARATOR)
    if fixed + parts.tokens > budget.prompt_limit:
        raise PackingError(
            f"The notes need {fixed + parts.tokens:,} tokens, over the prompt budget of "
            f"{budget.prompt_limit:,}; reduce them in batches first (batch_notes)."
        )
    packed = Packed("map_reduce", "reduce step", parts, [], [])
    return finish(
        packed,
        budget=budget,
        fixed=fixed,
        full_text=0,
        system=system,
        question=question,
        turns=list(history),
    )
