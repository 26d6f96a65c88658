"""Turns: an action sent, its narration streamed (SSE) or run without JavaScript, a failed
one retried, a waiting one discarded, and the context map of the prompt a turn used."""

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
from workspace.http import AuthedRequest, found_or_404, sse_comment, sse_event, sse_response

STATUS_TEXT = {
    "started": "writing…",
    "proposing": "working out what changed…",
}


def _told(
    request: AuthedRequest, pk: int, turn: Turn, failed: str = "The turn failed"
) -> HttpResponse:
    """Back to the story at the turn just told (saying so if it failed)."""
    if turn.status == Turn.Status.FAILED:
        messages.error(request, f"{failed}: {turn.error}")
    return redirect(reverse("stories:campaign_detail", args=[pk]) + f"#turn-{turn.pk}")


def _turn(member: CampaignMember, turn_id: int) -> Turn:
    turn = selectors.turn_get_for_campaign(campaign=member.campaign, turn_id=turn_id)
    return found_or_404(turn, "turn")


def _check_actor(request: AuthedRequest, member: CampaignMember, turn: Turn, verb: str) -> None:
    """Only the player who wrote a turn's action (or an editor) may start or discard it."""
    if turn.actor_id != request.user.pk and not member.can_edit:
        raise PermissionDenied(f"Only the player who wrote this action can {verb} it.")


def _refused(request: AuthedRequest, pk: int, message: str) -> HttpResponse:
    if request.htmx:
        return render(request, "stories/turns/partials/turn_problem.html", {"message": message})
    messages.error(request, message)
    return redirect("stories:campaign_detail", pk=pk)


@require_POST
def turn_create(request: AuthedRequest, pk: int) -> HttpResponse:
    """With htmx: the pending turn, which streams itself; without: the turn, run to the end."""
    member = member_for(request, pk)
    campaign = member.campaign
    form = forms.TurnForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, "Write what your character does.")
    action = form.cleaned_data["action"]
    try:
        if request.htmx:
            turn = turns.turn_submit(campaign=campaign, member=member, action=action)
            return render(
                request,
                "stories/turns/partials/turn_live.html",
                {"campaign": campaign, "turn": turn},
            )
        turn = turns.turn_play(campaign=campaign, member=member, action=action)
    except turns.TurnNotAllowed as exc:
        return _refused(request, pk, exc.message)
    return _told(request, pk, turn)


@require_GET
def turn_stream(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponseBase:
    """Server-sent events: `status` and `narration` while the turn is told, then one `done`
    event carrying the finished turn's HTML. A finished turn just sends `done` again."""
    member = member_for(request, pk)
    campaign = member.campaign
    turn = _turn(member, turn_id)
    if turn.status == Turn.Status.PENDING:
        _check_actor(request, member, turn, "start")

    def events() -> Iterator[bytes]:
        yield sse_comment("connected")
        for update in turns.turn_run(turn_id=turn.pk):
            if update.kind == "text":
                yield sse_event("narration", escape(update.text))
            elif update.kind in STATUS_TEXT:
                yield sse_event("status", STATUS_TEXT[update.kind])
            elif update.kind == "waiting":
                yield sse_event("status", escape(update.text))
        turn.refresh_from_db()
        item = selectors.turn_view(campaign=campaign, turn=turn)
        html = render_to_string(
            "stories/turns/partials/turn.html",
            {"campaign": campaign, "item": item, "live": True},
            request=request,
        )
        yield sse_event("done", html)

    return sse_response(events())


@require_POST
def turn_run(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """Run a waiting turn without JavaScript (the page was closed before it streamed)."""
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    _check_actor(request, member, turn, "start")
    return _told(request, pk, turns.turn_complete(turn=turn))


@require_POST
def turn_retry(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """Send a failed turn's action again, as a new turn."""
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    try:
        new = turns.turn_play(campaign=member.campaign, member=member, action=turn.action)
    except turns.TurnNotAllowed as exc:
        problem(request, exc)
        return redirect("stories:campaign_detail", pk=pk)
    return _told(request, pk, new, failed="The turn failed again")


@require_POST
def turn_discard(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    member = member_for(request, pk)
    turn = _turn(member, turn_id)
    _check_actor(request, member, turn, "discard")
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
