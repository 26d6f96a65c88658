"""History: the timeline of turns and edits, the world as of a turn, undo and branch."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from stories import forms, selectors
from stories.exchange import ImportProblem
from stories.history import HistoryProblem, campaign_branch, campaign_undo
from stories.locking import CampaignBusy
from stories.views.common import member_for, problem, render_campaign
from workspace.http import AuthedRequest


@require_GET
def campaign_timeline(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk)
    campaign = member.campaign
    before = request.GET.get("before")
    before_turn = int(before) if before and before.isdigit() else None
    return render_campaign(
        request,
        "stories/history/timeline.html",
        member,
        selectors.timeline_view(campaign=campaign, before_turn=before_turn),
        state_form=forms.StateAtForm(initial={"turn": campaign.head_turn}),
        undo_form=forms.UndoForm(initial={"to_turn": max(0, campaign.head_turn - 1)}),
        branch_form=forms.BranchForm(initial={"at_turn": campaign.head_turn}),
    )


@require_GET
def state_as_of(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk)
    campaign = member.campaign
    form = forms.StateAtForm(request.GET or None, initial={"turn": campaign.head_turn})
    turn = campaign.head_turn
    if form.is_valid():
        turn = min(form.cleaned_data["turn"], campaign.head_turn)
    return render_campaign(
        request,
        "stories/history/state_at.html",
        member,
        turn=turn,
        form=form,
        world=selectors.world_view(campaign=campaign, turn=turn),
        branch_form=forms.BranchForm(initial={"at_turn": turn}),
        undo_form=forms.UndoForm(initial={"to_turn": turn}),
    )


@require_POST
def undo(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk)
    form = forms.UndoForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a turn to go back to.")
        return redirect("stories:campaign_detail", pk=pk)
    to_turn = form.cleaned_data["to_turn"]
    try:
        count = campaign_undo(campaign=member.campaign, member=member, to_turn=to_turn)
        messages.success(
            request,
            f"Undid {count} turn{'s' if count != 1 else ''}; the world is as it was after "
            f"turn {to_turn}.",
        )
    except (HistoryProblem, CampaignBusy) as exc:
        problem(request, exc)
    return redirect("stories:campaign_detail", pk=pk)


@require_POST
def branch(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk, may="edit")
    form = forms.BranchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a turn to branch from.")
        return redirect("stories:campaign_timeline", pk=pk)
    try:
        new = campaign_branch(
            campaign=member.campaign,
            user=request.user,
            at_turn=form.cleaned_data["at_turn"],
            title=form.cleaned_data["title"],
        )
    except (HistoryProblem, ImportProblem) as exc:
        problem(request, exc)
        return redirect("stories:campaign_timeline", pk=pk)
    messages.success(request, f"Branched at turn {form.cleaned_data['at_turn']}.")
    return redirect("stories:campaign_detail", pk=new.pk)
