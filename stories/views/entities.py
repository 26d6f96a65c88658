"""Entities: a new one, its page, its edit form, and the hand edits made from its page
(what it holds, how it feels about others, which places it connects)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from stories import forms, selectors, services
from stories.locking import CampaignBusy
from stories.services import WorldEditProblem
from stories.views.common import member_for, problem
from workspace.http import AuthedRequest

SAVED = "Saved; the change is in the event log."


@require_http_methods(["GET", "POST"])
def entity_create(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    form = forms.EntityForm(
        request.POST or None,
        locations=selectors.entity_choice_list(campaign=campaign, kinds={"location"}),
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
    page = selectors.entity_page_get(campaign=member.campaign, number=number)
    context = {"campaign": member.campaign, "member": member, **vars(page)}
    if member.can_edit:
        context["holding_form"] = forms.HoldingForm(items=page.items)
        context["relationship_form"] = forms.RelationshipForm(targets=page.targets)
        context["connection_form"] = forms.ConnectionForm(places=page.places)
    return render(request, "stories/entities/detail.html", context)


@require_http_methods(["GET", "POST"])
def entity_edit(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    entity = selectors.entity_get(campaign=campaign, number=number)
    form = forms.EntityForm(
        request.POST or None,
        locations=selectors.entity_choice_list(
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


def _edit(
    request: AuthedRequest, pk: int, number: int, change: Callable[[], object]
) -> HttpResponse:
    """Make one hand edit and go back to the entity's page, saying how it went."""
    try:
        change()
        messages.success(request, SAVED)
    except (WorldEditProblem, CampaignBusy) as exc:
        problem(request, exc)
    return redirect("stories:entity_detail", pk=pk, number=number)


@require_POST
def holding_set(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    selectors.entity_get(campaign=campaign, number=number)
    items = selectors.entity_choice_list(campaign=campaign, kinds={"item"})
    form = forms.HoldingForm(request.POST, items=items)
    if not form.is_valid():
        messages.error(request, "Choose an item and a quantity.")
        return redirect("stories:entity_detail", pk=pk, number=number)
    return _edit(
        request,
        pk,
        number,
        lambda: services.holding_set(
            campaign=campaign,
            user=request.user,
            holder=number,
            item=form.cleaned_data["item"],
            quantity=form.cleaned_data["quantity"],
        ),
    )


@require_POST
def relationship_set(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    selectors.entity_get(campaign=campaign, number=number)
    targets = selectors.entity_choice_list(campaign=campaign, exclude=number)
    form = forms.RelationshipForm(request.POST, targets=targets)
    if not form.is_valid():
        messages.error(request, "Choose who, the relation and a strength from -100 to 100.")
        return redirect("stories:entity_detail", pk=pk, number=number)
    return _edit(
        request,
        pk,
        number,
        lambda: services.relationship_set(
            campaign=campaign,
            user=request.user,
            source=number,
            target=form.cleaned_data["target"],
            relation=form.cleaned_data["relation"],
            strength=form.cleaned_data["strength"],
            note=form.cleaned_data["note"],
        ),
    )


@require_POST
def connection_add(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    selectors.entity_get(campaign=campaign, number=number)
    places = selectors.entity_choice_list(campaign=campaign, kinds={"location"})
    form = forms.ConnectionForm(request.POST, places=places)
    if not form.is_valid():
        messages.error(request, "Choose a place to connect.")
        return redirect("stories:entity_detail", pk=pk, number=number)
    return _edit(
        request,
        pk,
        number,
        lambda: services.connection_add(
            campaign=campaign, user=request.user, a=number, b=form.cleaned_data["other"]
        ),
    )


@require_POST
def connection_remove(request: AuthedRequest, pk: int, number: int, other: int) -> HttpResponse:
    campaign = member_for(request, pk, "edit").campaign
    return _edit(
        request,
        pk,
        number,
        lambda: services.connection_remove(campaign=campaign, user=request.user, a=number, b=other),
    )
