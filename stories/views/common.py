"""What the campaign views share: the signed-in member, and a refused change as a message."""

from __future__ import annotations

from typing import Literal

from django.contrib import messages

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
