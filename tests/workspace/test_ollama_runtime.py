"""The Ollama backend against a local server that speaks Ollama's wire protocol."""

from __future__ import annotations

import base64
import json
import random
import socket
import uuid

import pytest
from pydantic import BaseModel, Field

from tests.fakes.ollama_server import FakeOllama
from workspace.runtime.errors import (
    InvalidModelOutput,
    ModelNotFound,
    ModelRuntimeError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    PromptTooLong,
    PromptTruncated,
)
from workspace.runtime.ollama import OllamaRuntime, list_ollama_models
from workspace.runtime.select import active_backend_name, get_runtime, probe_ollama
from workspace.runtime.structured import grammar_schema
from workspace.runtime.types import ChatChunk, Message

# fmt: off
WORDS = [
    "river", "archive", "ledger", "harbour", "mill", "tithe", "parish", "charter", "merchant",
    "wool", "granary", "survey", "famine", "drought", "rent", "lease", "tenant", "manor",
    "court", "roll", "assize", "plague", "harvest", "price", "wage", "bishop", "abbey", "toll",
    "bridge", "market", "fair", "guild", "weaver", "dyer", "fuller", "carter", "smith", "reeve",
    "steward", "bailiff", "county", "shire", "hundred", "borough", "burgess", "alderman",
    "mayor", "charter", "seal",
]
# fmt: on


def prose(n_words: int, seed: int) -> str:
    rng = random.Random(seed)
    sentences = []
    while n_words > 0:
        length = min(n_words, rng.randint(8, 20))
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(length)).capitalize() + ".")
        n_words -= length
    return " ".join(sentences)


SOURCES = prose(3500, seed=1)
SYSTEM = Message("system", "Answer from the sources only, citing [source, p. N].")


def ask(question: str, sources: str = SOURCES) -> list[Message]:
    return [SYSTEM, Message("user", f"Sources:\n{sources}\n\nQuestion: {question}")]


@pytest.fixture(autouse=True)
def _plain_windows(settings):
    settings.CARREL_NUM_CTX = 0
    settings.CARREL_CONTEXT_WINDOWS = []
    settings.OLLAMA_MODEL = "gemma4:e4b"
    settings.OLLAMA_TIMEOUT = 30.0
    settings.OLLAMA_KEEP_ALIVE = "30m"
    settings.OLLAMA_THINK = False


@pytest.fixture
def runtime(fake_ollama: FakeOllama) -> OllamaRuntime:
    return OllamaRuntime.from_settings()


def dead_host() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- chatting ---------------------------------------------------------------------------


def test_a_chat_returns_the_answer_with_the_servers_and_our_token_counts(fake_ollama, runtime):
    fake_ollama.reply = "The wool price doubled [Ledger, p. 4]."
    messages = [SYSTEM, Message("user", "What happened to the wool price?")]

    result = runtime.chat(messages, max_tokens=200)

    assert result.text == "The wool price doubled [Ledger, p. 4]."
    assert result.done_reason == "stop" and not result.hit_output_cap
    assert result.expected_prompt_tokens == runtime.count_messages(messages)
    # One message turn (the system prompt folds into it), where the fake adds 2 tokens.
    assert result.prompt_tokens == result.expected_prompt_tokens + 2
    assert result.output_tokens == runtime.count_tokens(result.text)
    (body,) = fake_ollama.chat_requests()
    assert body["stream"] is False
    assert body["model"] == "gemma4:e4b"
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM.content},
        {"role": "user", "content": "What happened to the wool price?"},
    ]


def test_a_streamed_chat_yields_pieces_then_one_final_chunk_with_the_result(fake_ollama, runtime):
    fake_ollama.reply = "Rents rose after the famine, then fell when the tenants left."

    messages = ask("What happened to rents?")
    chunks = list(runtime.stream_chat(messages, max_tokens=100))

    *pieces, final = chunks
    assert len(pieces) > 3 and not any(chunk.done for chunk in pieces)
    assert "".join(chunk.text for chunk in pieces) == fake_ollama.reply
    assert final.done and final.text == "" and final.result is not None
    assert final.result.text == fake_ollama.reply
    assert final.result.expected_prompt_tokens == runtime.count_messages(messages)
    assert fake_ollama.chat_requests()[0]["stream"] is True


