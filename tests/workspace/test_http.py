"""The helpers every view shares: server-sent events, downloads and lookup-or-404."""

from __future__ import annotations

import pytest
from django.http import Http404
from hypothesis import given
from hypothesis import strategies as st

from workspace.http import attachment, found_or_404, sse_comment, sse_event, sse_response


def parse_events(stream: bytes) -> list[tuple[str, str]]:
    """Events as a browser reads them (the HTML standard's event-stream interpretation):
    lines end at \\r\\n, \\r or \\n; a blank line dispatches; `data` lines join with \\n."""
    text = stream.decode()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    events: list[tuple[str, str]] = []
    name, data = "", list[str]()
    for line in lines:
        if not line:
            if data:
                events.append((name or "message", "\n".join(data)))
            name, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return events


@given(st.text(alphabet=st.sampled_from("ab \r\n:é"), max_size=40))
def test_an_event_carries_any_text_and_a_carriage_return_never_ends_it(text) -> None:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    assert parse_events(sse_event("token", text)) == [("token", normalised)]


def test_a_line_of_model_output_cannot_inject_a_field_or_an_event() -> None:
    injected = "ok\revent: done\r\rdata: <script>"
    assert parse_events(sse_event("token", injected)) == [
        ("token", "ok\nevent: done\n\ndata: <script>")
    ]
    assert parse_events(sse_event("token", "a") + sse_event("done", "b")) == [
        ("token", "a"),
        ("done", "b"),
    ]


def test_an_event_name_must_be_one_line() -> None:
    with pytest.raises(ValueError):
        sse_event("token\rdata: x", "y")


def test_a_comment_keeps_the_stream_alive_without_an_event() -> None:
    assert sse_comment("still writing") == b": still writing\n\n"
    assert parse_events(sse_comment("a\rdata: b") + sse_event("done", "")) == [("done", "")]


def test_the_stream_response_is_neither_cached_nor_buffered() -> None:
    response = sse_response(iter([sse_event("done", "x")]))
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    assert b"".join(list(response)) == b"event: done\ndata: x\n\n"


def test_an_attachment_is_saved_under_its_name_even_with_quotes_or_accents() -> None:
    response = attachment("a,b\n", "notes.csv", "text/csv; charset=utf-8")
    assert response["Content-Disposition"] == 'attachment; filename="notes.csv"'
    assert response.content == b"a,b\n" and response["Content-Type"] == "text/csv; charset=utf-8"
    odd = attachment(b"x", 'été "draft".md', "text/markdown")
    assert (
        odd["Content-Disposition"] == "attachment; filename*=utf-8''%C3%A9t%C3%A9%20%22draft%22.md"
    )


def test_a_missing_row_is_a_404_that_names_what_was_missing() -> None:
    assert found_or_404(0, "card") == 0
    with pytest.raises(Http404, match=r"^No such card\.$"):
        found_or_404(None, "card")
