"""Less work per edit: the edit form's post and the worker's attempt in a fixed number of
queries, each result's thumbnail made once, by the worker, before the commit that shows
it. (The CPU and time figures are measured by benchmarks/edit_cost.py, README.)

The counts are of the statements that read or write rows: transaction control (BEGIN,
COMMIT, savepoints) and PostgreSQL's advisory lock and NOTIFY for the change log are left
out, so that they are the same on both databases."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from editor.edits import imaging, services
from editor.edits.models import Edit, PreviewImage, ResultImage, Status
from editor.edits.tasks import run_edit
from editor.upstream import EditResult
from editor.upstream.schema import ResultImage as Answered

from .factories import image_bytes, make_edit, personal_team, post_edit

pytestmark = pytest.mark.django_db

CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|"
    r"SELECT pg_advisory_xact_lock|SELECT pg_notify)",
    re.IGNORECASE,
)


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if not CONTROL.match(query["sql"])]


def touching(sql: list[str], verb: str, table: str) -> list[str]:
    return [s for s in sql if s.startswith(verb) and f'"{table}"' in s.split(" WHERE ")[0]]


def test_the_edit_form_post_takes_13_queries(alice_client, alice):
    post_edit(alice_client)  # the first post remembers the team and draws the blank form
    with CaptureQueriesContext(connection) as captured:
        response = post_edit(alice_client, size="1024x1024", quality="low")
    assert response.status_code == 200
    sql = statements(captured)
    # The session, the user and the membership; the rate limit checked before the photos
    # are read; the edit, the two rows locked and the rate limit checked again with its
    # rows (limits.admit), its start in the ledger, its photo, the activity and the
    # task; the person's profile for the fresh form. The new card asks nothing more: it
    # has no star, results or previews yet.
    assert len(sql) == 13, "\n".join(sql)
    assert not touching(sql, "SELECT", "edits_previewimage")
    assert not touching(sql, "SELECT", "edits_resultimage")


def queued(owner, **fields) -> Edit:
    return make_edit(personal_team(owner), owner, **fields)


def attempt_statements(edit: Edit) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert run_edit.call(edit.pk) == "succeeded"
    return statements(captured)


def test_the_workers_attempt_takes_11_queries(upstream, owner):
    sql = attempt_statements(queued(owner))
    # The claim (its update, the row read back, the change for open pages), the photos;
    # the finish: the row locked and updated, its change, the result with its
    # thumbnail, the held copy and the previews dropped, the cost in the ledger.
    assert len(sql) == 11, "\n".join(sql)
    assert len(touching(sql, "SELECT", "edits_edit")) == 2  # claim's read-back, finish's lock
    assert not touching(sql, "UPDATE", "edits_resultimage")  # the thumbnail came with it
    assert not touching(sql, "SELECT", "edits_resultimage")


def test_the_workers_attempt_with_two_previews_takes_three_queries_more_for_each(
    upstream, owner, settings
):
    settings.RETOUCH_PARTIAL_IMAGES = 2
    edit = queued(owner)
    sql = attempt_statements(edit)
    # Each preview: the lease checked, the preview, its change. A first attempt has no
    # earlier previews to count, and the previews go in the result's commit.
    assert len(sql) == 11 + 2 * 3, "\n".join(sql)
    assert not [s for s in sql if "COUNT(" in s]
    assert not PreviewImage.objects.filter(edit=edit).exists()


def test_a_finished_result_has_its_thumbnail_so_its_first_look_decodes_nothing(
    upstream, owner, client, monkeypatch
):
    edit = queued(owner)
    assert run_edit.call(edit.pk) == "succeeded"
    result = ResultImage.objects.get(edit=edit)
    assert result.thumbnail

    def no_decode(*args, **kwargs):
        raise AssertionError("the thumbnail was decoded again")

    monkeypatch.setattr("editor.edits.models.files.make_thumbnail", no_decode)
    client.force_login(owner)
    response = client.get(reverse("edit_result_thumbnail", args=[edit.pk, 0]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"


def test_a_thumbnail_without_a_decode_slot_in_time_is_made_after_the_commit(owner, monkeypatch):
    edit = queued(owner, sources=0, status=Status.RUNNING)
    answer = Answered(data=image_bytes((900, 600)), content_type="image/png")
    tries: list[float | None] = []
    real = imaging.make_thumbnail

    def busy_once(fileobj, wait=None):
        tries.append(wait)
        if len(tries) == 1:
            raise TimeoutError("no decode slot became free")
        return real(fileobj, wait)

    monkeypatch.setattr(services, "make_thumbnail", busy_once)
    monkeypatch.setattr("editor.edits.models.files.make_thumbnail", busy_once)
    assert services.store_results(edit, EditResult(images=[answer]))
    # Before the commit it waited briefly; after it, as long as any decode may.
    assert tries == [services.THUMBNAIL_WAIT_SECONDS, None]
    assert edit.results.get().thumbnail


def test_a_result_that_does_not_decode_is_stored_without_a_thumbnail(owner):
    edit = queued(owner, sources=0, status=Status.RUNNING)
    damaged = image_bytes((900, 600))[:200]
    answer = Answered(data=damaged, content_type="image/png")
    assert services.store_results(edit, EditResult(images=[answer]))
    result = edit.results.get()
    assert not result.thumbnail
    with result.file.open("rb") as fh:
        assert fh.read() == damaged