def test_thinking_comes_back_apart_from_the_answer(fake_ollama, runtime):
    fake_ollama.thinking = "The ledger lists two prices; the later one is higher."
    fake_ollama.reply = "It rose."

    result = runtime.chat([Message("user", "Did the price rise?")], think=True)
    streamed = list(runtime.stream_chat([Message("user", "Did the price rise?")], think=True))

    assert (result.text, result.thinking) == ("It rose.", fake_ollama.thinking)
    assert "".join(c.thinking for c in streamed) == fake_ollama.thinking
    assert "".join(c.text for c in streamed) == "It rose."
    assert streamed[-1].result is not None and streamed[-1].result.thinking == fake_ollama.thinking


# --- what every request carries ------------------------------------------------------------


def test_every_request_sends_the_same_num_ctx_so_ollama_never_reloads_the_model(
    fake_ollama, runtime
):
    class Verdict(BaseModel):
        supported: bool

    fake_ollama.reply = lambda body: '{"supported": true}' if body.get("format") else "Yes."

    runtime.chat([Message("user", "One?")], max_tokens=64)
    list(runtime.stream_chat([Message("user", "Two?")], max_tokens=512))
    runtime.structured([Message("user", "Three?")], schema=Verdict, max_tokens=32)
    runtime.chat(ask("Four?"), max_tokens=2048)

    bodies = fake_ollama.chat_requests()
    assert [b["options"]["num_ctx"] for b in bodies] == [131072] * 4
    assert [b["options"]["num_predict"] for b in bodies] == [64, 512, 32, 2048]
    assert fake_ollama.loads == {"gemma4:e4b": 1}


def test_keep_alive_think_temperature_and_seed_are_sent(fake_ollama, settings):
    settings.OLLAMA_KEEP_ALIVE = "-1"
    settings.OLLAMA_THINK = True
    runtime = OllamaRuntime.from_settings()

    runtime.chat([Message("user", "Hi")], temperature=0.7, seed=42)
    runtime.chat([Message("user", "Hi")], think=False)

    first, second = fake_ollama.chat_requests()
    assert first["keep_alive"] == -1  # "-1" means forever, which Ollama wants as a number
    assert (first["think"], second["think"]) == (True, False)
    assert first["options"]["temperature"] == 0.7 and first["options"]["seed"] == 42
    assert "seed" not in second["options"]

    settings.OLLAMA_KEEP_ALIVE = "30m"
    settings.OLLAMA_THINK = False
    OllamaRuntime.from_settings().chat([Message("user", "Hi")])
    third = fake_ollama.chat_requests()[-1]
    assert (third["keep_alive"], third["think"]) == ("30m", False)


def test_images_travel_base64_encoded_with_their_message(fake_ollama, runtime):
    scan = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

    runtime.chat([Message("user", "What does this charter say?", images=(scan,))])

    (body,) = fake_ollama.chat_requests()
    assert body["messages"][0]["images"] == [base64.b64encode(scan).decode()]


# --- structured output ----------------------------------------------------------------------


class Finding(BaseModel):
    claim: str = Field(max_length=2000)
    page: int


def test_structured_output_sends_the_grammar_schema_as_format_and_validates_the_reply(
    fake_ollama, runtime
):
    fake_ollama.reply = lambda body: json.dumps({"claim": "Wool doubled", "page": 4})

    finding = runtime.structured([Message("user", "Extract the finding.")], schema=Finding)

    assert finding == Finding(claim="Wool doubled", page=4)
    (body,) = fake_ollama.chat_requests()
    # Ollama compiles `format` into a llama.cpp grammar, which refuses a 2000-long bound.
    assert body["format"] == grammar_schema(Finding)
    assert body["format"]["properties"]["claim"] == {"type": "string"}
    assert body["think"] is False
    assert body["options"]["temperature"] == 0.0


def test_a_reply_the_grammar_allowed_but_the_schema_does_not_is_invalid_output(
    fake_ollama, runtime
):
    fake_ollama.reply = json.dumps({"claim": "x" * 2001, "page": 4})

    with pytest.raises(InvalidModelOutput, match="at most 2000 characters"):
        runtime.structured([Message("user", "Extract the finding.")], schema=Finding)


@pytest.mark.parametrize("reply", ['{"claim": "Wool doub', '{"claim": "Wool doubled"}'])
def test_structured_output_that_is_broken_or_misshapen_raises_invalid_model_output(
    fake_ollama, runtime, reply
):
    fake_ollama.reply = reply

    with pytest.raises(InvalidModelOutput) as caught:
        runtime.structured([Message("user", "Extract the finding.")], schema=Finding)

    assert caught.value.raw == reply


