"""The detail page: sources and results side by side, every parameter, ids, timings."""

import pytest
from django.urls import reverse
from django.utils import timezone

from editor.edits.models import Status

from .factories import make_edit, personal_team

pytestmark = pytest.mark.django_db


def test_detail_shows_sources_results_parameters_ids_timings_and_usage(alice_client, alice):
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
    edit.save()
    html = alice_client.get(reverse("edit_detail", args=[edit.pk])).content.decode()
    for expected in (
        "trace-123",
        "task-456",
        "req_789",
        "1024x1536",
        "<dt>Quality</dt><dd>High</dd>",
        "<dt>Number of results</dt><dd>1</dd>",
        "gpt-image-1",
        "775 in",
        "1372 out",
        "2147 total",
        'data-copy="#trace-id"',
        reverse("edit_source", args=[edit.pk, 0]),
        reverse("edit_source", args=[edit.pk, 1]),
        reverse("edit_result", args=[edit.pk, 0]),
        reverse("edit_result_download", args=[edit.pk, 0]),
    ):
        assert expected in html, expected
    assert 'hx-trigger="every 2s"' not in html  # final: no polling


def test_pending_detail_polls_its_own_status_partial(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.RUNNING)
    url = reverse("edit_detail", args=[edit.pk])
    html = alice_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html
    partial = alice_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="edit-status")
    assert partial.content.decode().lstrip().startswith('<div id="edit-status"')


def test_failed_detail_shows_the_reason_trace_id_and_retry(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.FAILED)
    edit.error_message = "The image service is busy right now."
    edit.trace_id = "2cf86e86-trace"
    edit.save()
    html = alice_client.get(reverse("edit_detail", args=[edit.pk])).content.decode()
    assert "The image service is busy right now." in html
    assert "quote trace id <code>2cf86e86-trace</code>" in html
    assert reverse("edit_retry", args=[edit.pk]) in html
