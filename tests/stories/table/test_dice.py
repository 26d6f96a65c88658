"""Dice notation (d20) rolled by a seeded generator, and the limits on what may be rolled."""

from __future__ import annotations

import pytest

from stories.table.dice import DiceProblem, dice_check, dice_roll, roll_seed


def test_the_same_seed_gives_the_same_roll_and_another_seed_another():
    first = dice_roll("20d1000", seed=roll_seed(campaign_seed="abc", sequence=7))
    again = dice_roll("20d1000", seed=roll_seed(campaign_seed="abc", sequence=7))
    later = dice_roll("20d1000", seed=roll_seed(campaign_seed="abc", sequence=8))
    elsewhere = dice_roll("20d1000", seed=roll_seed(campaign_seed="xyz", sequence=7))
    assert first == again
    assert first.detail != later.detail and first.detail != elsewhere.detail


def test_a_roll_does_not_disturb_or_depend_on_the_global_random_generator():
    import random

    random.seed(1)
    expected = random.random()
    random.seed(1)
    dice_roll("4d6kh3", seed=5)
    assert random.random() == expected


@pytest.mark.parametrize(
    ("expression", "total_range"),
    [("1d20+5", (6, 25)), ("2d20kh1", (1, 20)), ("4d6kh3", (3, 18)), ("3d6-1", (2, 17))],
)
def test_ordinary_notation_rolls_within_its_range(expression, total_range):
    for seed in range(30):
        roll = dice_roll(expression, seed=seed)
        assert total_range[0] <= roll.total <= total_range[1]
        assert roll.detail.endswith(f"= {roll.total}")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1000000d1000000", "At most 100 dice"),
        ("101d6", "At most 100 dice"),
        ("1d1000000", "1 to 1000 sides"),
        ("1d0", "1 to 1000 sides"),
        ("hello", "is not dice notation"),
        ("1d20; DROP TABLE", "is not dice notation"),
        ("", "Write the dice"),
        ("1d6+" * 30, "at most 100 characters"),
        ("1d20+99999999", "at most 100,000"),
        ("1d1e1", "more than 500 dice"),
        ("1d20/0", "cannot be made"),
    ],
)
def test_nonsense_or_huge_dice_are_refused_with_a_message(expression, message):
    with pytest.raises(DiceProblem) as refused:
        dice_roll(expression, seed=1)
    assert message in refused.value.message


def test_checking_an_expression_rolls_nothing_and_normalizes_it():
    assert str(dice_check("  1d20 +   5 ")) == "1d20 + 5"
