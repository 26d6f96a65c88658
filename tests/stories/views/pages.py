"""What the campaign page tests share: URLs by name, and checks every page must pass."""

from __future__ import annotations

import re

from django.urls import reverse


def url(name: str, *args) -> str:
    return reverse(f"stories:{name}", args=args)


def assert_csp_clean(html: str) -> None:
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "inline script"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"


def assert_every_control_is_labelled(html: str) -> None:
    ids = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if re.search(r'type="(hidden|submit)"', tag):
            continue
        control_id = re.search(r'id="([^"]+)"', tag)
        assert (control_id and control_id.group(1) in ids) or "aria-label" in tag, tag
