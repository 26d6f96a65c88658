"""Long campaigns: older turns folded into session summaries, summaries into arc summaries.

After each turn, if the turns not yet summarized would take more than half of the prompt
budget, a Celery task (stories.tasks.summarize_campaign) is queued. It summarizes the
oldest unsummarized turns in window-sized blocks, keeping the newest quarter of the budget
verbatim, and merges the oldest summaries into one arc summary when summaries themselves
grow past their share. Verbatim turns always stay in the database; the packer simply
prefers summaries for turns it cannot fit (stories.context), so the prompt never exceeds
the window whether or not the task has run yet.

The task is idempotent: it reads where summaries end (Campaign.summarized_through) and
only writes if that and the history version (bumped by undo) are unchanged.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from stories import prompts
from stories.context import count_text, output_reserve, prompt_tokens
from stories.models import Campaign, Summary, Turn
from workspace.jobs import enqueue_on_commit, task_signature
from workspace.runtime import get_runtime
from workspace.runtime.types import Message, ModelRuntime

TRIGGER_SHARE = 0.5  # unsummarized turns above this share of the budget: summarize
KEEP_VERBATIM_SHARE = 0.25  # the newest turns worth this share stay unsummarized
MERGE_SHARE = 0.15  # active summaries above this share: merge the oldest into an arc
SUMMARY_MAX_TOKENS = 512
SUMMARY_WORDS = 250
CLAIM_STALE = timedelta(minutes=30)
SUMMARIZE_TASK = "stories.tasks.summarize_campaign"


def prompt_budget(window: int) -> int:
    return window - output_reserve()


def _live_turns(campaign_id: int):
    return Turn.objects.filter(
        campaign_id=campaign_id, undone=False, status=Turn.Status.DONE, number__isnull=False
    )


def unsummarized_tokens(campaign: Campaign) -> int:
    total = (
        _live_turns(campaign.pk)
        .filter(number__gt=campaign.summarized_through)
        .aggregate(t=Sum(F("action_tokens") + F("narration_tokens")))["t"]
    )
    return int(total or 0)


def summaries_maybe_request(*, campaign: Campaign, budget: int) -> bool:
    """Queue the summarizer (once) if the unsummarized history nears the window's edge."""
    if unsummarized_tokens(campaign) <= budget * TRIGGER_SHARE:
        return False
    now = timezone.now()
    claimed = (
        Campaign.objects.filter(pk=campaign.pk)
        .filter(Q(summarizing_since__isnull=True) | Q(summarizing_since__lt=now - CLAIM_STALE))
        .update(summarizing_since=now)
    )
    if claimed:
        enqueue_on_commit(
            task_signature(SUMMARIZE_TASK, campaign.pk),
            on_failure=lambda _exc: summaries_release(campaign_id=campaign.pk),
        )
    return bool(claimed)


def summaries_release(*, campaign_id: int) -> None:
    """Let the next turn ask for summaries again (the task ended, or was never sent)."""
    Campaign.objects.filter(pk=campaign_id).update(summarizing_since=None)


def _transcript(campaign_id: int, first: int, last: int) -> str:
    rows = (
        _live_turns(campaign_id)
        .filter(number__gte=first, number__lte=last)
        .order_by("number")
        .values_list("number", "actor_label", "action", "narration")
    )
    return "\n\n".join(
        f"Turn {n}. {label}: {action}\n{narration}" for n, label, action, narration in rows
    )


def _save_if_current(
    campaign_id: int,
    *,
    version: int,
    through: int,
    summary: Summary,
    merged: list[int] | None = None,
) -> bool:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.history_version != version or campaign.summarized_through != through:
            return False  # undone or summarized by someone else meanwhile
        summary.save()
        if merged:
            Summary.objects.filter(pk__in=merged).update(superseded_by=summary)
        else:
            Campaign.objects.filter(pk=campaign_id).update(summarized_through=summary.last_turn)
    return True


