"""The measured speed of the active model: what each completed call's timing adds to it,
for the time estimate before a map-reduce (workspace/runtime/speed.py)."""

from __future__ import annotations

import pytest

from tests.fakes.ollama_server import FakeOllama
from workspace.models import ModelSpeed
from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
from workspace.runtime.ollama import OllamaRuntime
from workspace.runtime.speed import model_speed_for, model_speed_record
from workspace.runtime.types import ChatResult, Message, Timing

QUESTION = [
    Message("system", "Answer from the sources only."),
    Message("user", "Sources: " + "The mill paid its tithe in wool and grain. " * 20 + "Why?"),
]


def timed(prompt: tuple[int, float], output: tuple[int, float], model: str = "m") -> ChatResult:
    return ChatResult(
        text="x",
        prompt_tokens=prompt[0],
        expected_prompt_tokens=prompt[0],
        output_tokens=output[0],
        done_reason="stop",
        model=model,
        timing=Timing("ollama", model, prompt[0], prompt[1], output[0], output[1]),
    )


@pytest.fixture(autouse=True)
def _known_window(settings):
    settings.OLLAMA_MODEL = "gemma4:e4b"
    settings.CARREL_NUM_CTX = 0
    settings.OLLAMA_THINK = False


def test_an_ollama_answer_is_timed_by_the_servers_own_durations(fake_ollama: FakeOllama):
    # The fake reports 0.4 ms a prompt token and 25 ms a generated one, as Ollama's
    # prompt_eval_duration and eval_duration (nanoseconds).
    result = OllamaRuntime.from_settings().chat(QUESTION, max_tokens=64)
    timing = result.timing
    assert timing is not None and (timing.backend, timing.model) == ("ollama", "gemma4:e4b")
    assert timing.prompt_tokens == result.prompt_tokens > 100
    assert timing.prompt_seconds == pytest.approx(result.prompt_tokens * 0.0004)
    assert timing.output_tokens == result.output_tokens > 0
    assert timing.output_seconds == pytest.approx(result.output_tokens * 0.025)


@pytest.mark.django_db
def test_streamed_and_whole_ollama_answers_record_the_models_rates(fake_ollama: FakeOllama):
    fake_ollama.reply = "The tithe was paid in wool because the parish kept sheep. " * 3
    runtime = OllamaRuntime.from_settings()
    model_speed_record(result=runtime.chat(QUESTION, max_tokens=64))
    *_, last = runtime.stream_chat([*QUESTION[:1], Message("user", "Another? " * 40)])
    assert last.result is not None
    model_speed_record(result=last.result)
    speed = model_speed_for(backend="ollama", model="gemma4:e4b")
    assert speed is not None
    assert speed.prompt_tokens_per_second == pytest.approx(2500)
    assert speed.output_tokens_per_second == pytest.approx(40)
    assert (speed.prompt_samples, speed.output_samples) == (2, 2)


@pytest.mark.django_db
def test_calls_too_small_to_time_well_are_not_recorded():
    model_speed_record(result=timed((5, 0.01), (2, 0.05)))
    assert not ModelSpeed.objects.exists()
    untimed = timed((500, 1.0), (50, 1.0))
    untimed.timing = None
    model_speed_record(result=untimed)
    assert not ModelSpeed.objects.exists()


@pytest.mark.django_db
def test_the_speed_is_the_mean_of_the_first_calls_and_kept_per_model():
    model_speed_record(result=timed((1000, 10.0), (100, 10.0)))  # 100 and 10 tokens/s
    model_speed_record(result=timed((1000, 10.0), (100, 10.0)))
    model_speed_record(result=timed((1000, 2.5), (100, 2.5)))  # 400 and 40 tokens/s
    model_speed_record(result=timed((1000, 1.0), (100, 1.0), model="other"))
    speed = model_speed_for(backend="ollama", model="m")
    assert speed is not None
    assert speed.prompt_tokens_per_second == pytest.approx(200)
    assert speed.output_tokens_per_second == pytest.approx(20)
    other = model_speed_for(backend="ollama", model="other")
    assert other is not None and other.prompt_tokens_per_second == pytest.approx(1000)
    assert model_speed_for(backend="embedded", model="m") is None


@pytest.mark.django_db
def test_a_model_with_only_a_prompt_rate_has_no_speed_to_estimate_from():
    model_speed_record(result=timed((1000, 1.0), (3, 1.0)))  # too few tokens generated
    assert ModelSpeed.objects.get().prompt_tokens_per_second == pytest.approx(1000)
    assert model_speed_for(backend="ollama", model="m") is None


@pytest.mark.model
def test_the_embedded_model_times_itself_and_counts_only_the_prompt_it_evaluated():
    runtime = EmbeddedRuntime(packaged_gguf_path(), n_ctx=2048)
    try:
        first = runtime.chat(QUESTION, max_tokens=24, temperature=0.0, seed=1)
        again = runtime.chat(QUESTION, max_tokens=24, temperature=0.0, seed=1)
    finally:
        runtime.close()
    assert first.timing is not None and again.timing is not None
    assert first.timing.backend == "embedded" and first.timing.model == packaged_gguf_path().name
    assert first.timing.prompt_tokens == first.prompt_tokens
    assert first.timing.prompt_seconds > 0 and first.timing.output_seconds > 0
    assert first.timing.output_tokens == first.output_tokens - 1
    assert again.timing.prompt_tokens == 1, "the same prompt again is served from the cache"
