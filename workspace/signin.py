"""Limits on password guessing (django-axes), as the sign-in pages and the admin see them.

A username is paused for one client address after CARREL_LOGIN_FAILURE_LIMIT failed
sign-ins, for CARREL_LOGIN_LOCKOUT_MINUTES; the page says so and when to try again. Behind
a reverse proxy (CARREL_PROXY_COUNT, 1 in production: nginx), the client's address is the
one the nearest proxy appended to X-Forwarded-For, which no browser can forge.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    """The address that signs in: REMOTE_ADDR, or the proxies' record of it."""
    proxies = settings.CARREL_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if proxies and len(hops) >= proxies:
        return hops[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The page someone locked out sees (429), with how long the pause lasts."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    username = request.POST.get("username", "") if request.method == "POST" else ""
    context = {
        "username": username[:150],
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": minutes,
    }
    return render(request, "registration/locked_out.html", context, status=429)
