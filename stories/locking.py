"""One writer per campaign at a time: a lease on the campaign row.

A turn holds the lease from the moment it is numbered until its changes are applied
(narration can take minutes, far too long for a database transaction, and on SQLite a
transaction would block every writer in the app). Hand edits, undo and imports take it
too, so nothing changes the world while a turn is being told. The lease is taken with a
conditional UPDATE (free or expired -> ours), kept alive by a heartbeat thread while the
model works, and released by token; a crashed process's lease simply expires. The final
apply transaction re-checks the token under select_for_update, so a holder whose lease
expired can never write.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from stories.models import Campaign

LEASE_SECONDS = 120
HEARTBEAT_SECONDS = 20


class CampaignBusy(Exception):
    def __init__(self, label: str) -> None:
        self.label = label
        who = label or "another action"
        super().__init__(f"The campaign is busy ({who}); try again in a moment.")
        self.message = str(self)


def lease_try(campaign_id: int, *, label: str) -> str | None:
    """Take the lease if it is free or expired; the token, or None."""
    token = secrets.token_hex(16)
    now = timezone.now()
    taken = (
        Campaign.objects.filter(pk=campaign_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=LEASE_SECONDS),
            lease_label=label[:200],
        )
    )
    return token if taken else None


def lease_holder(campaign_id: int) -> str:
    return (
        Campaign.objects.filter(pk=campaign_id).values_list("lease_label", flat=True).first() or ""
    )


def lease_acquire(campaign_id: int, *, label: str, wait: float) -> str:
    """Wait up to `wait` seconds for the lease; CampaignBusy if it stays taken."""
    deadline = time.monotonic() + wait
    while True:
        token = lease_try(campaign_id, label=label)
        if token:
            return token
        if time.monotonic() >= deadline:
            raise CampaignBusy(lease_holder(campaign_id))
        time.sleep(0.05)


def lease_renew(campaign_id: int, token: str) -> bool:
    until = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    return bool(
        Campaign.objects.filter(pk=campaign_id, lease_token=token).update(lease_until=until)
    )


def lease_release(campaign_id: int, token: str) -> None:
    Campaign.objects.filter(pk=campaign_id, lease_token=token).update(
        lease_token="", lease_until=None, lease_label=""
    )


class Heartbeat:
    """Renews a lease from a background thread while the model is busy."""

    def __init__(self, campaign_id: int, token: str, every: float = HEARTBEAT_SECONDS) -> None:
        self.campaign_id = campaign_id
        self.token = token
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="campaign-lease")

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                close_old_connections()
                if not lease_renew(self.campaign_id, self.token):
                    return
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def campaign_lease(campaign_id: int, *, label: str, wait: float = 5.0) -> Iterator[str]:
    """Hold the campaign's lease for a short write (an edit, an undo, an import)."""
    token = lease_acquire(campaign_id, label=label, wait=wait)
    try:
        yield token
    finally:
        lease_release(campaign_id, token)


class LeaseLost(Exception):
    """The lease expired and someone else took it: this writer must not write."""


def campaign_for_write(campaign_id: int, token: str) -> Campaign:
    """Inside a transaction: the campaign row, locked, if we still hold its lease."""
    try:
        return Campaign.objects.select_for_update().get(pk=campaign_id, lease_token=token)
    except Campaign.DoesNotExist as exc:
        raise LeaseLost("This campaign's lock expired while the turn was running.") from exc
