"""Files: a campaign exported as JSON or as a Markdown chronicle, imported back, and a
SillyTavern lorebook imported into the world."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from stories import forms, services
from stories.exchange import (
    ImportProblem,
    campaign_export_json,
    campaign_import_bytes,
    chronicle_markdown,
)
from stories.locking import CampaignBusy
from stories.models import Campaign
from stories.views.common import member_for, problem
from workspace.http import AuthedRequest, attachment


def _filename(campaign: Campaign, suffix: str) -> str:
    return f"{slugify(campaign.title) or 'campaign'}{suffix}"


@require_GET
def export_json(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = member_for(request, pk).campaign
    return attachment(
        campaign_export_json(campaign), _filename(campaign, ".json"), "application/json"
    )


@require_GET
def chronicle(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = member_for(request, pk).campaign
    return attachment(
        chronicle_markdown(campaign),
        _filename(campaign, "-chronicle.md"),
        "text/markdown; charset=utf-8",
    )


@require_POST
def campaign_import(request: AuthedRequest) -> HttpResponse:
    form = forms.UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, forms.first_error(form))
        return redirect("stories:campaign_list")
    try:
        campaign = campaign_import_bytes(owner=request.user, raw=form.cleaned_data["file"].read())
    except ImportProblem as exc:
        problem(request, exc)
        return redirect("stories:campaign_list")
    messages.success(request, f"Imported “{campaign.title}”.")
    return redirect("stories:campaign_detail", pk=campaign.pk)


@require_POST
def lorebook_import(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk, "edit")
    form = forms.LorebookForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, forms.first_error(form))
        return redirect("stories:campaign_settings", pk=pk)
    try:
        result = services.lorebook_import(
            campaign=member.campaign,
            user=request.user,
            data=form.cleaned_data["file"],
            kind=form.cleaned_data["kind"],
        )
    except (ImportProblem, CampaignBusy) as exc:
        problem(request, exc)
        return redirect("stories:campaign_settings", pk=pk)
    created = len(result.created)
    messages.success(request, f"Imported {created} entr{'y' if created == 1 else 'ies'}.")
    for line in result.skipped[:20]:
        messages.warning(request, f"Skipped {line}")
    return redirect("stories:campaign_detail", pk=pk)
