"""Benchmarks: runnable modules (`python -m bench.<name>`), each printing ratios against a
baseline measured in the same run. See bench/README.md."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import django

    django.setup()


def median_time(fn: Callable[[], T], *, repeats: int) -> tuple[T, float]:
    """fn's result and the median of `repeats` wall-clock timings (time.perf_counter)."""
    timings = []
    result: T
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        timings.append(time.perf_counter() - start)
    return result, statistics.median(timings)
