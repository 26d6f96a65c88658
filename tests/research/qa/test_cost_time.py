# ruff: noqa: F811  (pytest fixtures imported from the map-reduce tests share names with arguments)
"""The cost line before a map-reduce gives its time from the active model's measured speed,
and says the time is unknown until a first answer has been timed."""

from __future__ import annotations

import html

import pytest
from django.test import TestCase

from research.models import Question
from tests.research.qa.test_mapreduce import QUESTION, WINDOW, big_project, eager  # noqa: F401 (fixtures)
from tests.research.qa.test_views import HX, events
from workspace.packing import ContextMap
from workspace.packing.cost import plan_cost
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.speed import model_speed_record
from workspace.runtime.types import ChatResult, Timing

pytestmark = [pytest.mark.django_db]


def timed_answer(*, prompt_rate: float, output_rate: float) -> ChatResult:
    """A completed call of the scripted model as a backend that times itself reports it."""
    return ChatResult(
        text="An answer.",
        prompt_tokens=2000,
        expected_prompt_tokens=2000,
        output_tokens=200,
        done_reason="stop",
        model="scripted",
        timing=Timing("scripted", "scripted", 2000, 2000 / prompt_rate, 200, 200 / output_rate),
    )


def echo(model: str = "scripted") -> ScriptedRuntime:
    runtime = ScriptedRuntime.echo()
    runtime.context_window, runtime.model = WINDOW, model
    return runtime


def confirm_page(client, project) -> tuple[Question, str]:
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(f"/research/{project.pk}/ask/", {"question": QUESTION, "scope": "all"}, **HX)
    question = Question.objects.get()
    assert question.status == Question.Status.CONFIRM
    (done,) = events(client.get(f"/research/questions/{question.pk}/stream/"))
    return question, done[1]


def test_with_no_measured_speed_the_cost_line_says_the_time_is_unknown(
    signed_in_client, big_project, eager
):
    with use_runtime(echo()):
        _, page = confirm_page(signed_in_client, big_project)
    line = page.split('data-testid="plan-cost">', 1)[1].split("</p>", 1)[0]
    assert "time unknown until the first answer" in line
    assert "at the measured speed" not in line


def test_once_answers_were_timed_the_cost_line_estimates_the_time_at_that_speed(
    signed_in_client, big_project, eager
):
    model_speed_record(result=timed_answer(prompt_rate=50.0, output_rate=5.0))
    with use_runtime(echo()):
        question, page = confirm_page(signed_in_client, big_project)
    cost = plan_cost(ContextMap.from_dict(question.context_map))
    seconds = cost.prompt_tokens / 50.0 + cost.output_tokens / 5.0
    expected = cost.timed(prompt_tokens_per_second=50.0, output_tokens_per_second=5.0)
    assert expected.seconds == pytest.approx(seconds)
    assert html.escape(expected.describe()) in page
    assert f"about {round(seconds / 60)} minutes at the measured speed" in page


def test_a_speed_measured_on_another_model_is_not_used(signed_in_client, big_project, eager):
    model_speed_record(result=timed_answer(prompt_rate=50.0, output_rate=5.0))
    with use_runtime(echo(model="another")):
        _, page = confirm_page(signed_in_client, big_project)
    assert "time unknown until the first answer" in page
