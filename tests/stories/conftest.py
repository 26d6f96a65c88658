"""Fixtures for the stories tests: a small world, a scripted dungeon master, and the fake
Ollama server as the model (for errors that come from real HTTP answers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from stories import services, world
from stories.models import Campaign, CampaignMember
from stories.scripting import StoryScript
from tests.fakes.ollama_server import FakeOllama
from tests.stories.inline import tasks_run_inline
from tests.workspace.conftest import fake_ollama  # noqa: F401  (a fixture, used below)
from workspace.runtime import use_runtime
from workspace.runtime.ollama import OllamaRuntime
from workspace.runtime.scripted import ScriptedRuntime


def make_world(campaign: Campaign, user) -> dict[str, int]:
    """Harbor—Market—Tower, Ada (5 gold) at the Harbor, Bram (a sword) at the Market."""
    numbers: dict[str, int] = {}

    def add(kind: str, name: str, location: str | None = None, **extra) -> None:
        numbers[name] = services.entity_create(
            campaign=campaign,
            user=user,
            change=world.NewEntity(
                kind="create", entity_kind=kind, name=name, location=location, **extra
            ),
        )

    add("location", "Harbor", description="Salt and gulls.")
    add("location", "Market")
    add("location", "Tower")
    add("character", "Ada", "Harbor", stats={"hp": 10}, traits=["brave"], goals=["find the crown"])
    add("character", "Bram", "Market")
    add("item", "Gold coin")
    add("item", "Sword")
    add("quest", "Find the crown", description="The old king's crown is lost.")
    for a, b in (("Harbor", "Market"), ("Market", "Tower")):
        services.world_change_apply(
            campaign=campaign, user=user, change=world.Connect(kind="connect", a=a, b=b)
        )
    services.holding_set(
        campaign=campaign, user=user, holder=numbers["Ada"], item=numbers["Gold coin"], quantity=5
    )
    services.holding_set(
        campaign=campaign, user=user, holder=numbers["Bram"], item=numbers["Sword"], quantity=1
    )
    return numbers


@pytest.fixture
def campaign(user) -> Campaign:
    campaign = services.campaign_create(
        owner=user,
        title="The Lost Crown",
        premise="A crown is lost.",
        tone="wry",
        rules_notes="No magic.",
    )
    campaign.numbers = make_world(campaign, user)  # type: ignore[attr-defined]
    member = campaign.members.get(user=user)
    services.member_set_character(member=member, character_number=campaign.numbers["Ada"])  # type: ignore[attr-defined]
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def owner_member(campaign, user) -> CampaignMember:
    return campaign.members.select_related("user", "campaign").get(user=user)


@pytest.fixture
def script() -> Iterator[StoryScript]:
    story = StoryScript()
    with use_runtime(ScriptedRuntime(story, context_window=8192)):
        yield story


@pytest.fixture
def ollama(fake_ollama: FakeOllama, settings) -> Iterator[FakeOllama]:  # noqa: F811
    """The model is the fake Ollama server, with a 6,000-token window."""
    runtime = OllamaRuntime(host=fake_ollama.url, model=settings.OLLAMA_MODEL, timeout=5)
    with override_settings(CARREL_NUM_CTX=6000), use_runtime(runtime):
        yield fake_ollama


@pytest.fixture
def tasks_inline() -> Iterator[None]:
    """Celery runs each task inline, in this process, when it is sent (tests/stories/inline.py)."""
    with tasks_run_inline():
        yield
