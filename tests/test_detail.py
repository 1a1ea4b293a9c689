"""The detail page: the result first with what to do with it, how it was made in plain
words with its estimated cost, and ids, tokens and timings folded under Technical details."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from editor.edits.models import Status

from .factories import make_edit, personal_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(alice):
    edit = make_edit(
        personal_team(alice),
        alice,
        status=Status.SUCCEEDED,
        sources=2,
        results=1,
        params={"size": "1024x1536", "quality": "high", "n": 1},
    )
    now = timezone.now()
    edit.trace_id, edit.task_id, edit.request_id = "trace-123", "task-456", "req_789"
    edit.started_at, edit.finished_at = now, now
    edit.usage = {"input_tokens": 775, "output_tokens": 1372, "total_tokens": 2147}
    edit.cost_usd = Decimal("0.039")
    edit.save()
    return edit


def page_of(client, edit) -> str:
    return client.get(reverse("edit_detail", args=[edit.pk])).content.decode()


def technical_details(html: str) -> str:
    start = html.index('<details class="tech-details">')
    return html[start : html.index("</details>", start)]


def test_the_result_comes_first_with_download_and_edit_this_result_beside_it(
    alice_client, finished
):
    html = page_of(alice_client, finished)
    hero = html[html.index('class="result-hero"') : html.index('id="made-title"')]
    assert 'class="compare-stage" data-compare data-aspect="96 / 96"' in hero
    assert reverse("edit_result", args=[finished.pk, 0]) in hero
    assert reverse("edit_source", args=[finished.pk, 0]) in hero  # the "before"
    assert f'href="{reverse("edit_result_download", args=[finished.pk, 0])}" download' in hero
    assert f"?from={finished.pk}&amp;result=0" in hero and "Edit this result" in hero
    assert 'id="compare-range"' in hero and "Drag on the picture" in hero
    assert html.index('class="result-hero"') < html.index('<details class="tech-details">')
    assert "hx-trigger=" not in html.split('id="edit-status"')[1].split(">")[0]  # final: no polling
    assert "sse-connect" not in html


def test_how_it_was_made_is_in_plain_words_with_the_estimated_cost(alice_client, finished):
    html = page_of(alice_client, finished)
    made = html[html.index('id="made-title"') : html.index('<details class="tech-details">')]
    for expected in (
        "<dt>Model</dt><dd>GPT Image 1 — The original</dd>",
        "<dt>Size</dt><dd>Portrait, 1024 × 1536 pixels</dd>",
        "<dt>Quality</dt><dd>High</dd>",
        "<dt>Results</dt><dd>1 result</dd>",
        "About $0.039",
        reverse("edit_source", args=[finished.pk, 0]),
        reverse("edit_source", args=[finished.pk, 1]),
        "photo-1.png",
        finished.prompt,
    ):
        assert expected in made, expected
    for technical in ("trace-123", "task-456", "req_789", "gpt-image-1", "1024x1536"):
        assert technical not in made, technical


def test_ids_tokens_and_timings_are_folded_under_technical_details(alice_client, finished):
    html = page_of(alice_client, finished)
    folded = technical_details(html)
    assert "<summary>Technical details</summary>" in folded
    assert not re.search(r'<details class="tech-details"[^>]*\bopen\b', html)  # closed
    for expected in (
        "trace-123",
        'data-copy="#trace-id"',
        "task-456",
        "req_789",
        "<code>gpt-image-1</code>",
        "<code>size=1024x1536</code>",
        "775 in",
        "1372 out",
        "2147 total",
        "<dt>Finished</dt>",
        "$0.039000",
    ):
        assert expected in folded, expected
    outside = html.replace(folded, "")
    for hidden in ("task-456", "req_789", "trace-123", "2147 total"):
        assert hidden not in outside, hidden


def test_a_created_image_is_shown_large_without_a_comparison(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, sources=0, results=1)
    html = page_of(alice_client, edit)
    assert 'class="result-stage"' in html and "data-compare" not in html
    assert "Not known: no price is set for this model." in html  # no cost was stored


def test_pending_detail_polls_its_own_status_partial_and_shows_progress(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.RUNNING)
    url = reverse("edit_detail", args=[edit.pk])
    html = alice_client.get(url).content.decode()
    assert 'hx-trigger="every 2s, sse:change" data-poll-fallback' in html
    assert 'sse-connect="/events/?since=' in html and f'&amp;edit={edit.pk}"' in html
    assert "The result will appear here." in html and 'class="spinner"' in html
    assert "Known once it has finished." in html
    partial = alice_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="edit-status")
    assert partial.content.decode().lstrip().startswith('<div id="edit-status"')


def test_failed_detail_shows_the_reason_trace_id_and_retry_at_the_top(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.FAILED)
    edit.error_message = "The image service is busy right now."
    edit.trace_id = "2cf86e86-trace"
    edit.save()
    html = page_of(alice_client, edit)
    assert "The image service is busy right now." in html
    assert "quote trace id <code>2cf86e86-trace</code>" in html
    assert reverse("edit_retry", args=[edit.pk]) in html
    assert html.index("This edit failed.") < html.index('id="made-title"')
    assert html.index(reverse("edit_retry", args=[edit.pk])) < html.index('id="made-title"')
