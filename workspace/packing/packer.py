"""pack(): the route by question (full text when it fits, one prompt for a look-up, the
summaries or map-reduce for a question about every document). Pure: sources, a budget and
a retriever in; the exact prompt and its context map out. `choose_strategy` is the older
size-only ladder, kept for callers that still ask it."""

from __future__ import annotations

from collections.abc import Sequence

from workspace.packing.assembly import (
    LeftOuts,
    Packed,
    PackingError,
    PackResult,
    finish,
    layout_full,
    trim_history,
)
from workspace.packing.contextmap import MapEntry
from workspace.packing.controltokens import (
    ControlTokens,
    clean_sources,
    vocabulary_control_tokens,
)
from workspace.packing.excerpts import SOURCE_PRIOR, LookupOptions, pack_excerpts
from workspace.packing.layout import (
    SEPARATOR,
    SOURCES_HEADING,
    SUMMARIES_HEADING,
    Parts,
    summary_heading,
)
from workspace.packing.mapreduce import MAP_RULES, plan_map_reduce
from workspace.packing.prompt import Turn
from workspace.packing.retrievers import Retriever, default_retriever
from workspace.packing.routing import ROUTES, QuestionKind, Route, choose_route, kind_for
from workspace.packing.tokens import GemmaCounter, TokenCounter
from workspace.packing.types import STRATEGIES, Budget, Source, Strategy


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
    kind: QuestionKind | None = None,
    route: Route | None = None,
    lookup: LookupOptions | None = None,
    control_tokens: ControlTokens | None = None,
) -> PackResult:
    """Pack sources for a question under a budget.

    The route follows the question (routing.py): everything in full when it fits; a
    look-up in one prompt of the most relevant documents and passages, whatever the
    library's size; a question about every document from the summaries when they are
    enough, else map-reduce. `kind` overrides the question's classification ("lookup" |
    "global"); `route` forces a route ("map_reduce" reads the whole library); `strategy`
    forces a rung of the older ladder ("fits", "near_edge": one prompt of summaries and
    excerpts, "map_reduce"). The context map records the route, the kind and why.

    Sources keep the given order wherever order is free (full text, summaries), so the
    prompt prefix is stable. `query` is what retrieval searches for (default: the question);
    `source_prior` lifts pieces of sources that match strongly elsewhere (0 turns it off).
    Control tokens are removed from every source, the question and the history
    (controltokens.py); `control_tokens` replaces the tokenizer's own list.
    """
    if route is not None and strategy is not None:
        raise ValueError("force a route or a strategy, not both")
    if route is not None and route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")
    counter = counter or GemmaCounter()
    control_tokens = control_tokens or vocabulary_control_tokens()
    sources = clean_sources(sources, counter, control_tokens)
    question = control_tokens.remove(question)
    history = [(control_tokens.remove(q), control_tokens.remove(a)) for q, a in history]
    turns, fixed = trim_history(
        history, system=system, question=question, budget=budget, counter=counter
    )
    if fixed > budget.prompt_limit:
        raise PackingError(
            f"The rules and question alone take {fixed:,} tokens, over the prompt budget of "
            f"{budget.prompt_limit:,}. Shorten the question or choose a larger window."
        )
    classification = kind_for(question, kind)
    full_text = sum(source.tokens for source in sources)
    forced = route is not None or strategy is not None
    if strategy is not None:
        route = _route_for_strategy(strategy, classification.kind)
    summary_costs = _summary_costs(sources, counter)
    if route is not None:
        reason = "chosen by the caller"
    else:
        choice = choose_route(
            kind=classification.kind,
            fixed=fixed,
            full_text=full_text,
            summaries=counter.count(SUMMARIES_HEADING) + sum(summary_costs.values())
            if summary_costs
            else 0,
            missing_summaries=sum(1 for s in sources if s.pieces and not s.summary.strip()),
            budget=budget,
        )
        route, reason = choice.route, choice.reason

    result: PackResult | None = None
    if route == "map_reduce":
        try:
            result = plan_map_reduce(
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
            route = "lookup"
            reason += "; map steps would have no room for sources, so one prompt instead"
    if result is None:
        packed: Packed | None = None
        if route == "full_text":
            packed = _fits(sources, reason, counter)
            total = fixed + packed.parts.tokens
            if forced and total > budget.prompt_limit:
                raise PackingError(
                    f"The full text needs {total:,} tokens, over the prompt budget of "
                    f"{budget.prompt_limit:,}."
                )
            if not forced and total > budget.edge_limit:
                packed = None  # page markers and headings pushed it past the edge
                route = "summaries" if classification.kind == "global" else "lookup"
                reason = (
                    f"with page markers the full text needs {total:,} tokens, past "
                    f"{budget.edge_limit:,}: summaries, then the most relevant excerpts"
                )
        if packed is None:
            packed = pack_excerpts(
                query=query or question,
                sources=sources,
                available=budget.prompt_limit - fixed,
                budget=budget,
                reason=reason,
                retriever=retriever or default_retriever(),
                counter=counter,
                dedupe=dedupe,
                every_summary=route == "summaries",
                summary_costs=summary_costs,
                source_prior=source_prior,
                options=lookup,
            )
        result = finish(
            packed,
            budget=budget,
            fixed=fixed,
            full_text=full_text,
            system=system,
            question=question,
            turns=turns,
        )
    context_map = result.context_map
    context_map.route = route
    context_map.route_reason = reason
    context_map.question_kind = classification.kind
    context_map.kind_reason = classification.reason
    return result


def _route_for_strategy(strategy: Strategy, kind: QuestionKind) -> Route:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    if strategy == "fits":
        return "full_text"
    if strategy == "map_reduce":
        return "map_reduce"
    return "summaries" if kind == "global" else "lookup"


def _summary_costs(sources: Sequence[Source], counter: TokenCounter) -> dict[int, int]:
    """What each summary costs in the prompt, heading and separator included."""
    sep = counter.count(SEPARATOR)
    return {
        source.id: counter.count(summary_heading(source.title))
        + counter.count(source.summary)
        + sep
        for source in sources
        if source.summary.strip()
    }


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


__all__ = ["PackResult", "PackingError", "choose_strategy", "pack"]
