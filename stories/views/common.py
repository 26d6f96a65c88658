"""What the campaign views share: the signed-in member, and a refused change as a message."""

from __future__ import annotations

from typing import Any, Literal

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render

from stories import selectors
from stories.models import CampaignMember
from workspace.http import AuthedRequest, found_or_404


def member_for(
    request: AuthedRequest, pk: int, may: Literal["read", "edit", "manage"] = "read"
) -> CampaignMember:
    """The signed-in user's membership of campaign `pk` (404 if none, 403 if `may` is not)."""
    member = selectors.member_get_for_user(user=request.user, campaign_id=pk, may=may)
    return found_or_404(member, "campaign")


def problem(request: AuthedRequest, exc: Exception) -> None:
    """A service's refusal (it carries a `message` for people) shown on the next page."""
    messages.error(request, getattr(exc, "message", str(exc)))


def render_campaign(
    request: AuthedRequest,
    template: str,
    member: CampaignMember,
    view: object | None = None,
    **context: Any,
) -> HttpResponse:
    """A campaign page: the campaign, the member (what their role lets the page offer),
    everything the page's `<page>_view` selector gathered, then the page's own forms."""
    gathered = vars(view) if view is not None else {}
    return render(
        request, template, {"campaign": member.campaign, "member": member, **gathered, **context}
    )
