"""The active model's measured speed, for the time a plan will take (workspace/packing/
cost.py).

Every completed call the backend timed (ChatResult.timing: Ollama reports its prompt_eval
and eval durations, the embedded model process times itself) updates one row per backend
and model (workspace.models.ModelSpeed): prompt tokens evaluated per second and tokens
generated per second, each a running average (the plain mean of the first
`AVERAGE_OVER` calls, then an exponential average with that weight), so a slow first call
(loading the model) is soon outweighed. Calls too small to time well are skipped. A
failure to record is logged and never fails the call that measured it.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction

from workspace.models import ModelSpeed
from workspace.packing.cost import PlanCost
from workspace.runtime.errors import ModelRuntimeError
from workspace.runtime.types import ChatResult, Timing

logger = logging.getLogger(__name__)

AVERAGE_OVER = 10
MIN_PROMPT_TOKENS = 32  # fewer evaluated tokens say more about overhead than speed
MIN_OUTPUT_TOKENS = 8
MIN_SECONDS = 0.001


def _averaged(old: float | None, samples: int, value: float) -> float:
    if old is None or samples <= 0:
        return value
    weight = 1 / min(samples + 1, AVERAGE_OVER)
    return old + (value - old) * weight


def _rate(tokens: int, seconds: float, least: int) -> float | None:
    return tokens / seconds if tokens >= least and seconds >= MIN_SECONDS else None


def model_speed_record(*, result: ChatResult) -> None:
    """Fold a completed call's timing into its model's measured speed."""
    timing: Timing | None = result.timing
    if timing is None or not timing.model:
        return
    prompt = _rate(timing.prompt_tokens, timing.prompt_seconds, MIN_PROMPT_TOKENS)
    output = _rate(timing.output_tokens, timing.output_seconds, MIN_OUTPUT_TOKENS)
    if prompt is None and output is None:
        return
    try:
        with transaction.atomic():
            row, _ = ModelSpeed.objects.select_for_update().get_or_create(
                backend=timing.backend, model=timing.model[:200]
            )
            if prompt is not None:
                row.prompt_tokens_per_second = _averaged(
                    row.prompt_tokens_per_second, row.prompt_samples, prompt
                )
                row.prompt_samples += 1
            if output is not None:
                row.output_tokens_per_second = _averaged(
                    row.output_tokens_per_second, row.output_samples, output
                )
                row.output_samples += 1
            row.save()
    except DatabaseError:
        logger.warning("Could not record the speed of %s", timing.model, exc_info=True)


def model_speed_for(*, backend: str, model: str) -> ModelSpeed | None:
    """The measured speed of this backend's model, if both rates have been measured."""
    return ModelSpeed.objects.filter(
        backend=backend,
        model=model,
        prompt_tokens_per_second__isnull=False,
        output_tokens_per_second__isnull=False,
    ).first()


def active_model_speed() -> ModelSpeed | None:
    """The measured speed of the model that would answer now (None: not measured yet, or
    no model is available)."""
    from workspace.runtime.select import get_runtime

    try:
        facts = get_runtime().facts()
    except ModelRuntimeError:
        return None
    return model_speed_for(backend=facts.backend, model=facts.model)


def plan_cost_timed(cost: PlanCost) -> PlanCost:
    """The cost with its time at the active model's measured speed (none when unmeasured:
    the page then says the time is unknown until the first answer)."""
    speed = active_model_speed()
    if speed is None:
        return cost
    return cost.timed(
        prompt_tokens_per_second=speed.prompt_tokens_per_second,
        output_tokens_per_second=speed.output_tokens_per_second,
    )
