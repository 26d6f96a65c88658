"""Forms for campaigns, turns, members and hand edits. Labels on every field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from stories.character_cards import ParsedCard, card_parse
from stories.exchange import ImportProblem, json_from_upload
from stories.models import CampaignMember
from stories.world import ENTITY_KINDS, NewEntity

KIND_CHOICES = [(k, k.title()) for k in ENTITY_KINDS]


class CampaignForm(forms.Form):
    title = forms.CharField(max_length=200)
    premise = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="What the story is about, in a few sentences.",
    )
    tone = forms.CharField(
        max_length=200,
        required=False,
        help_text="For example: grim and quiet, or light-hearted pulp.",
    )
    rules_notes = forms.CharField(
        label="Rules notes",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="House rules the dungeon master must keep. Always at the top of the prompt.",
    )


class TurnForm(forms.Form):
    action = forms.CharField(
        label="What do you do?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="Ctrl+Enter sends.",
    )


class RollForm(forms.Form):
    dice = forms.CharField(
        label="Dice",
        max_length=100,
        help_text="For example 1d20+3, or 2d20kh1 for advantage.",
    )
    reason = forms.CharField(label="For", max_length=200, required=False)


class RollsSettingForm(forms.Form):
    rolls_public = forms.BooleanField(
        label="Players see each other's rolls",
        required=False,
        help_text="Off: a roll is seen by whoever made it and by the owner and editors.",
    )
    zero_hp = forms.ChoiceField(
        label="A character at 0 hit points is",
        choices=[("unconscious", "Unconscious"), ("dead", "Dead")],
    )


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _commas(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class EntityForm(forms.Form):
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    status = forms.CharField(
        max_length=200, required=False, help_text="For example alive, wounded, open, resolved."
    )
    location = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    stats = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line, as name = number (hp = 12).",
    )
    traits = forms.CharField(required=False, help_text="Separated by commas.")
    goals = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="One per line."
    )
    aliases = forms.CharField(
        required=False, help_text="Other names the story may use, separated by commas."
    )
    pinned = forms.BooleanField(label="Canon (always in the prompt)", required=False)

    def __init__(self, *args: Any, locations: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = [("", "— nowhere —"), *locations]  # type: ignore[attr-defined]

    def clean_stats(self) -> dict[str, int]:
        stats: dict[str, int] = {}
        for line in _lines(self.cleaned_data["stats"]):
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Write each stat as name = number (not {line!r}).")
            try:
                stats[name.strip().lower()] = int(value.strip())
            except ValueError as exc:
                raise forms.ValidationError(
                    f"{name.strip()}: {value.strip()!r} is not a whole number."
                ) from exc
        return stats

    def clean_traits(self) -> list[str]:
        return _commas(self.cleaned_data["traits"])

    def clean_aliases(self) -> list[str]:
        return _commas(self.cleaned_data["aliases"])

    def clean_goals(self) -> list[str]:
        return _lines(self.cleaned_data["goals"])

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.fields}

    def new_entity(self) -> NewEntity:
        """The entity the form describes, as a typed change (its place by name)."""
        values = self.cleaned_data
        places = dict(self.fields["location"].choices)  # type: ignore[attr-defined]
        return NewEntity(
            kind="create",
            entity_kind=values["kind"],
            name=values["name"],
            description=values["description"][:2000],
            location=places[values["location"]] if values["location"] else None,
            stats=values["stats"],
            traits=values["traits"],
            goals=values["goals"],
        )

    @staticmethod
    def initial_for(entity: Any) -> dict[str, Any]:
        return {
            "kind": entity.kind,
            "name": entity.name,
            "description": entity.description,
            "status": entity.status,
            "location": entity.location,
            "stats": "\n".join(f"{k} = {v}" for k, v in sorted(entity.stats.items())),
            "traits": ", ".join(entity.traits),
            "goals": "\n".join(entity.goals),
            "aliases": ", ".join(entity.aliases),
            "pinned": entity.pinned,
        }


class HoldingForm(forms.Form):
    item = forms.TypedChoiceField(coerce=int, label="Item")
    quantity = forms.IntegerField(min_value=0, max_value=1_000_000, label="Quantity held")

    def __init__(self, *args: Any, items: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = items  # type: ignore[attr-defined]


class RelationshipForm(forms.Form):
    target = forms.TypedChoiceField(coerce=int, label="Toward")
    relation = forms.CharField(max_length=200, help_text="One word: trusts, fears, owes, loves…")
    strength = forms.IntegerField(min_value=-100, max_value=100, help_text="-100 to 100.")
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, targets: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = targets  # type: ignore[attr-defined]


class ConnectionForm(forms.Form):
    other = forms.TypedChoiceField(coerce=int, label="Connect to")

    def __init__(self, *args: Any, places: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["other"].choices = places  # type: ignore[attr-defined]


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username on this server")
    role = forms.ChoiceField(
        choices=[c for c in CampaignMember.Role.choices if c[0] != CampaignMember.Role.OWNER]
    )
    character = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Plays character"
    )

    def __init__(self, *args: Any, characters: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["character"].choices = [("", "— none —"), *characters]  # type: ignore[attr-defined]


class CharacterForm(forms.Form):
    character = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Plays character"
    )

    def __init__(self, *args: Any, characters: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["character"].choices = [("", "— none —"), *characters]  # type: ignore[attr-defined]


class UndoForm(forms.Form):
    to_turn = forms.IntegerField(min_value=0, label="Go back to the end of turn")


class BranchForm(forms.Form):
    at_turn = forms.IntegerField(min_value=0, label="Branch from the end of turn")
    title = forms.CharField(max_length=200, required=False, label="New campaign's title")


class StateAtForm(forms.Form):
    turn = forms.IntegerField(min_value=0, label="Show the world as of turn")


def first_error(form: forms.Form) -> str:
    """The first of a form's error messages ("" when it has none), for a flash message."""
    return next((str(message) for errors in form.errors.values() for message in errors), "")


