"""The picture of the world: places and paths with who and what is where, relationships
coloured by strength, as of any turn; valid SVG, with tables as its text alternative."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stories import services, world
from stories import world_map as world_map_module
from stories.projection import load_state
from stories.turns import turn_play
from stories.world_map import world_map
from tests.stories.views.pages import assert_csp_clean, assert_every_control_is_labelled, url

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


def _svg(html: str, testid: str) -> ET.Element:
    start = html.index(f'data-testid="{testid}"')
    start = html.rindex("<svg", 0, start)
    end = html.index("</svg>", start) + len("</svg>")
    return ET.fromstring(html[start:end])  # raises on anything that is not well-formed XML


def _places(svg: ET.Element) -> set[str]:
    return {a.get("data-place") or "" for a in svg.iter(f"{SVG}a")}


def _paths(svg: ET.Element) -> set[frozenset[str]]:
    return {
        frozenset((line.get("data-a") or "", line.get("data-b") or ""))
        for line in svg.iter(f"{SVG}line")
    }


def test_the_map_svg_holds_every_place_and_path_and_is_valid_xml(signed_in_client, campaign):
    response = signed_in_client.get(url("world_map", campaign.pk))
    html = response.content.decode()
    svg = _svg(html, "places-map")
    assert _places(svg) == {"Harbor", "Market", "Tower"}
    assert _paths(svg) == {frozenset(("Harbor", "Market")), frozenset(("Market", "Tower"))}
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Ada" in labels and "Bram" in labels  # who is where, under their place
    for line in svg.iter(f"{SVG}line"):
        assert all(0 <= float(line.get(c) or -1) <= 960 for c in ("x1", "x2"))
    table = html[html.index('data-testid="places-table"') :]
    assert "<td>Ada (character)</td>" in table and "<td>Harbor, Tower</td>" in table
    assert_csp_clean(html)
    assert_every_control_is_labelled(html)
    assert f'href="{url("world_map", campaign.pk)}" aria-current="page"' in html


def test_names_that_need_escaping_still_make_valid_xml(signed_in_client, campaign, user):
    services.entity_create(
        campaign=campaign,
        user=user,
        change=world.NewEntity(kind="create", entity_kind="location", name='Rock & "Roll" <1>'),
    )
    html = signed_in_client.get(url("world_map", campaign.pk)).content.decode()
    assert 'Rock & "Roll" <1>' in _places(_svg(html, "places-map"))


def test_relationships_are_drawn_coloured_by_strength(signed_in_client, campaign, user):
    n = campaign.numbers
    for source, target, relation, strength in (
        ("Ada", "Bram", "trusts", 60),
        ("Bram", "Ada", "fears", -20),
    ):
        services.relationship_set(
            campaign=campaign,
            user=user,
            source=n[source],
            target=n[target],
            relation=relation,
            strength=strength,
        )
    html = signed_in_client.get(url("world_map", campaign.pk)).content.decode()
    svg = _svg(html, "people-map")
    drawn = {
        (p.findtext(f"{SVG}title"), p.get("class"))
        for p in svg.iter(f"{SVG}path")
        if "rel " in (p.get("class") or "")
    }
    assert drawn == {
        ("Ada trusts Bram (60)", "rel rel-strong-pos"),
        ("Bram fears Ada (-20)", "rel rel-neg"),
    }
    assert {a.get("data-person") for a in svg.iter(f"{SVG}a")} == {"Ada", "Bram"}
    table = html[html.index('data-testid="people-table"') :]
    assert '<th scope="row">Ada</th><td>trusts</td><td>Bram</td><td>60</td>' in table


def test_the_map_shows_the_world_as_of_an_earlier_turn(
    signed_in_client, campaign, owner_member, script
):
    script.add(
        "A cave opens under the tower.",
        [
            {"kind": "create", "entity_kind": "location", "name": "Cave"},
            {"kind": "connect", "a": "Cave", "b": "Tower"},
        ],
    )
    turn_play(campaign=campaign, member=owner_member, action="I dig.")
    now = signed_in_client.get(url("world_map", campaign.pk)).content.decode()
    assert "Cave" in _places(_svg(now, "places-map"))
    assert frozenset(("Cave", "Tower")) in _paths(_svg(now, "places-map"))
    before = signed_in_client.get(url("world_map", campaign.pk) + "?turn=0").content.decode()
    assert "The world as of turn 0" in before
    assert _places(_svg(before, "places-map")) == {"Harbor", "Market", "Tower"}


def test_the_layout_is_the_same_every_time_and_inside_the_picture(campaign, monkeypatch):
    state = load_state(campaign)
    first, second = world_map(state), world_map(state)
    assert first == second
    for node in first.places:
        assert 0 < node.x < first.width and 0 < node.y < first.places_height
    monkeypatch.setattr(world_map_module, "FORCE_LAYOUT_MAX", 2)  # the grid, for big worlds
    grid = world_map(state)
    assert {(p.x, p.y) for p in grid.places} != {(p.x, p.y) for p in first.places}
    assert len({(p.x, p.y) for p in grid.places}) == 3


def test_a_hundred_places_are_laid_out_apart(campaign):
    state = load_state(campaign)
    names = [f"Room {i}" for i in range(100)]
    base = max(state.entities) + 1
    for i, name in enumerate(names):
        state.entities[base + i] = type(state.entities[campaign.numbers["Harbor"]])(
            kind="location", name=name
        )
        if i:
            state.links.add((base + i - 1, base + i))
    drawn = world_map(state)
    points = [(p.x, p.y) for p in drawn.places]
    closest = min(
        ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
        for i, (ax, ay) in enumerate(points)
        for bx, by in points[i + 1 :]
    )
    assert closest > 5, closest
