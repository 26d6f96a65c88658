"""Request typing shared by views: django-htmx's request attribute, and the signed-in user."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedRequest(HtmxHttpRequest):
    """A request that LoginRequiredMiddleware let through: `user` is a real account."""

    user: User
