"""What a packed plan will cost the model, before it runs: documents read, model calls,
prompt and output tokens, and (given the backend's measured speed) about how long.

Pure and an upper bound: every map step is counted at its planned prompt size and its full
note allowance, every reduce round at the notes it would hold. The page shows it before a
map-reduce starts, so the person can run it or take the one-prompt answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from workspace.packing.contextmap import ContextMap

NOTE_TOKENS = 512  # the most one map step may write (research's map steps use the same)
NOTE_HEADING_TOKENS = 12  # "## Part 3 of 18" and the separator around each note


@dataclass(frozen=True)
class PlanCost:
    route: str
    documents: int
    model_calls: int
    prompt_tokens: int
    output_tokens: int
    seconds: float | None = None  # None unless both speeds were given

    @property
    def model_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def describe(self) -> str:
        """One sentence for the page, e.g. "Reads 195 documents in 41 model calls: about
        1,200,000 tokens, about 25 minutes at the measured speed"."""
        calls = "1 model call" if self.model_calls == 1 else f"{self.model_calls} model calls"
        text = (
            f"Reads {self.documents:,} document{'s' if self.documents != 1 else ''} in "
            f"{calls}: about {self.model_tokens:,} tokens"
        )
        if self.seconds is not None:
            text += f", about {_duration(self.seconds)} at the measured speed"
        else:
            text += ", time unknown until the first answer"
        return text

    def timed(
        self, *, prompt_tokens_per_second: float | None, output_tokens_per_second: float | None
    ) -> PlanCost:
        """This cost with its time at the given measured speeds (both, or no time)."""
        return replace(
            self, seconds=_seconds(
                self.prompt_tokens, self.output_tokens,
                prompt_tokens_per_second, output_tokens_per_second,
            ),
        )  # fmt: skip


def _seconds(
    prompt: int, output: int, prompt_per_second: float | None, output_per_second: float | None
) -> float | None:
    if not prompt_per_second or not output_per_second:
        return None
    return prompt / prompt_per_second + output / output_per_second


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def _reduce_rounds(
    notes: int, *, capacity: int, note_tokens: int, fixed: int
) -> tuple[int, int, int, int]:
    """(calls, prompt tokens, output tokens, notes left) of the intermediate reduce rounds
    needed before the remaining notes fit one reduce prompt."""
    per_note = note_tokens + NOTE_HEADING_TOKENS
    per_batch = max(2, capacity // per_note)  # at least two, or no round would shrink them
    calls = prompt = output = 0
    while notes > per_batch:
        batches = math.ceil(notes / per_batch)
        calls += batches
        prompt += notes * per_note + batches * fixed
        output += batches * note_tokens
        notes = batches
    return calls, prompt, output, notes


def plan_cost(
    context_map: ContextMap,
    *,
    answer_tokens: int | None = None,
    note_tokens: int = NOTE_TOKENS,
    prompt_tokens_per_second: float | None = None,
    output_tokens_per_second: float | None = None,
) -> PlanCost:
    """The cost of answering with this plan. `answer_tokens` defaults to the budget's output
    reserve; speeds are the active backend's measured prompt-processing and generation
    rates (tokens per second, workspace/runtime/speed.py): without both, no time is given
    (prompt processing is many times faster than generation: one cannot stand for the
    other)."""
    answer = context_map.output_reserve if answer_tokens is None else answer_tokens
    route = context_map.route or context_map.strategy
    if context_map.strategy != "map_reduce":
        documents = len({entry.source_id for entry in context_map.entries})
        calls, prompt, output = 1, context_map.prompt_tokens, answer
    else:
        documents = len({s for group in context_map.groups for s in group.source_ids})
        groups = len(context_map.groups)
        calls = groups + 1
        prompt = sum(group.tokens for group in context_map.groups)
        output = groups * note_tokens + answer
        capacity = max(1, context_map.prompt_limit - context_map.fixed_tokens)
        more_calls, more_prompt, more_output, left = _reduce_rounds(
            groups, capacity=capacity, note_tokens=note_tokens, fixed=context_map.fixed_tokens
        )
        calls += more_calls
        prompt += (
            more_prompt + context_map.fixed_tokens + left * (note_tokens + NOTE_HEADING_TOKENS)
        )
        output += more_output
    seconds = _seconds(prompt, output, prompt_tokens_per_second, output_tokens_per_second)
    return PlanCost(route, documents, calls, prompt, output, seconds)