# --- failures -------------------------------------------------------------------------------


def test_a_missing_model_raises_model_not_found_with_the_pull_command(fake_ollama, runtime):
    fake_ollama.remove_model("gemma4:e4b")

    with pytest.raises(ModelNotFound) as caught:
        runtime.chat([Message("user", "Hi")])
    with pytest.raises(ModelNotFound):
        list(runtime.stream_chat([Message("user", "Hi")]))

    assert caught.value.pull_command == "ollama pull gemma4:e4b"
    assert "ollama pull gemma4:e4b" in caught.value.message
    assert fake_ollama.url in caught.value.message


def test_a_dead_server_raises_model_unavailable_naming_the_host_and_how_to_start_it(
    fake_ollama, settings
):
    settings.OLLAMA_HOST = host = dead_host()
    runtime = OllamaRuntime.from_settings()

    with pytest.raises(ModelUnavailable) as caught:
        runtime.chat([Message("user", "Hi")])
    with pytest.raises(ModelUnavailable):
        list(runtime.stream_chat([Message("user", "Hi")]))
    with pytest.raises(ModelUnavailable):
        list_ollama_models(host)

    assert host in caught.value.message and "ollama serve" in caught.value.message
    assert caught.value.retryable


def test_a_server_slower_than_the_timeout_raises_model_timeout(fake_ollama, settings):
    settings.OLLAMA_TIMEOUT = 0.5
    runtime = OllamaRuntime.from_settings()
    fake_ollama.delay = 5

    with pytest.raises(ModelTimeout) as caught:
        runtime.chat([Message("user", "Hi")])

    assert "0.5 s" in caught.value.message and caught.value.retryable


def test_a_stream_that_stalls_mid_answer_raises_model_timeout(fake_ollama, settings):
    settings.OLLAMA_TIMEOUT = 0.5
    fake_ollama.reply = "First words, then a long silence."
    fake_ollama.chunk_delay = 5
    received: list[ChatChunk] = []

    with pytest.raises(ModelTimeout):
        for chunk in OllamaRuntime.from_settings().stream_chat([Message("user", "Hi")]):
            received.append(chunk)

    assert [c.text for c in received] == ["First "]


def test_server_errors_carry_ollamas_own_error_text(fake_ollama, runtime):
    fake_ollama.error = (500, "llama runner process has terminated: signal: killed")

    with pytest.raises(ModelServerError) as caught:
        runtime.chat([Message("user", "Hi")])

    assert "llama runner process has terminated: signal: killed" in caught.value.message
    assert caught.value.retryable


def test_an_error_in_the_middle_of_a_stream_raises_model_server_error(fake_ollama, runtime):
    fake_ollama.stream_error = "an error was encountered while running the model"

    with pytest.raises(ModelServerError) as caught:
        list(runtime.stream_chat([Message("user", "Hi")]))

    assert "an error was encountered while running the model" in caught.value.message


def test_asking_a_model_without_thinking_to_think_is_an_error_not_worth_retrying(
    fake_ollama, runtime
):
    fake_ollama.add_model("gemma4:e4b", capabilities=("completion", "vision"))

    with pytest.raises(ModelServerError) as caught:
        runtime.chat([Message("user", "Hi")], think=True)

    assert "does not support thinking" in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("garbage", ["body", "line"])
def test_invalid_json_from_the_server_raises_model_server_error(
    fake_ollama, runtime, stream, garbage
):
    fake_ollama.garbage = garbage

    with pytest.raises(ModelServerError) as caught:
        if stream:
            list(runtime.stream_chat([Message("user", "Hi there, how are you?")]))
        else:
            runtime.chat([Message("user", "Hi")])

    assert fake_ollama.url in caught.value.message


# --- too long, truncated, or reused from the cache ------------------------------------------


def test_a_prompt_too_long_for_the_window_is_refused_without_sending_it(fake_ollama, settings):
    settings.CARREL_NUM_CTX = 4096
    runtime = OllamaRuntime.from_settings()
    messages = ask("What changed?")  # about 4,500 tokens of sources

    with pytest.raises(PromptTooLong) as caught:
        runtime.chat(messages, max_tokens=512)
    with pytest.raises(PromptTooLong):
        list(runtime.stream_chat(messages, max_tokens=512))

    assert caught.value.prompt_tokens == runtime.count_messages(messages)
    assert caught.value.context_window == 4096
    assert fake_ollama.chat_requests() == []