def _summarize_next_block(campaign: Campaign, runtime: ModelRuntime, window: int) -> bool:
    budget = prompt_budget(window)
    rows = list(
        _live_turns(campaign.pk)
        .filter(number__gt=campaign.summarized_through)
        .order_by("number")
        .values_list("number", "action_tokens", "narration_tokens")
    )
    total = sum(a + n for _, a, n in rows)
    if total <= budget * TRIGGER_SHARE:
        return False
    keep = budget * KEEP_VERBATIM_SHARE
    block_limit = max(256, window - SUMMARY_MAX_TOKENS - 1024)
    block: list[int] = []
    taken = 0
    for number, action_tokens, narration_tokens in rows:
        tokens = action_tokens + narration_tokens
        if total - taken <= keep or (block and taken + tokens > block_limit):
            break
        block.append(number)
        taken += tokens
    if not block:
        return False
    instruction = prompts.SUMMARIZE.replace("{words}", str(SUMMARY_WORDS))
    while True:
        messages = [
            Message("system", instruction),
            Message("user", _transcript(campaign.pk, block[0], block[-1])),
        ]
        if prompt_tokens(messages) + SUMMARY_MAX_TOKENS <= window or len(block) == 1:
            break
        block = block[: max(1, len(block) // 2)]
    text = runtime.chat(messages, max_tokens=SUMMARY_MAX_TOKENS, temperature=0.2).text.strip()
    summary = Summary(
        campaign=campaign,
        kind=Summary.Kind.SESSION,
        first_turn=block[0],
        last_turn=block[-1],
        text=text,
        token_count=count_text(f"Turns {block[0]}-{block[-1]}: {text}") + 1,
    )
    return _save_if_current(
        campaign.pk,
        version=campaign.history_version,
        through=campaign.summarized_through,
        summary=summary,
    )


def _merge_oldest(campaign: Campaign, runtime: ModelRuntime, window: int) -> bool:
    active = list(
        Summary.objects.filter(campaign=campaign, superseded_by=None).order_by("first_turn")
    )
    if len(active) < 2 or sum(s.token_count for s in active) <= prompt_budget(window) * MERGE_SHARE:
        return False
    oldest = active[: max(2, len(active) // 2)]
    instruction = prompts.MERGE.replace("{words}", str(SUMMARY_WORDS * 2))
    while True:
        body = "\n\n".join(f"Turns {s.first_turn}-{s.last_turn}: {s.text}" for s in oldest)
        messages = [Message("system", instruction), Message("user", body)]
        if prompt_tokens(messages) + SUMMARY_MAX_TOKENS * 2 <= window or len(oldest) == 2:
            break
        oldest = oldest[: max(2, len(oldest) // 2)]
    text = runtime.chat(messages, max_tokens=SUMMARY_MAX_TOKENS * 2, temperature=0.2).text.strip()
    first, last = oldest[0].first_turn, oldest[-1].last_turn
    summary = Summary(
        campaign=campaign,
        kind=Summary.Kind.ARC,
        first_turn=first,
        last_turn=last,
        text=text,
        token_count=count_text(f"Turns {first}-{last}: {text}") + 1,
    )
    return _save_if_current(
        campaign.pk,
        version=campaign.history_version,
        through=campaign.summarized_through,
        summary=summary,
        merged=[s.pk for s in oldest],
    )


def summaries_refresh(*, campaign_id: int, max_blocks: int = 50) -> int:
    """Summarize until the unsummarized history is back under its share; the summaries made."""
    runtime = get_runtime()
    window = runtime.facts().context_window
    made = 0
    try:
        for _ in range(max_blocks):
            campaign = Campaign.objects.get(pk=campaign_id)
            if _summarize_next_block(campaign, runtime, window):
                made += 1
                continue
            campaign = Campaign.objects.get(pk=campaign_id)
            if _merge_oldest(campaign, runtime, window):
                made += 1
                continue
            break
    finally:
        summaries_release(campaign_id=campaign_id)
    return made


def summaries_after_undo(*, campaign: Campaign, to_turn: int) -> None:
    """Forget summaries that reach past `to_turn`; the caller is in the undo transaction."""
    Summary.objects.filter(campaign=campaign, last_turn__gt=to_turn).delete()
    # Summaries an arc summary had absorbed come back when that arc summary is gone.
    through = (
        Summary.objects.filter(campaign=campaign, superseded_by=None)
        .order_by("-last_turn")
        .values_list("last_turn", flat=True)
        .first()
    )
    Campaign.objects.filter(pk=campaign.pk).update(summarized_through=through or 0)
    campaign.summarized_through = through or 0
