"""Per-person caps (questions in flight, study jobs in flight) are checked and then written:
two requests of one person at once must not both pass the check."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import F


def user_row_lock(*, user_id: int) -> None:
    """Serialise one person's starts of capped work until the transaction ends. Call it
    first inside `transaction.atomic`, before the check: it writes the user's row (to the
    value it has), which PostgreSQL answers with a row lock and SQLite with its write lock,
    so a second request waits here until the first has committed what it started."""
    get_user_model().objects.filter(pk=user_id).update(last_login=F("last_login"))
