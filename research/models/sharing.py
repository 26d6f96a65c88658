"""Sharing: a project is shared with a person or with a Django auth group, as viewer or
editor. Every access check goes through research/access.py."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from research.models.library import Project


class ProjectShare(models.Model):
    """One person or one group that may open a project it does not own.

    A viewer reads everything in the project (documents, pages, conversations, study
    materials, exports) and may ask questions of it; an editor may also upload, delete,
    generate and edit. Only the owner manages shares.
    """

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer (reads, asks questions, exports)"
        EDITOR = "editor", "Editor (also uploads, deletes, generates and edits)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="project_shares",
    )
    group = models.ForeignKey(
        "auth.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="project_shares",
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.VIEWER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="project_share_user_xor_group",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["viewer", "editor"]),
                name="project_share_role_valid",
            ),
            models.UniqueConstraint(
                fields=["project", "user"],
                condition=models.Q(user__isnull=False),
                name="unique_project_share_user",
            ),
            models.UniqueConstraint(
                fields=["project", "group"],
                condition=models.Q(group__isnull=False),
                name="unique_project_share_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} shared with {self.grantee} ({self.role})"

    @property
    def grantee(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return f"group {self.group}"

    @property
    def is_group(self) -> bool:
        return self.group_id is not None
