"""Views for campaigns: thin, they load by id through membership and call one service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from stories import forms, selectors, services, world
from stories.exchange import (
    ImportProblem,
    campaign_export_json,
    campaign_import_bytes,
    chronicle_markdown,
    json_from_upload,
)
from stories.history import HistoryProblem, campaign_branch, campaign_undo
from stories.locking import CampaignBusy
from stories.models import Campaign, CampaignMember, EntityProposal, Turn
from stories.projection import load_state
from stories.proposals import proposal_accept, proposal_dismiss, proposal_run_request
from stories.services import WorldEditProblem
from stories.turns import TurnNotAllowed, turn_discard, turn_play, turn_run, turn_submit
from workspace.http import AuthedRequest


def _member(request: AuthedRequest, pk: int) -> CampaignMember:
    return selectors.membership_get(user=request.user, campaign_id=pk)


def _editor(request: AuthedRequest, pk: int) -> CampaignMember:
    member = _member(request, pk)
    if not member.can_edit:
        raise PermissionDenied("Only the campaign's owner and editors can change the world.")
    return member


def _owner(request: AuthedRequest, pk: int) -> CampaignMember:
    member = _member(request, pk)
    if member.role != CampaignMember.Role.OWNER:
        raise PermissionDenied("Only the campaign's owner can manage its members.")
    return member


def _problem(request: AuthedRequest, exc: Exception) -> None:
    messages.error(request, getattr(exc, "message", str(exc)))


def _world_collection_url(campaign: Campaign, user: Any) -> str:
    """The research app's page for the world documents (its owner uploads there)."""
    collection = campaign.world_collection
    if collection is None or collection.owner_id != user.pk:
        return ""
    for name in ("research:project_detail", "research:collection_detail"):
        try:
            return reverse(name, args=[collection.pk])
        except NoReverseMatch:
            continue
    return ""


# -- campaigns ---------------------------------------------------------------------------------


