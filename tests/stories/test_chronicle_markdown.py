"""The campaign chronicle escapes narration, titles and names as the research exports do:
HTML in any of them shows as text in a Markdown viewer instead of running."""

from __future__ import annotations

import pytest

from stories.exchange import chronicle_markdown
from stories.models import Turn

pytestmark = pytest.mark.django_db


def test_html_in_the_story_is_written_as_text(campaign):
    campaign.title = "<script>alert('title')</script>"
    campaign.premise = "A <b>bold</b> premise & more."
    campaign.tone = "<i>grim</i>"
    campaign.save()
    Turn.objects.create(
        campaign=campaign,
        number=campaign.head_turn + 1,
        status=Turn.Status.DONE,
        actor_label="<img src=x onerror=alert(1)>",
        action="I open <the> door.",
        narration="The door <iframe src='x'></iframe> opens.",
        changes_error="Changes <failed>.",
    )
    text = chronicle_markdown(campaign)
    assert text.startswith("# &lt;script&gt;alert('title')&lt;/script&gt;\n")
    assert "*A &lt;b&gt;bold&lt;/b&gt; premise &amp; more.*" in text
    assert "Tone: &lt;i&gt;grim&lt;/i&gt;" in text
    assert "**&lt;img src=x onerror=alert(1)&gt;:** I open &lt;the&gt; door." in text
    assert "The door &lt;iframe src='x'&gt;&lt;/iframe&gt; opens." in text
    assert "> Changes &lt;failed&gt;." in text
    assert "<" not in text.replace("&lt;", "")
