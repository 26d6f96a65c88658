"""Forms of the sharing page: share with a person or a group, change a share's role."""

from __future__ import annotations

from django import forms

from research.models import ProjectShare

KIND_CHOICES = [("user", "A person (username)"), ("group", "A group")]


class ShareForm(forms.Form):
    kind = forms.ChoiceField(choices=KIND_CHOICES, initial="user", label="Share with")
    name = forms.CharField(
        max_length=150,
        label="Username or group name",
        help_text="Exactly as it is written on this server (an administrator makes groups).",
    )
    role = forms.ChoiceField(choices=ProjectShare.Role.choices, initial=ProjectShare.Role.VIEWER)

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()


class ShareRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ProjectShare.Role.choices)
