"""The cost shown before map-reduce runs: documents, model calls, tokens and time."""

from __future__ import annotations

from tests.workspace.test_packing_routing import big_library
from workspace.packing import BM25Retriever, Budget, ContextMap, GroupPlan, pack
from workspace.packing.cost import NOTE_TOKENS, plan_cost


def test_a_one_prompt_plan_costs_one_call_of_its_prompt_and_answer() -> None:
    budget = Budget(window=1500, output_reserve=100, margin=0)
    result = pack(
        question="How do honey bees dance?",
        sources=big_library(),
        budget=budget,
        retriever=BM25Retriever(),
    )
    cost = plan_cost(result.context_map)
    assert cost.model_calls == 1
    assert cost.prompt_tokens == result.context_map.prompt_tokens
    assert cost.output_tokens == 100
    assert cost.model_tokens <= budget.window, "a look-up costs at most one window"
    assert cost.documents == len({e.source_id for e in result.context_map.entries})
    assert cost.seconds is None


def test_map_reduce_costs_every_map_step_and_the_reduce_with_time_from_the_speed() -> None:
    budget = Budget(window=1500, output_reserve=100, margin=0)
    sources = big_library()
    result = pack(
        question="How do honey bees dance?", sources=sources, budget=budget, route="map_reduce"
    )
    context_map = result.context_map
    groups = len(context_map.groups)
    cost = plan_cost(context_map, note_tokens=50, prompt_tokens_per_second=1000.0,
                     output_tokens_per_second=10.0)  # fmt: skip

    assert cost.route == "map_reduce"
    assert cost.documents == len(sources)
    assert cost.model_calls >= groups + 1
    assert cost.prompt_tokens >= sum(group.tokens for group in context_map.groups)
    assert cost.output_tokens >= groups * 50 + 100
    assert cost.seconds is not None
    assert cost.seconds >= cost.prompt_tokens / 1000 + cost.output_tokens / 10 - 1e-9
    assert cost.model_tokens > 4 * budget.window
    text = cost.describe()
    assert text.startswith(f"Reads {len(sources)} documents in {cost.model_calls} model calls")
    assert "at the measured speed" in text


def test_notes_that_overflow_one_reduce_prompt_add_reduce_rounds() -> None:
    context_map = ContextMap(
        strategy="map_reduce",
        reason="",
        window=8192,
        prompt_limit=7000,
        output_reserve=1000,
        margin=192,
        prompt_tokens=7000,
        fixed_tokens=200,
        source_tokens=0,
        full_text_tokens=0,
        groups=[GroupPlan(i, [i], [i], 7000) for i in range(40)],
    )
    cost = plan_cost(context_map)
    notes_per_reduce = (7000 - 200) // (NOTE_TOKENS + 12)
    assert notes_per_reduce < 40
    assert cost.model_calls > 40 + 1, "intermediate reduce rounds are counted"
    assert cost.documents == 40


def test_without_both_measured_speeds_the_cost_gives_no_time_and_says_so() -> None:
    budget = Budget(window=1500, output_reserve=100, margin=0)
    result = pack(
        question="How do honey bees dance?",
        sources=big_library(),
        budget=budget,
        route="map_reduce",
    )
    cost = plan_cost(result.context_map, prompt_tokens_per_second=1000.0)
    assert cost.seconds is None, "prompt speed cannot stand in for generation speed"
    assert cost.describe().endswith(", time unknown until the first answer")
    timed = cost.timed(prompt_tokens_per_second=1000.0, output_tokens_per_second=10.0)
    assert timed.seconds == cost.prompt_tokens / 1000 + cost.output_tokens / 10
    assert timed.describe().endswith("at the measured speed")
