"""Campaigns: the list, a new one, the story page with its world pane, settings and members."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.forms.models import model_to_dict
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from stories import forms, selectors, services
from stories.models import CampaignMember
from stories.services import WorldEditProblem
from stories.views.common import member_for, problem, render_campaign
from workspace.http import AuthedRequest, found_or_404


@require_GET
def campaign_list(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "stories/campaigns/list.html",
        {
            "campaigns": selectors.campaign_list_for_user(user=request.user),
            "form": forms.CampaignForm(),
            "upload_form": forms.UploadForm(),
        },
    )


@require_http_methods(["GET", "POST"])
def campaign_create(request: AuthedRequest) -> HttpResponse:
    form = forms.CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        campaign = services.campaign_create(owner=request.user, **form.cleaned_data)
        messages.success(request, "Campaign created. Add places and characters to begin.")
        return redirect("stories:campaign_detail", pk=campaign.pk)
    return render(request, "stories/campaigns/form.html", {"form": form})


@require_GET
def campaign_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk)
    campaign = member.campaign
    return render_campaign(
        request,
        "stories/campaigns/detail.html",
        member,
        selectors.story_view(campaign=campaign, member=member),
        turn_form=forms.TurnForm(),
        roll_form=forms.RollForm(),
        undo_form=forms.UndoForm(initial={"to_turn": max(0, campaign.head_turn - 1)}),
    )


@require_GET
def world_panel(request: AuthedRequest, pk: int) -> HttpResponse:
    """The world pane alone (htmx swaps it in after a streamed turn)."""
    member = member_for(request, pk)
    return render_campaign(
        request,
        "stories/campaigns/partials/world_panel.html",
        member,
        selectors.world_panel_view(campaign=member.campaign),
    )


@require_http_methods(["GET", "POST"])
def campaign_settings(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk, "edit" if request.method == "POST" else "read")
    campaign = member.campaign
    initial = model_to_dict(campaign, fields=list(forms.CampaignForm.base_fields))
    form = forms.CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.campaign_update(campaign=campaign, **form.cleaned_data)
        messages.success(request, "Campaign saved.")
        return redirect("stories:campaign_settings", pk=pk)
    page = selectors.settings_view(campaign=campaign)
    members = [
        (
            row.member,
            row.character_name,
            forms.CharacterForm(
                characters=page.characters,
                initial={"character": row.member.character_number},
                prefix=f"m{row.member.pk}",
            ),
        )
        for row in page.members
    ]
    return render_campaign(
        request,
        "stories/campaigns/settings.html",
        member,
        form=form,
        members=members,
        member_form=forms.MemberForm(characters=page.characters),
        lorebook_form=forms.LorebookForm(),
        card_form=forms.CharacterCardForm(),
        rolls_form=forms.RollsSettingForm(
            initial={"rolls_public": campaign.rolls_public, "zero_hp": campaign.zero_hp}
        ),
    )


def _characters(member: CampaignMember) -> list[tuple[int, str]]:
    """The characters a member may be given to play."""
    return selectors.entity_choice_list_for_campaign(campaign=member.campaign, kinds={"character"})


def _members_change(
    request: AuthedRequest, pk: int, change: Callable[[], object], success: str
) -> HttpResponse:
    """Change who plays (the owner does), then back to the settings, saying how it went."""
    try:
        change()
        messages.success(request, success)
    except WorldEditProblem as exc:
        problem(request, exc)
    return redirect("stories:campaign_settings", pk=pk)


def _other(owner: CampaignMember, member_id: int) -> CampaignMember:
    """A member of the owner's campaign, by id (404 if it has none such)."""
    return found_or_404(owner.campaign.members.filter(pk=member_id).first(), "member")


@require_POST
def member_add(request: AuthedRequest, pk: int) -> HttpResponse:
    owner = member_for(request, pk, "manage")
    form = forms.MemberForm(request.POST, characters=_characters(owner))
    if not form.is_valid():
        messages.error(
            request,
            "Check the member form: "
            + "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()),
        )
        return redirect("stories:campaign_settings", pk=pk)
    data = form.cleaned_data
    return _members_change(
        request,
        pk,
        lambda: services.member_add(
            campaign=owner.campaign,
            username=data["username"],
            role=data["role"],
            character_number=data["character"],
        ),
        f"{data['username']} can now open this campaign.",
    )


@require_POST
def member_character(request: AuthedRequest, pk: int, member_id: int) -> HttpResponse:
    owner = member_for(request, pk, "manage")
    target = _other(owner, member_id)
    form = forms.CharacterForm(request.POST, characters=_characters(owner), prefix=f"m{target.pk}")
    if not form.is_valid():
        return redirect("stories:campaign_settings", pk=pk)
    return _members_change(
        request,
        pk,
        lambda: services.member_set_character(
            member=target, character_number=form.cleaned_data["character"]
        ),
        "Character assignment saved.",
    )


@require_POST
def member_remove(request: AuthedRequest, pk: int, member_id: int) -> HttpResponse:
    target = _other(member_for(request, pk, "manage"), member_id)
    return _members_change(
        request,
        pk,
        lambda: services.member_remove(member=target),
        f"{target.user.get_username()} was removed.",
    )
