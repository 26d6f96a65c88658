"""Files: a campaign exported as JSON or as a Markdown chronicle, imported back, and a
SillyTavern lorebook imported into the world."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from stories import forms, selectors, services
from stories.exchange import (
    ImportProblem,
    campaign_export_json,
    campaign_import_bytes,
    chronicle_markdown,
    world_info_json,
)
from stories.locking import CampaignBusy
from stories.models import Campaign
from stories.views.common import member_for, problem, render_campaign
from workspace.http import AuthedRequest, attachment, found_or_404


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


def _lore_messages(request: AuthedRequest, result: services.LorebookResult, what: str) -> None:
    """What an import of lore did, in one message per kind of outcome."""
    created = len(result.created)
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(result.kinds.items()))
    messages.success(
        request,
        f"Imported {created} {what} entr{'y' if created == 1 else 'ies'}"
        + (f" ({kinds})." if kinds else "."),
    )
    if result.renamed:
        shown = ", ".join(f"“{new}”" for new, _old in result.renamed[:12])
        more = f" and {len(result.renamed) - 12} more" if len(result.renamed) > 12 else ""
        repeated = len(result.renamed)
        messages.info(
            request,
            f"{repeated} entr{'y' if repeated == 1 else 'ies'} repeated a name used earlier "
            f"in the {what}; each was kept under a numbered name with the repeated name as "
            f"an alias: {shown}{more}.",
        )
    if result.skipped:
        shown = "; ".join(result.skipped[:12])
        more = f"; and {len(result.skipped) - 12} more" if len(result.skipped) > 12 else ""
        skipped = len(result.skipped)
        messages.warning(
            request,
            f"Skipped {skipped} entr{'y' if skipped == 1 else 'ies'}: {shown}{more}",
        )


def _lorebook_upload(
    request: AuthedRequest, pk: int, use: Callable[..., HttpResponse]
) -> HttpResponse:
    """A lorebook upload checked by its form and handed on as `use(campaign=, user=, data=,
    kind=)`; a problem goes back to the settings page with its message."""
    member = member_for(request, pk, "edit")
    form = forms.LorebookForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, forms.first_error(form))
        return redirect("stories:campaign_settings", pk=pk)
    try:
        return use(
            campaign=member.campaign,
            user=request.user,
            data=form.cleaned_data["file"],
            kind=form.cleaned_data["kind"],
        )
    except (ImportProblem, CampaignBusy) as exc:
        problem(request, exc)
        return redirect("stories:campaign_settings", pk=pk)


@require_POST
def lorebook_import(request: AuthedRequest, pk: int) -> HttpResponse:
    """A lorebook imported in one step, every entry as the kind chosen (for programs; the
    page previews first)."""

    def imported(**upload: Any) -> HttpResponse:
        _lore_messages(request, services.lorebook_import(**upload), "lorebook")
        return redirect("stories:campaign_detail", pk=pk)

    return _lorebook_upload(request, pk, imported)


@require_POST
def lorebook_preview_create(request: AuthedRequest, pk: int) -> HttpResponse:
    """Upload a lorebook: its entries wait (services.lorebook_preview_create) on a preview
    page where each one's kind is chosen before anything is imported."""

    def previewed(**upload: Any) -> HttpResponse:
        token = services.lorebook_preview_create(**upload)
        return redirect("stories:lorebook_preview_detail", pk=pk, token=token)

    return _lorebook_upload(request, pk, previewed)


@require_http_methods(["GET", "POST"])
def lorebook_preview(request: AuthedRequest, pk: int, token: str) -> HttpResponse:
    """The preview (GET), and the import with the kinds chosen on it (POST)."""
    member = member_for(request, pk, "edit")
    view = selectors.lorebook_preview_get(
        campaign=member.campaign, user=request.user, token=token[:64]
    )
    if view is None:
        messages.error(request, services.LOREBOOK_PREVIEW_EXPIRED)
        return redirect("stories:campaign_settings", pk=pk)
    if request.method == "GET":
        return render_campaign(request, "stories/campaigns/lorebook_preview.html", member, view)
    form = forms.LorebookKindsForm(request.POST, offered=[row.kind for row in view.rows])
    if not form.is_valid():
        messages.error(request, forms.first_error(form))
        return redirect("stories:lorebook_preview_detail", pk=pk, token=token)
    try:
        result = services.lorebook_preview_import(
            campaign=member.campaign,
            user=request.user,
            token=view.token,
            kinds=form.cleaned_data["kinds"],
        )
    except (ImportProblem, CampaignBusy) as exc:
        problem(request, exc)
        return redirect("stories:campaign_settings", pk=pk)
    _lore_messages(request, result, "lorebook")
    return redirect("stories:campaign_detail", pk=pk)


@require_GET
def world_info_export(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = member_for(request, pk).campaign
    return attachment(
        world_info_json(campaign), _filename(campaign, "-world-info.json"), "application/json"
    )


@require_POST
def card_import(request: AuthedRequest, pk: int) -> HttpResponse:
    member = member_for(request, pk, "edit")
    form = forms.CharacterCardForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, forms.first_error(form))
        return redirect("stories:campaign_settings", pk=pk)
    card = form.cleaned_data["file"]
    try:
        result = services.character_card_import(
            campaign=member.campaign, user=request.user, card=card, kind=form.cleaned_data["kind"]
        )
    except (ImportProblem, CampaignBusy) as exc:
        problem(request, exc)
        return redirect("stories:campaign_settings", pk=pk)
    messages.success(request, f"Imported {result.name} from a {card.label}.")
    if result.book.created or result.book.skipped:
        _lore_messages(request, result.book, "character book")
    return redirect("stories:entity_detail", pk=pk, number=result.number)


@require_GET
def card_export(request: AuthedRequest, pk: int, character: int) -> HttpResponse:
    """The character card entity `character` was imported from, exactly as it came."""
    campaign = member_for(request, pk).campaign
    card = found_or_404(
        selectors.character_card_get_for_entity(campaign=campaign, number=character),
        "character card",
    )
    return attachment(
        card["text"], f"{slugify(card['name']) or 'character'}.card.json", "application/json"
    )
