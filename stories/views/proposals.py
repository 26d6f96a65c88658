"""Proposals: entities Carrel proposes from the campaign's world documents, for an editor
to accept into the world or dismiss."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from stories import proposals, selectors
from stories.locking import CampaignBusy
from stories.models import Campaign, EntityProposal
from stories.services import WorldEditProblem
from stories.views.common import member_for, problem, render_campaign
from workspace.http import AuthedRequest, found_or_404


@require_http_methods(["GET", "POST"])
def proposal_list(request: AuthedRequest, pk: int) -> HttpResponse:
    """The world documents and the proposals waiting; a POST starts a proposal run. The
    panel polls itself (htmx) while a run is under way."""
    member = member_for(request, pk, "edit" if request.method == "POST" else "read")
    campaign = member.campaign
    if request.method == "POST":
        proposals.proposal_run_request(campaign=campaign, user=request.user)
        messages.success(request, "Carrel is reading the world documents; proposals appear below.")
        return redirect("stories:proposals", pk=pk)
    template = (
        "stories/proposals/partials/panel.html" if request.htmx else "stories/proposals/list.html"
    )
    view = selectors.proposals_view(campaign=campaign, user=request.user)
    return render_campaign(request, template, member, view)


def _proposal(campaign: Campaign, proposal_id: int) -> EntityProposal:
    proposal = selectors.proposal_get_for_campaign(campaign=campaign, proposal_id=proposal_id)
    return found_or_404(proposal, "proposal")


@require_POST
def proposal_accept(request: AuthedRequest, pk: int, proposal_id: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    proposal = _proposal(campaign, proposal_id)
    try:
        proposals.proposal_accept(proposal=proposal, user=request.user)
        messages.success(request, f"Added {proposal.name} to the world.")
    except (WorldEditProblem, CampaignBusy) as exc:
        problem(request, exc)
    return redirect("stories:proposals", pk=pk)


@require_POST
def proposal_dismiss(request: AuthedRequest, pk: int, proposal_id: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    proposals.proposal_dismiss(proposal=_proposal(campaign, proposal_id))
    return redirect("stories:proposals", pk=pk)