def test_a_prompt_ollama_silently_truncated_raises_prompt_truncated(fake_ollama, runtime):
    # The served model's real window is 2,048 tokens, though its tag promises 128K:
    # Ollama clamps num_ctx, cuts the prompt and answers anyway.
    fake_ollama.add_model("gemma4:e4b", context_length=2048)
    messages = ask("What changed?")

    with pytest.raises(PromptTruncated) as caught:
        runtime.chat(messages)

    assert caught.value.evaluated == 2048
    assert caught.value.expected == runtime.count_messages(messages) > 4000
    assert caught.value.num_ctx == 131072


def test_a_truncated_stream_raises_instead_of_sending_its_final_chunk(fake_ollama, runtime):
    fake_ollama.add_model("gemma4:e4b", context_length=2048)
    received: list[ChatChunk] = []

    with pytest.raises(PromptTruncated):
        for chunk in runtime.stream_chat(ask("What changed?")):
            received.append(chunk)

    assert received and not any(chunk.done for chunk in received)


def test_a_follow_up_served_from_ollamas_cache_is_not_mistaken_for_truncation(fake_ollama, runtime):
    fake_ollama.reply = "Prices doubled between the two surveys [Ledger, p. 4]."
    first = ask("What happened to prices?")
    answer = runtime.chat(first)
    follow_up = [*first, Message("assistant", answer.text), Message("user", "And wages?")]

    result = runtime.chat(follow_up)

    # Ollama evaluated only the new turn: a naive check would call that truncation.
    assert result.prompt_tokens < 40 < result.expected_prompt_tokens - 4000
    assert result.text == fake_ollama.reply


def test_asking_the_same_thing_again_is_not_mistaken_for_truncation(fake_ollama, runtime):
    runtime.chat(ask("What happened to prices?"))

    again = runtime.chat(ask("What happened to prices?"))

    assert again.prompt_tokens == 1  # everything but the last token came from the cache


def test_a_rebuilt_prompt_sharing_its_sources_with_the_last_one_is_not_flagged(
    fake_ollama, runtime
):
    runtime.chat(ask("What happened to prices?"))

    result = runtime.chat(ask("Who held the manor court?"))

    assert result.prompt_tokens < 40 < result.expected_prompt_tokens - 4000


def test_cache_reuse_is_recognised_by_another_runtime_such_as_a_worker_process(
    fake_ollama, runtime
):
    first = ask("What happened to prices?")
    answer = runtime.chat(first)
    other_process = OllamaRuntime.from_settings()  # shares nothing but Django's cache

    result = other_process.chat(
        [*first, Message("assistant", answer.text), Message("user", "And wages?")]
    )

    assert result.prompt_tokens < 40


def test_a_shortfall_no_recent_prompt_explains_is_flagged_even_after_other_requests(
    fake_ollama, runtime
):
    runtime.chat(ask("What happened to prices?"))
    # A different set of sources: only the system prompt is shared with the last request,
    # yet the server claims to have evaluated just 300 tokens.
    fake_ollama.prompt_eval_count = 300
    messages = ask("What happened to prices?", sources=prose(3500, seed=2))

    with pytest.raises(PromptTruncated) as caught:
        runtime.chat(messages)

    assert caught.value.evaluated == 300


def test_a_template_rendering_a_few_tokens_fewer_per_message_is_tolerated(fake_ollama, runtime):
    fake_ollama.template_extra_tokens = -2
    conversation = [SYSTEM]
    for n in range(6):
        conversation += [Message("user", f"Question {n}?"), Message("assistant", f"Answer {n}.")]
    conversation.append(Message("user", "Last question?"))

    result = runtime.chat(conversation)

    assert result.prompt_tokens < result.expected_prompt_tokens


def test_hitting_max_tokens_marks_the_result_as_capped(fake_ollama, runtime):
    fake_ollama.reply = prose(200, seed=3)

    result = runtime.chat([Message("user", "Tell me everything.")], max_tokens=10)

    assert result.hit_output_cap and result.done_reason == "length"
    assert result.output_tokens == 10
    assert fake_ollama.reply.startswith(result.text) and result.text != fake_ollama.reply


def test_thinking_that_uses_the_whole_output_budget_raises_a_clear_error(fake_ollama, runtime):
    fake_ollama.thinking = prose(300, seed=4)
    received: list[ChatChunk] = []

    with pytest.raises(ModelRuntimeError, match="thinking") as caught:
        runtime.chat([Message("user", "Hard question?")], think=True, max_tokens=50)
    with pytest.raises(ModelRuntimeError, match="thinking"):
        for chunk in runtime.stream_chat(
            [Message("user", "Hard question?")], think=True, max_tokens=50
        ):
            received.append(chunk)

    assert "50 tokens" in caught.value.message
    assert received[-1].thinking and not received[-1].done