@require_GET
def campaign_list(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "stories/campaign_list.html",
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
    return render(request, "stories/campaign_form.html", {"form": form})


@require_GET
def campaign_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    state, view = selectors.world_current(campaign=campaign)
    last = selectors.last_turn(campaign=campaign)
    return render(
        request,
        "stories/campaign_detail.html",
        {
            "campaign": campaign,
            "member": member,
            "world": view,
            "turns": selectors.story_turns(campaign=campaign, names=view.names),
            "last": last,
            "turn_form": forms.TurnForm(),
            "undo_form": forms.UndoForm(initial={"to_turn": max(0, campaign.head_turn - 1)}),
            "character": state.entities.get(member.character_number)
            if member.character_number is not None
            else None,
        },
    )


@require_GET
def world_panel(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    _state, view = selectors.world_current(campaign=campaign)
    return render(
        request,
        "stories/partials/world_panel.html",
        {
            "campaign": campaign,
            "member": member,
            "world": view,
            "last": selectors.last_turn(campaign=campaign),
        },
    )


@require_http_methods(["GET", "POST"])
def campaign_settings(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    initial = {
        "title": campaign.title,
        "premise": campaign.premise,
        "tone": campaign.tone,
        "rules_notes": campaign.rules_notes,
    }
    form = forms.CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not member.can_edit:
            raise PermissionDenied("Only the owner and editors can change the campaign.")
        if form.is_valid():
            services.campaign_update(campaign=campaign, **form.cleaned_data)
            messages.success(request, "Campaign saved.")
            return redirect("stories:campaign_settings", pk=pk)
    state = load_state(campaign)
    characters = selectors.character_choices(state)
    names = {n: e.name for n, e in state.entities.items()}
    return render(
        request,
        "stories/campaign_settings.html",
        {
            "campaign": campaign,
            "member": member,
            "form": form,
            "members": [
                (
                    m,
                    names.get(m.character_number or 0, ""),
                    forms.CharacterForm(
                        characters=characters,
                        initial={"character": m.character_number},
                        prefix=f"m{m.pk}",
                    ),
                )
                for m in selectors.members_for_campaign(campaign=campaign)
            ],
            "member_form": forms.MemberForm(characters=characters),
            "lorebook_form": forms.LorebookForm(),
            "collection_url": _world_collection_url(campaign, request.user),
        },
    )


@require_POST
def member_add(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _owner(request, pk)
    state = load_state(member.campaign)
    form = forms.MemberForm(request.POST, characters=selectors.character_choices(state))
    if form.is_valid():
        try:
            added = services.member_add(
                campaign=member.campaign,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
                character_number=form.cleaned_data["character"],
            )
            messages.success(request, f"{added.user.get_username()} can now open this campaign.")
        except WorldEditProblem as exc:
            _problem(request, exc)
    else:
        messages.error(
            request,
            "Check the member form: "
            + "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()),
        )
    return redirect("stories:campaign_settings", pk=pk)


@require_POST
def member_character(request: AuthedRequest, pk: int, member_id: int) -> HttpResponse:
    owner = _owner(request, pk)
    target = owner.campaign.members.filter(pk=member_id).first()
    if target is None:
        raise PermissionDenied("No such member.")
    state = load_state(owner.campaign)
    form = forms.CharacterForm(
        request.POST, characters=selectors.character_choices(state), prefix=f"m{target.pk}"
    )
    if form.is_valid():
        try:
            services.member_set_character(
                member=target, character_number=form.cleaned_data["character"]
            )
            messages.success(request, "Character assignment saved.")
        except WorldEditProblem as exc:
            _problem(request, exc)
    return redirect("stories:campaign_settings", pk=pk)


@require_POST
def member_remove(request: AuthedRequest, pk: int, member_id: int) -> HttpResponse:
    owner = _owner(request, pk)
    target = owner.campaign.members.filter(pk=member_id).first()
    if target is not None:
        try:
            services.member_remove(member=target)
            messages.success(request, f"{target.user.get_username()} was removed.")
        except WorldEditProblem as exc:
            _problem(request, exc)
    return redirect("stories:campaign_settings", pk=pk)


# -- turns -------------------------------------------------------------------------------------


@require_POST
def turn_create(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    form = forms.TurnForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(
                request,
                "stories/partials/turn_problem.html",
                {"message": "Write what your character does."},
            )
        messages.error(request, "Write what your character does.")
        return redirect("stories:campaign_detail", pk=pk)
    try:
        if request.htmx:
            turn = turn_submit(campaign=campaign, member=member, action=form.cleaned_data["action"])
            return render(
                request, "stories/partials/turn_live.html", {"campaign": campaign, "turn": turn}
            )
        turn = turn_play(campaign=campaign, member=member, action=form.cleaned_data["action"])
    except TurnNotAllowed as exc:
        if request.htmx:
            return render(request, "stories/partials/turn_problem.html", {"message": exc.message})
        _problem(request, exc)
        return redirect("stories:campaign_detail", pk=pk)
    if turn.status == Turn.Status.FAILED:
        messages.error(request, f"The turn failed: {turn.error}")
    return redirect(reverse("stories:campaign_detail", args=[pk]) + f"#turn-{turn.pk}")


def _sse(event: str, data: str) -> str:
    lines = data.splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


STATUS_TEXT = {
    "started": "writing…",
    "proposing": "working out what changed…",
}


@require_GET
def turn_stream(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponseBase:
    member = _member(request, pk)
    campaign = member.campaign
    turn = selectors.turn_get(campaign=campaign, turn_id=turn_id)
    if (
        turn.status == Turn.Status.PENDING
        and turn.actor_id != request.user.pk
        and not member.can_edit
    ):
        raise PermissionDenied("Only the player who wrote this action can start it.")

    def stream() -> Iterator[str]:
        yield ": connected\n\n"
        for update in turn_run(turn_id=turn.pk):
            if update.kind == "text":
                yield _sse("narration", escape(update.text))
            elif update.kind in STATUS_TEXT:
                yield _sse("status", STATUS_TEXT[update.kind])
            elif update.kind == "waiting":
                yield _sse("status", escape(update.text))
        turn.refresh_from_db()
        names = {n: e.name for n, e in load_state(campaign).entities.items()}
        [view] = selectors.turn_views(campaign=campaign, turns=[turn], names=names)
        html = render_to_string(
            "stories/partials/turn.html",
            {"campaign": campaign, "item": view, "live": True},
            request=request,
        )
        yield _sse("done", html)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@require_POST
def turn_run_now(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """Run a waiting turn without JavaScript (the page was closed before it streamed)."""
    member = _member(request, pk)
    turn = selectors.turn_get(campaign=member.campaign, turn_id=turn_id)
    if turn.actor_id != request.user.pk and not member.can_edit:
        raise PermissionDenied("Only the player who wrote this action can start it.")
    for _update in turn_run(turn_id=turn.pk):
        pass
    turn.refresh_from_db()
    if turn.status == Turn.Status.FAILED:
        messages.error(request, f"The turn failed: {turn.error}")
    return redirect(reverse("stories:campaign_detail", args=[pk]) + f"#turn-{turn.pk}")


@require_POST
def turn_retry(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    """Send a failed turn's action again, as a new turn."""
    member = _member(request, pk)
    turn = selectors.turn_get(campaign=member.campaign, turn_id=turn_id)
    try:
        new = turn_play(campaign=member.campaign, member=member, action=turn.action)
    except TurnNotAllowed as exc:
        _problem(request, exc)
        return redirect("stories:campaign_detail", pk=pk)
    if new.status == Turn.Status.FAILED:
        messages.error(request, f"The turn failed again: {new.error}")
    return redirect(reverse("stories:campaign_detail", args=[pk]) + f"#turn-{new.pk}")


@require_POST
def turn_delete(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    member = _member(request, pk)
    turn = selectors.turn_get(campaign=member.campaign, turn_id=turn_id)
    if turn.actor_id != request.user.pk and not member.can_edit:
        raise PermissionDenied("Only the player who wrote this action can discard it.")
    if not turn_discard(turn=turn):
        messages.error(request, "That turn has already started.")
    return redirect("stories:campaign_detail", pk=pk)


@require_GET
def context_map(request: AuthedRequest, pk: int, turn_id: int) -> HttpResponse:
    member = _member(request, pk)
    turn = selectors.turn_get(campaign=member.campaign, turn_id=turn_id)
    return render(
        request,
        "stories/context_map.html",
        {"campaign": member.campaign, "turn": turn, "map": turn.context_map},
    )


# -- history -----------------------------------------------------------------------------------


@require_GET
def campaign_timeline(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    before = request.GET.get("before")
    before_turn = int(before) if before and before.isdigit() else None
    state = load_state(campaign)
    names = {n: e.name for n, e in state.entities.items()}
    rows = selectors.timeline(campaign=campaign, names=names, before_turn=before_turn)
    older = rows[-1].turn_number if rows and rows[-1].turn_number > 0 else None
    return render(
        request,
        "stories/timeline.html",
        {
            "campaign": campaign,
            "member": member,
            "rows": rows,
            "older": older,
            "state_form": forms.StateAtForm(initial={"turn": campaign.head_turn}),
            "undo_form": forms.UndoForm(initial={"to_turn": max(0, campaign.head_turn - 1)}),
            "branch_form": forms.BranchForm(initial={"at_turn": campaign.head_turn}),
        },
    )


@require_GET
def state_as_of(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    form = forms.StateAtForm(request.GET or None, initial={"turn": campaign.head_turn})
    turn = campaign.head_turn
    if form.is_valid():
        turn = min(form.cleaned_data["turn"], campaign.head_turn)
    return render(
        request,
        "stories/state_at.html",
        {
            "campaign": campaign,
            "member": member,
            "turn": turn,
            "form": form,
            "world": selectors.world_as_of(campaign=campaign, turn=turn),
            "branch_form": forms.BranchForm(initial={"at_turn": turn}),
            "undo_form": forms.UndoForm(initial={"to_turn": turn}),
        },
    )


@require_POST
def undo(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    form = forms.UndoForm(request.POST)
    if form.is_valid():
        try:
            count = campaign_undo(
                campaign=member.campaign, member=member, to_turn=form.cleaned_data["to_turn"]
            )
            messages.success(
                request,
                f"Undid {count} turn{'s' if count != 1 else ''}; the world is as it was after "
                f"turn {form.cleaned_data['to_turn']}.",
            )
        except (HistoryProblem, CampaignBusy) as exc:
            _problem(request, exc)
    else:
        messages.error(request, "Choose a turn to go back to.")
    return redirect("stories:campaign_detail", pk=pk)


@require_POST
def branch(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    form = forms.BranchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a turn to branch from.")
        return redirect("stories:campaign_timeline", pk=pk)
    try:
        new = campaign_branch(
            campaign=member.campaign,
            user=request.user,
            at_turn=form.cleaned_data["at_turn"],
            title=form.cleaned_data["title"],
        )
    except (HistoryProblem, ImportProblem) as exc:
        _problem(request, exc)
        return redirect("stories:campaign_timeline", pk=pk)
    messages.success(request, f"Branched at turn {form.cleaned_data['at_turn']}.")
    return redirect("stories:campaign_detail", pk=new.pk)


# -- files -------------------------------------------------------------------------------------


def _download(content: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def export_json(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = _member(request, pk).campaign
    name = slugify(campaign.title) or "campaign"
    return _download(campaign_export_json(campaign), f"{name}.json", "application/json")


@require_GET
def chronicle(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = _member(request, pk).campaign
    name = slugify(campaign.title) or "campaign"
    return _download(
        chronicle_markdown(campaign), f"{name}-chronicle.md", "text/markdown; charset=utf-8"
    )


@require_POST
def campaign_import(request: AuthedRequest) -> HttpResponse:
    form = forms.UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, forms.first_error(form) or "Choose a campaign file to import.")
        return redirect("stories:campaign_list")
    upload = form.cleaned_data["file"]
    try:
        campaign = campaign_import_bytes(owner=request.user, raw=upload.read())
    except ImportProblem as exc:
        _problem(request, exc)
        return redirect("stories:campaign_list")
    messages.success(request, f"Imported “{campaign.title}”.")
    return redirect("stories:campaign_detail", pk=campaign.pk)


@require_POST
def lorebook_import(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _editor(request, pk)
    form = forms.LorebookForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, forms.first_error(form) or "Choose a lorebook file to import.")
        return redirect("stories:campaign_settings", pk=pk)
    try:
        data = json_from_upload(form.cleaned_data["file"].read(), what="lorebook")
        result = services.lorebook_import(
            campaign=member.campaign,
            user=request.user,
            data=data,
            kind=form.cleaned_data["kind"],
        )
    except (ImportProblem, CampaignBusy) as exc:
        _problem(request, exc)
        return redirect("stories:campaign_settings", pk=pk)
    messages.success(
        request, f"Imported {len(result.created)} entr{'y' if len(result.created) == 1 else 'ies'}."
    )
    for line in result.skipped[:20]:
        messages.warning(request, f"Skipped {line}")
    return redirect("stories:campaign_detail", pk=pk)


# -- entities ----------------------------------------------------------------------------------


def _entity_values(form: forms.EntityForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in form.fields}


@require_http_methods(["GET", "POST"])
def entity_create(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _editor(request, pk)
    campaign = member.campaign
    state = load_state(campaign)
    form = forms.EntityForm(
        request.POST or None,
        locations=selectors.kind_choices(state, {"location"}),
        initial={"kind": request.GET.get("kind", "character")},
    )
    if request.method == "POST" and form.is_valid():
        values = _entity_values(form)
        location_name = state.entities[values["location"]].name if values["location"] else None
        try:
            number = services.entity_create(
                campaign=campaign,
                user=request.user,
                change=world.NewEntity(
                    kind="create",
                    entity_kind=values["kind"],
                    name=values["name"],
                    description=values["description"][:2000],
                    location=location_name,
                    stats=values["stats"],
                    traits=values["traits"],
                    goals=values["goals"],
                ),
                aliases=values["aliases"],
                pinned=values["pinned"],
                status=values["status"].strip(),
            )
        except (WorldEditProblem, CampaignBusy) as exc:
            form.add_error(None, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, f"Added {values['name']}.")
            return redirect("stories:entity_detail", pk=pk, number=number)
    return render(
        request, "stories/entity_form.html", {"campaign": campaign, "form": form, "entity": None}
    )


def _entity_or_404(state: Any, number: int) -> Any:
    if number not in state.entities:
        raise Http404("No such entity.")
    return state.entities[number]


@require_GET
def entity_detail(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    state = load_state(campaign)
    _entity_or_404(state, number)
    view = selectors.world_view(state)
    row = next(r for _k, _t, rows in view.groups for r in rows if r.number == number)
    others = selectors.kind_choices(state, set(world.ENTITY_KINDS) - {"item"})
    context = {
        "campaign": campaign,
        "member": member,
        "entity": row,
        "names": view.names,
        "held_by": [(q, view.names[h], h) for h, q in state.holders_of(number)],
        "occupants": sorted(
            ((n, e.name, e.kind) for n, e in state.entities.items() if e.location == number),
            key=lambda x: x[1].casefold(),
        ),
        "relations_out": [r for r in view.relationships if r.source == number],
        "relations_in": [r for r in view.relationships if r.target == number],
        "history": selectors.entity_history(campaign=campaign, number=number, names=view.names),
    }
    if member.can_edit:
        context["holding_form"] = forms.HoldingForm(items=selectors.kind_choices(state, {"item"}))
        context["relationship_form"] = forms.RelationshipForm(
            targets=[
                (n, name)
                for n, name in others + selectors.kind_choices(state, {"item"})
                if n != number
            ]
        )
        context["connection_form"] = forms.ConnectionForm(
            places=[
                (n, name) for n, name in selectors.kind_choices(state, {"location"}) if n != number
            ]
        )
    return render(request, "stories/entity_detail.html", context)


@require_http_methods(["GET", "POST"])
def entity_edit(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    member = _editor(request, pk)
    campaign = member.campaign
    state = load_state(campaign)
    entity = _entity_or_404(state, number)
    form = forms.EntityForm(
        request.POST or None,
        locations=[
            (n, name) for n, name in selectors.kind_choices(state, {"location"}) if n != number
        ],
        initial=forms.EntityForm.initial_for(entity),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.entity_edit(
                campaign=campaign,
                user=request.user,
                number=number,
                values=_entity_values(form),
            )
        except (WorldEditProblem, CampaignBusy) as exc:
            form.add_error(None, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, "Saved; the change is in the event log.")
            return redirect("stories:entity_detail", pk=pk, number=number)
    return render(
        request,
        "stories/entity_form.html",
        {"campaign": campaign, "form": form, "entity": entity, "number": number},
    )


def _world_action(request: AuthedRequest, pk: int, number: int, action: Any) -> HttpResponse:
    try:
        action()
        messages.success(request, "Saved; the change is in the event log.")
    except (WorldEditProblem, CampaignBusy) as exc:
        _problem(request, exc)
    return redirect("stories:entity_detail", pk=pk, number=number)


@require_POST
def holding_set(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    member = _editor(request, pk)
    state = load_state(member.campaign)
    _entity_or_404(state, number)
    form = forms.HoldingForm(request.POST, items=selectors.kind_choices(state, {"item"}))
    if not form.is_valid():
        messages.error(request, "Choose an item and a quantity.")
        return redirect("stories:entity_detail", pk=pk, number=number)
    return _world_action(
        request,
        pk,
        number,
        lambda: services.holding_set(
            campaign=member.campaign,
            user=request.user,
            holder=number,
            item=form.cleaned_data["item"],
            quantity=form.cleaned_data["quantity"],
        ),
    )


@require_POST
def relationship_set(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    member = _editor(request, pk)
    state = load_state(member.campaign)
    _entity_or_404(state, number)
    targets = [(n, e.name) for n, e in state.entities.items() if n != number]
    form = forms.RelationshipForm(request.POST, targets=targets)
    if not form.is_valid():
        messages.error(request, "Choose who, the relation and a strength from -100 to 100.")
        return redirect("stories:entity_detail", pk=pk, number=number)
    return _world_action(
        request,
        pk,
        number,
        lambda: services.relationship_set(
            campaign=member.campaign,
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
    member = _editor(request, pk)
    state = load_state(member.campaign)
    entity = _entity_or_404(state, number)
    form = forms.ConnectionForm(request.POST, places=selectors.kind_choices(state, {"location"}))
    if not form.is_valid():
        messages.error(request, "Choose a place to connect.")
        return redirect("stories:entity_detail", pk=pk, number=number)
    other = state.entities[form.cleaned_data["other"]]
    return _world_action(
        request,
        pk,
        number,
        lambda: services.world_change_apply(
            campaign=member.campaign,
            user=request.user,
            change=world.Connect(kind="connect", a=entity.name, b=other.name),
        ),
    )


@require_POST
def connection_remove(request: AuthedRequest, pk: int, number: int, other: int) -> HttpResponse:
    member = _editor(request, pk)
    return _world_action(
        request,
        pk,
        number,
        lambda: services.connection_remove(
            campaign=member.campaign, user=request.user, a=number, b=other
        ),
    )


# -- proposals from world documents ------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def proposals(request: AuthedRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    campaign = member.campaign
    if request.method == "POST":
        if not member.can_edit:
            raise PermissionDenied("Only the owner and editors can change the world.")
        proposal_run_request(campaign=campaign, user=request.user)
        messages.success(request, "Carrel is reading the world documents; proposals appear below.")
        return redirect("stories:proposals", pk=pk)
    pending, run = selectors.proposals_for_campaign(campaign=campaign)
    template = "stories/partials/proposals_panel.html" if request.htmx else "stories/proposals.html"
    return render(
        request,
        template,
        {
            "campaign": campaign,
            "member": member,
            "proposals": pending,
            "run": run,
            "collection_url": _world_collection_url(campaign, request.user),
            "documents": selectors.world_documents(campaign=campaign),
        },
    )


def _proposal(member: CampaignMember, proposal_id: int) -> EntityProposal:
    proposal = member.campaign.proposals.filter(pk=proposal_id).first()
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


@require_POST
def proposal_accept_view(request: AuthedRequest, pk: int, proposal_id: int) -> HttpResponse:
    member = _editor(request, pk)
    proposal = _proposal(member, proposal_id)
    try:
        proposal_accept(proposal=proposal, user=request.user)
        messages.success(request, f"Added {proposal.name} to the world.")
    except (WorldEditProblem, CampaignBusy) as exc:
        _problem(request, exc)
    return redirect("stories:proposals", pk=pk)


@require_POST
def proposal_dismiss_view(request: AuthedRequest, pk: int, proposal_id: int) -> HttpResponse:
    member = _editor(request, pk)
    proposal_dismiss(proposal=_proposal(member, proposal_id))
    return redirect("stories:proposals", pk=pk)
