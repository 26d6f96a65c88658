"""What the table's tests share: a second fighter for Ada."""

from __future__ import annotations

import pytest

from stories import services, world


@pytest.fixture
def cutthroat(campaign, user) -> int:
    return services.entity_create(
        campaign=campaign,
        user=user,
        change=world.NewEntity(
            kind="create",
            entity_kind="character",
            name="Cutthroat",
            location="Harbor",
            stats={"hp": 3, "initiative": 4},
        ),
    )
