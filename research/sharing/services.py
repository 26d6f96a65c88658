"""Writes for sharing a project with people and groups (the owner's, checked by the view)."""

from __future__ import annotations

from django.contrib.auth.models import Group, User

from research.models import Project, ProjectShare


class SharingProblem(Exception):
    """Something the owner can fix: a name that does not exist, sharing with oneself."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _role(role: str) -> str:
    if role not in ProjectShare.Role.values:
        raise SharingProblem("Choose viewer or editor.")
    return role


def project_share_add(
    *, project: Project, kind: str, name: str, role: str, created_by: User
) -> ProjectShare:
    """Share the project with the person or group named `name` (kind "user" or "group").
    Sharing again with the same person or group changes its role."""
    role = _role(role)
    if kind == "user":
        person = User.objects.filter(username=name, is_active=True).first()
        if person is None:
            raise SharingProblem(f"No account on this server is named “{name}”.")
        if person.pk == project.owner_id:
            raise SharingProblem("You own this project: it needs no share for you.")
        share, _created = ProjectShare.objects.update_or_create(
            project=project,
            user=person,
            defaults={"role": role},
            create_defaults={"role": role, "created_by": created_by},
        )
        return share
    if kind == "group":
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise SharingProblem(f"No group on this server is named “{name}”.")
        share, _created = ProjectShare.objects.update_or_create(
            project=project,
            group=group,
            defaults={"role": role},
            create_defaults={"role": role, "created_by": created_by},
        )
        return share
    raise SharingProblem("Choose a person or a group.")


def project_share_set_role(*, share: ProjectShare, role: str) -> None:
    share.role = _role(role)
    share.save(update_fields=["role", "updated_at"])


def project_share_remove(*, share: ProjectShare) -> None:
    share.delete()
