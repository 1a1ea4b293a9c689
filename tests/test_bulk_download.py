"""Bulk download: several edits of the team in one streamed zip with a manifest.csv."""

import csv
import io
import zipfile

import pytest
from django.urls import reverse

from editor.edits.models import Status

from .factories import make_edit, make_team, make_user, personal_team

pytestmark = pytest.mark.django_db


def read_zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_selected_edits_download_as_one_zip_with_a_manifest(alice_client, alice):
    team = personal_team(alice)
    one = make_edit(team, alice, prompt="Gift basket", status=Status.SUCCEEDED, results=2)
    two = make_edit(team, alice, prompt="Stormy sky", status=Status.SUCCEEDED, results=1)
    one.trace_id = "trace-one"
    one.save()
    response = alice_client.get(reverse("edits_download_selected"), {"ids": [one.pk, two.pk]})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"].endswith('-2-edits.zip"')
    archive = read_zip(response)
    names = archive.namelist()
    assert names[-1] == "manifest.csv"
    images = names[:-1]
    assert len(images) == 3
    for result in list(one.results.all()) + list(two.results.all()):
        with result.file.open("rb") as f:
            assert archive.read(f"{result.edit.pk}-{result.download_name()}") == f.read()
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [r["file_name"] for r in rows] == images
    first = rows[0]
    assert first["prompt"] == "Gift basket"
    assert first["model"] == "gpt-image-1"
    assert first["created_by"] == "alice"
    assert first["trace_id"] == "trace-one"
    assert '"size": "1024x1024"' in first["parameters"]
    assert first["created_at"]


def test_other_teams_and_unfinished_edits_are_left_out(alice_client, alice):
    mine = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    pending = make_edit(personal_team(alice), alice, status=Status.RUNNING)
    other = make_edit(make_team("Other"), make_user("zed"), status=Status.SUCCEEDED, results=1)
    response = alice_client.get(
        reverse("edits_download_selected"), {"ids": [mine.pk, pending.pk, other.pk]}
    )
    rows = list(
        csv.DictReader(io.StringIO(read_zip(response).read("manifest.csv").decode("utf-8-sig")))
    )
    assert [r["edit_id"] for r in rows] == [str(mine.pk)]


def test_nothing_selected_explains_what_to_do(alice_client):
    response = alice_client.get(reverse("edits_download_selected"), follow=True)
    assert "Select at least one finished edit" in response.content.decode()


def test_finished_cards_offer_a_select_box_for_the_bulk_form(alice_client, alice):
    done = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    running = make_edit(personal_team(alice), alice, status=Status.RUNNING)
    html = alice_client.get("/").content.decode()
    assert f'name="ids" value="{done.pk}" form="bulk-form"' in html
    assert f'name="ids" value="{running.pk}"' not in html
    assert 'id="bulk-form"' in html