def _json_file(*, label: str, what: str, limit: str, setting: str) -> forms.FileField:
    """A file field for a JSON import, refused with a message past settings.<limit> bytes
    (read when the form is checked) before anything reads it."""

    def at_most(upload: Any) -> None:
        most = getattr(settings, limit)
        if upload.size > most:
            raise forms.ValidationError(
                f"“{upload.name}” is {filesizeformat(upload.size)}; a {what} may be at most "
                f"{filesizeformat(most)} ({setting})."
            )

    return forms.FileField(
        label=label,
        error_messages={"required": f"Choose a {what} to import."},
        validators=[at_most],
    )


class UploadForm(forms.Form):
    file = _json_file(
        label="Campaign file (.json)",
        what="campaign file",
        limit="CARREL_CAMPAIGN_IMPORT_MAX_BYTES",
        setting="CARREL_CAMPAIGN_IMPORT_MAX_MB",
    )


LORE_KIND_CHOICES = [("auto", "What each entry says it is (else lore)"), *KIND_CHOICES]


class LorebookForm(forms.Form):
    file = _json_file(
        label="Lorebook (SillyTavern world info .json)",
        what="lorebook",
        limit="CARREL_LOREBOOK_MAX_BYTES",
        setting="CARREL_LOREBOOK_MAX_MB",
    )
    kind = forms.ChoiceField(
        choices=LORE_KIND_CHOICES,
        initial="auto",
        label="Import entries as",
        help_text="One entity kind for every entry, or each entry's own: its type, category "
        "or group, a title such as “Location: Hall of Mists”, or a room described as "
        "“You are in…”.",
    )

    def clean_file(self) -> Any:
        """The lorebook's JSON (what stories.services.lorebook_import reads)."""
        try:
            return json_from_upload(self.cleaned_data["file"].read(), what="lorebook")
        except ImportProblem as exc:
            raise forms.ValidationError(exc.message) from exc


class LorebookKindsForm(forms.Form):
    """The kinds chosen on a lorebook's preview: one `kind-<position>` select per entry;
    a missing one keeps the kind the preview offered it as (`offered`, in entry order)."""

    def __init__(self, *args: Any, offered: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offered = offered

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kinds = []
        for position, offered in enumerate(self.offered):
            kind = self.data.get(f"kind-{position}", offered)
            if kind not in ENTITY_KINDS:
                raise forms.ValidationError(f"Entry {position + 1}: choose one of the kinds.")
            kinds.append(kind)
        cleaned["kinds"] = kinds
        return cleaned


class CharacterCardForm(forms.Form):
    file = _json_file(
        label="Character card (.png or .json, V1, V2 or V3)",
        what="character card",
        limit="CARREL_CARD_MAX_BYTES",
        setting="CARREL_CARD_MAX_MB",
    )
    kind = forms.ChoiceField(
        choices=LORE_KIND_CHOICES,
        initial="auto",
        label="Import the card's lorebook entries as",
    )

    def clean_file(self) -> ParsedCard:
        """The card (what stories.services.character_card_import reads)."""
        try:
            return card_parse(self.cleaned_data["file"].read())
        except ImportProblem as exc:
            raise forms.ValidationError(exc.message) from exc
