"""The table: a roll from the campaign page, and the owner's setting for who sees rolls."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from stories import forms, selectors
from stories.table import services
from stories.views.common import member_for, render_campaign
from workspace.http import AuthedRequest


@require_POST
def roll_create(request: AuthedRequest, pk: int) -> HttpResponse:
    """Roll dice as the member; htmx gets the rolls panel, a plain post the story page."""
    member = member_for(request, pk)
    form = forms.RollForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.roll_make(
                member=member,
                expression=form.cleaned_data["dice"],
                reason=form.cleaned_data["reason"],
            )
        except services.RollProblem as exc:
            error = exc.message
    else:
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    if request.htmx:
        return render_campaign(
            request,
            "stories/table/partials/rolls.html",
            member,
            rolls=selectors.rolls_view(campaign=member.campaign, member=member),
            roll_form=forms.RollForm() if not error else form,
            roll_error=error,
        )
    if error:
        messages.error(request, error)
    return redirect("stories:campaign_detail", pk=pk)


@require_POST
def rolls_setting(request: AuthedRequest, pk: int) -> HttpResponse:
    """Only the owner (the game master) decides whether rolls are public and what 0 HP means."""
    member = member_for(request, pk, "manage")
    form = forms.RollsSettingForm(request.POST)
    if form.is_valid():
        services.table_rules_set(campaign=member.campaign, **form.cleaned_data)
        messages.success(request, "Table rules saved.")
    return redirect("stories:campaign_settings", pk=pk)
