"""Entities: a new one, its page, its edit form, and the hand edits made from its page
(what it holds, how it feels about others, which places it connects)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from stories import forms, selectors, services
from stories.locking import CampaignBusy
from stories.models import Campaign
from stories.services import WorldEditProblem
from stories.state import EntityState
from stories.views.common import member_for, problem, render_campaign
from workspace.http import AuthedRequest, found_or_404

SAVED = "Saved; the change is in the event log."


def _entity(campaign: Campaign, number: int) -> EntityState:
    return found_or_404(
        selectors.entity_get_for_campaign(campaign=campaign, number=number), "entity"
    )


def _editable(request: AuthedRequest, pk: int, number: int) -> Campaign:
    """The campaign, if the user may edit it and it has entity `number` (else 403, 404)."""
    campaign = member_for(request, pk, "edit").campaign
    _entity(campaign, number)
    return campaign


def _edit(
    request: AuthedRequest,
    pk: int,
    number: int,
    change: Callable[[dict[str, Any]], object],
    *,
    form: Form | None = None,
    invalid: str = "",
) -> HttpResponse:
    """Make one hand edit from the entity's page (with the form's values, if it is valid)
    and go back to the page, saying how it went."""
    if form is not None and not form.is_valid():
        messages.error(request, invalid)
    else:
        try:
            change(form.cleaned_data if form is not None else {})
            messages.success(request, SAVED)
        except (WorldEditProblem, CampaignBusy) as exc:
            problem(request, exc)
    return redirect("stories:entity_detail", pk=pk, number=number)


@require_http_methods(["GET", "POST"])
def entity_create(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    form = forms.EntityForm(
        request.POST or None,
        locations=selectors.entity_choice_list_for_campaign(campaign=campaign, kinds={"location"}),
        initial={"kind": request.GET.get("kind", "character")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            number = services.entity_create(
                campaign=campaign,
                user=request.user,
                change=form.new_entity(),
                aliases=form.cleaned_data["aliases"],
                pinned=form.cleaned_data["pinned"],
                status=form.cleaned_data["status"].strip(),
            )
        except (WorldEditProblem, CampaignBusy) as exc:
            form.add_error(None, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, f"Added {form.cleaned_data['name']}.")
            return redirect("stories:entity_detail", pk=pk, number=number)
    return render(
        request, "stories/entities/form.html", {"campaign": campaign, "form": form, "entity": None}
    )


@require_GET
def entity_detail(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    member = member_for(request, pk)
    page = found_or_404(selectors.entity_view(campaign=member.campaign, number=number), "entity")
    edit_forms = {}
    if member.can_edit:
        edit_forms = {
            "holding_form": forms.HoldingForm(items=page.items),
            "relationship_form": forms.RelationshipForm(targets=page.targets),
            "connection_form": forms.ConnectionForm(places=page.places),
        }
    return render_campaign(request, "stories/entities/detail.html", member, page, **edit_forms)


@require_http_methods(["GET", "POST"])
def entity_edit(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    entity = _entity(campaign, number)
    form = forms.EntityForm(
        request.POST or None,
        locations=selectors.entity_choice_list_for_campaign(
            campaign=campaign, kinds={"location"}, exclude=number
        ),
        initial=forms.EntityForm.initial_for(entity),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.entity_edit(
                campaign=campaign, user=request.user, number=number, values=form.values()
            )
        except (WorldEditProblem, CampaignBusy) as exc:
            form.add_error(None, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, SAVED)
            return redirect("stories:entity_detail", pk=pk, number=number)
    return render(
        request,
        "stories/entities/form.html",
        {"campaign": campaign, "form": form, "entity": entity, "number": number},
    )


@require_POST
def holding_set(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = _editable(request, pk, number)
    items = selectors.entity_choice_list_for_campaign(campaign=campaign, kinds={"item"})
    return _edit(
        request,
        pk,
        number,
        lambda data: services.holding_set(
            campaign=campaign,
            user=request.user,
            holder=number,
            item=data["item"],
            quantity=data["quantity"],
        ),
        form=forms.HoldingForm(request.POST, items=items),
        invalid="Choose an item and a quantity.",
    )


@require_POST
def relationship_set(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = _editable(request, pk, number)
    targets = selectors.entity_choice_list_for_campaign(campaign=campaign, exclude=number)
    return _edit(
        request,
        pk,
        number,
        lambda data: services.relationship_set(
            campaign=campaign, user=request.user, source=number, **data
        ),
        form=forms.RelationshipForm(request.POST, targets=targets),
        invalid="Choose who, the relation and a strength from -100 to 100.",
    )


@require_POST
def connection_add(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = _editable(request, pk, number)
    places = selectors.entity_choice_list_for_campaign(campaign=campaign, kinds={"location"})
    return _edit(
        request,
        pk,
        number,
        lambda data: services.connection_add(
            campaign=campaign, user=request.user, a=number, b=data["other"]
        ),
        form=forms.ConnectionForm(request.POST, places=places),
        invalid="Choose a place to connect.",
    )


@require_POST
def connection_remove(request: AuthedRequest, pk: int, number: int, other: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    return _edit(
        request,
        pk,
        number,
        lambda _data: services.connection_remove(
            campaign=campaign, user=request.user, a=number, b=other
        ),
    )
