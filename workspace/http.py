"""What views share: request typing, server-sent events, downloads, and lookup-or-404."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django_htmx.middleware import HtmxDetails

T = TypeVar("T")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedRequest(HtmxHttpRequest):
    """A request that LoginRequiredMiddleware let through: `user` is a real account."""

    user: User


def found_or_404(value: T | None, what: str) -> T:
    """`value`, or a 404 that says "No such <what>." (selectors return None for rows the
    user may not see, so a guessed id says nothing about what exists)."""
    if value is None:
        raise Http404(f"No such {what}.")
    return value


def _lines(text: str) -> list[str]:
    """`text` cut at every line ending server-sent events know: \\r\\n, \\r and \\n."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def sse_event(event: str, data: str) -> bytes:
    """One server-sent event. Each line of `data` becomes its own `data:` field, whatever
    its line ending, so no carriage return in model output can end the event early or start
    a field of its own; the browser joins the lines back with \\n."""
    if _lines(event) != [event]:
        raise ValueError("An event name is one line.")
    fields = "".join(f"data: {line}\n" for line in _lines(data))
    return f"event: {event}\n{fields}\n".encode()


def sse_comment(text: str) -> bytes:
    """A comment line (browsers ignore it): keeps an idle stream from timing out."""
    return "".join(f": {line}\n" for line in _lines(text)).encode() + b"\n"


def sse_response(events: Iterable[bytes]) -> StreamingHttpResponse:
    """A stream of server-sent events, neither cached nor buffered by a proxy."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def attachment(content: str | bytes, filename: str, content_type: str) -> HttpResponse:
    """A download: the browser saves `content` as `filename` instead of showing it."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
