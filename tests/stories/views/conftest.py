"""The campaign pages run their model work (turns) inline, as a worker would."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _turns_run_inline(tasks_inline: None) -> None:
    """Every page test: a sent turn is told at once, in this process (tasks_inline)."""
