"""The picture of the world: places and paths, and relationships, as of any turn."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from stories import forms, selectors
from stories.views.common import member_for, render_campaign
from workspace.http import AuthedRequest


@require_GET
def world_map(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk)
    campaign = member.campaign
    form = forms.StateAtForm(request.GET or None, initial={"turn": campaign.head_turn})
    turn = form.cleaned_data["turn"] if form.is_valid() else None
    return render_campaign(
        request,
        "stories/map/map.html",
        member,
        selectors.world_map_view(campaign=campaign, turn=turn),
        form=form,
    )
