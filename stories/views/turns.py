"""Turns: an action sent to a model worker, its narration relayed from the worker's stream
(SSE) or polled without it, a failed or stuck one retried, a waiting or stuck one discarded,
and the context map of the prompt a turn used. No view calls the model."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_POST

from stories import forms, selectors, turns
from stories.models import CampaignMember, Turn
from stories.views.common import member_for, problem
from workspace.http import AuthedRequest, found_or_404, sse_comment, sse_event
from workspace.jobs.stream_slots import sse_held_response, stream_limit_message
from workspace.jobs.streams import StreamEntry, stream_read

STREAM_IDLE_MS = 2000  # how long the stream may be quiet before the turn itself is checked
STREAM_TIMEOUT_SECONDS = 3600.0  # the stream's own lifetime (workspace/jobs/streams.py)
STATUS_TEXT = {
    "checking": "asking whether the dice are needed…",
    "started": "writing…",
    "proposing": "working out what changed…",
}


def _told(
    request: AuthedRequest, pk: int, turn: Turn, failed: str = "The turn failed"
) -> HttpResponse:
    """Back to the story at the turn (saying so if it has already failed)."""
    turn.refresh_from_db()
    if turn.status == Turn.Status.FAILED:
        messages.error(request, f"{failed}: {turn.error}")
    return redirect(reverse("stories:campaign_detail", args=[pk]) + f"#turn-{turn.pk}")


def _turn(member: CampaignMember, turn_id: int) -> Turn:
    turn = selectors.turn_get_for_campaign(campaign=member.campaign, turn_id=turn_id)
    return found_or_404(turn, "turn")


def _refused(request: AuthedRequest, pk: int, message: str) -> HttpResponse:
    if request.htmx:
        return render(request, "stories/turns/partials/turn_problem.html", {"message": message})
    messages.error(request, message)
    return redirect("stories:campaign_detail", pk=pk)


@require_POST
def turn_create(request: AuthedRequest, pk: int) -> HttpResponse:
    """The turn is sent to a model worker. With htmx: the pending turn, which streams itself
    (SSE); without: back to the story, where the turn shows how far it got."""
    member = member_for(request, pk)
    if not member.can_play:
        raise PermissionDenied("Viewers cannot take turns in this campaign.")
    campaign = member.campaign
    form = forms.TurnForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, "Write what your character does.")
    try:
        action = form.cleaned_data["action"]
        turn = turns.turn_start(campaign=campaign, member=member, action=action)
    except turns.TurnNotAllowed as exc:
        return _refused(request, pk, exc.message)
    if request.htmx:
        return render(
            request, "stories/turns/partials/turn_live.html", {"campaign": campaign, "turn": turn}
        )
    return _told(request, pk, turn)


def _relayed(entry: StreamEntry) -> bytes | None:
    """A worker's TurnUpdate (workspace/jobs/streams.py entry) as the page's SSE event."""
    if entry.event == "text":
        return sse_event("narration", escape(entry.data))
    if entry.event in STATUS_TEXT:
        return sse_event("status", STATUS_TEXT[entry.event])
    if entry.event == "waiting":
        return sse_event("status", escape(entry.data))
    if entry.event == "check":  # the roll, before the narration that knows it
        return sse_event("check", escape(entry.data))
    return None  # done, failed: the `done` event below carries the turn as it ended


@require_GET
def turn_stream(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponseBase:
    """Server-sent events relayed from the turn's stream, which a model worker writes:
    `status` and `narration` while the turn is told, then one `done` event carrying the
    turn's HTML. A finished turn just sends `done` again. While the stream is idle a comment
    keeps the connection open, until the turn is no longer waiting or being told (finished,
    failed, discarded, or stuck because its worker died). It holds one of the person's
    open-stream slots (CARREL_MAX_OPEN_STREAMS); past the limit, a message to close
    another tab instead (workspace/jobs/stream_slots.py)."""
    member = member_for(request, pk)
    turn = _turn(member, turn_id)

    def events() -> Iterator[bytes]:
        live = selectors.turn_in_progress(turn_id=turn.pk)
        yield sse_comment("connected")
        if live:
            for entry in stream_read(
                kind=turns.TURN_STREAM,
                item_id=turn.pk,
                block_ms=STREAM_IDLE_MS,
                timeout_seconds=STREAM_TIMEOUT_SECONDS,
            ):
                if entry.idle:
                    if not selectors.turn_in_progress(turn_id=turn.pk):
                        break
                    yield sse_comment("still working")
                    continue
                relayed = _relayed(entry)
                if relayed is not None:
                    yield relayed
        if not Turn.objects.filter(pk=turn.pk).exists():
            yield sse_event("done", "")  # discarded meanwhile
            return
        turn.refresh_from_db()
        yield sse_event("done", _turn_html(request, member, turn, live=True))

    detail = reverse("stories:turn_detail", args=[pk, turn.pk])

    def refusal() -> str:
        return render_to_string(
            "partials/stream_limit.html",
            {
                "element_id": f"turn-{turn.pk}",
                "classes": "turn-block",
                "message": stream_limit_message(),
                "href": detail,
                "reload_url": detail,
            },
            request=request,
        )

    return sse_held_response(request, events(), refusal=refusal)


def _turn_html(request: AuthedRequest, member: CampaignMember, turn: Turn, *, live: bool) -> str:
    campaign = member.campaign
    item = selectors.turn_view(campaign=campaign, turn=turn, member=member)
    return render_to_string(
        "stories/turns/partials/turn.html",
        {"campaign": campaign, "member": member, "item": item, "live": live},
        request=request,
    )


@require_GET
def turn_detail(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """With htmx: the turn as it is now (polled every 2 s while it is told); without: the
    story at that turn."""
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    if not request.htmx:
        return redirect(reverse("stories:campaign_detail", args=[pk]) + f"#turn-{turn.pk}")
    finished = turn.status in (Turn.Status.DONE, Turn.Status.FAILED)
    return HttpResponse(_turn_html(request, member, turn, live=finished))


def _may_act(member: CampaignMember, turn: Turn, verb: str) -> None:
    """Only the player who wrote a turn's action, or an editor, may start, retry or discard
    it; never a viewer."""
    if not selectors.turn_may_act(member=member, turn=turn):
        raise PermissionDenied(f"Only the player who wrote this action can {verb} it.")


@require_POST
def turn_run(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """Send a waiting turn to a model worker again (its first message was lost)."""
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    _may_act(member, turn, "start")
    if turn.status == Turn.Status.PENDING:
        turns.turn_send(turn=turn)
    return _told(request, pk, turn)


@require_POST
def turn_retry(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """Send a failed or stuck turn's action again, as a new turn."""
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    _may_act(member, turn, "retry")
    try:
        new = turns.turn_retry(turn=turn)
    except turns.TurnNotAllowed as exc:
        problem(request, exc)
        return redirect("stories:campaign_detail", pk=pk)
    return _told(request, pk, new, failed="The turn failed again")


@require_POST
def turn_discard(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    _may_act(member, turn, "discard")
    if not turns.turn_discard(turn=turn):
        messages.error(request, "That turn has already started.")
    return redirect("stories:campaign_detail", pk=pk)


@require_GET
def context_map(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    return render(
        request,
        "stories/turns/context_map.html",
        {"campaign": member.campaign, "turn": turn, "map": turn.context_map},
    )