# --- models and windows ---------------------------------------------------------------------


def test_list_ollama_models_returns_the_pulled_tags(fake_ollama):
    fake_ollama.add_model("gemma4:31b")

    assert list_ollama_models(fake_ollama.url) == ["gemma4:e4b", "gemma4:31b"]
    assert fake_ollama.requests[-1].path == "/api/tags"


def test_list_ollama_models_treats_a_server_that_does_not_answer_in_time_as_unavailable(
    fake_ollama,
):
    fake_ollama.delay = 5

    with pytest.raises(ModelUnavailable):
        list_ollama_models(fake_ollama.url, timeout=0.3)


@pytest.mark.parametrize(
    ("tag", "window"),
    [
        ("gemma4:e2b", 131072),
        ("gemma4:e4b", 131072),
        ("gemma4:26b", 262144),
        ("gemma4:31b", 262144),
    ],
)
def test_facts_know_the_gemma_4_windows_without_asking_the_server(fake_ollama, tag, window):
    facts = OllamaRuntime(host=fake_ollama.url, model=tag).facts()

    assert (facts.backend, facts.model, facts.host) == ("ollama", tag, fake_ollama.url)
    assert facts.context_window == facts.max_context == window
    assert not facts.demo
    assert fake_ollama.requests == []


def test_facts_ask_ollama_for_the_window_of_an_unknown_model_once(fake_ollama, settings):
    fake_ollama.add_model("qwen3:8b", architecture="qwen3", context_length=40960)
    settings.CARREL_NUM_CTX = 16384
    runtime = OllamaRuntime(host=fake_ollama.url, model="qwen3:8b")

    facts = runtime.facts()
    runtime.facts()

    assert (facts.max_context, facts.context_window) == (40960, 16384)
    shows = [r for r in fake_ollama.requests if r.path == "/api/show"]
    assert [r.body for r in shows] == [{"model": "qwen3:8b"}]


def test_facts_of_an_unknown_model_the_server_lacks_raise_model_not_found(fake_ollama):
    with pytest.raises(ModelNotFound, match="ollama pull mistral:7b"):
        OllamaRuntime(host=fake_ollama.url, model="mistral:7b").facts()


# --- choosing the backend -------------------------------------------------------------------


def test_auto_picks_ollama_when_the_server_has_the_configured_model(fake_ollama, settings):
    settings.CARREL_BACKEND = "auto"

    assert active_backend_name() == "ollama"
    runtime = get_runtime()
    assert isinstance(runtime, OllamaRuntime)
    assert (runtime.host, runtime.model) == (fake_ollama.url, "gemma4:e4b")


def test_auto_falls_back_to_the_embedded_backend_when_ollama_lacks_the_model(fake_ollama, settings):
    settings.CARREL_BACKEND = "auto"
    fake_ollama.remove_model("gemma4:e4b")
    fake_ollama.add_model("llama3.2:3b")

    assert active_backend_name() == "embedded"
    probe = probe_ollama()
    assert probe.reachable and probe.models == ["llama3.2:3b"]


def test_auto_falls_back_to_the_embedded_backend_when_ollama_is_not_running(fake_ollama, settings):
    settings.CARREL_BACKEND = "auto"
    settings.OLLAMA_HOST = dead_host()

    assert active_backend_name() == "embedded"
    assert not probe_ollama().reachable
    assert "ollama serve" in probe_ollama().error


def test_a_request_served_from_the_cache_of_one_still_streaming_is_not_flagged(
    fake_ollama, runtime
):
    fake_ollama.reply = "Prices doubled between the two surveys [Ledger, p. 4]."
    # Sources never sent before (the prompt records live in Redis, which outlasts a test).
    first = ask("What happened to prices?", sources=prose(3500, seed=uuid.uuid4().int))
    streaming = runtime.stream_chat(first)
    next(streaming)  # the server has evaluated the first prompt; its answer is still coming

    result = OllamaRuntime.from_settings().chat([*first, Message("user", "And wages?")])

    assert result.prompt_tokens < 40 < result.expected_prompt_tokens - 4000
    assert list(streaming)[-1].done  # and the first answer finishes unflagged too
