"""Uploaded files go when their document rows go, whoever deletes them: the document's own
Delete, a project deleted in the admin, a user account deleted with everything it owns, the
admin's bulk delete. Each is a queryset or cascade delete that sends post_delete for every
document; the file is removed once the transaction commits (a rolled-back delete keeps it),
and only if no other row still points at the same stored file."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from research.models import Document


@receiver(post_delete, sender=Document, dispatch_uid="research.document_file_remove")
def document_file_remove(sender: type[Document], instance: Document, using: str, **_: Any) -> None:
    name = instance.file.name if instance.file else ""
    if not name:
        return
    storage = instance.file.storage

    def remove() -> None:
        if not Document.objects.using(using).filter(file=name).exists():
            storage.delete(name)

    transaction.on_commit(remove, using=using)
