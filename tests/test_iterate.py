"""Iterating: start a new edit from a result, keep the lineage, reuse a prompt."""

import pytest
from django.urls import reverse

from editor.edits.models import Edit

from .factories import HTMX, make_edit, make_team, make_user, personal_team, succeeded_edit, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(alice):
    params = {"size": "1024x1536", "quality": "low"}
    return succeeded_edit(alice, prompt="Put it in a basket", results=2, params=params)


def test_edit_this_result_shows_the_result_as_the_starting_photo(alice_client, finished):
    html = alice_client.get("/", {"from": finished.pk, "result": 1}).content.decode()
    assert "Starting from result 2 of “Put it in a basket”" in html
    assert reverse("edit_result_thumbnail", args=[finished.pk, 1]) in html
    assert f'name="parent" value="{finished.pk}"' in html
    assert 'name="parent_result" value="1"' in html


def test_a_new_edit_from_a_result_copies_it_as_first_source_and_keeps_lineage(
    alice_client, finished
):
    response = alice_client.post(
        reverse("edit_create"),
        {
            "model": "gpt-image-1",
            "prompt": "Now add a ribbon",
            "parent": finished.pk,
            "parent_result": 1,
            "images": [upload("extra.png")],
        },
        **HTMX,
    )
    assert response.status_code == 200
    child = Edit.objects.exclude(pk=finished.pk).get()
    assert child.parent == finished
    sources = list(child.sources.all())
    assert [s.position for s in sources] == [0, 1]
    result = finished.results.get(position=1)
    with result.file.open("rb") as a, sources[0].file.open("rb") as b:
        assert a.read() == b.read()
    assert sources[0].file.name != result.file.name  # a copy, not a shared file
    assert sources[1].original_name == "extra.png"


def test_a_result_alone_is_enough_to_start_an_edit(alice_client, finished):
    alice_client.post(
        reverse("edit_create"),
        {"model": "gpt-image-1", "prompt": "Warmer", "parent": finished.pk, "parent_result": 0},
        **HTMX,
    )
    assert Edit.objects.get(parent=finished).sources.count() == 1


def test_another_teams_result_cannot_be_used(client, finished):
    client.force_login(make_user("mallory"))
    response = client.post(
        reverse("edit_create"),
        {"model": "gpt-image-1", "prompt": "steal", "parent": finished.pk, "parent_result": 0},
    )
    assert response.status_code == 404
    assert Edit.objects.count() == 1


def test_a_result_of_a_team_that_is_not_current_cannot_be_used(client, finished, alice):
    # Alice is in another team now: the new edit would land there with this image.
    from .factories import use_team

    use_team(alice, make_team("Agency", {alice: "owner"}))
    client.force_login(alice)
    response = client.get("/", {"from": finished.pk, "result": 0})
    assert response.status_code == 404


def test_detail_shows_the_chain_both_ways(alice_client, alice, finished):
    child = make_edit(personal_team(alice), alice, prompt="Add a ribbon")
    child.parent = finished
    child.save()
    grandchild = make_edit(personal_team(alice), alice, prompt="Make it gold")
    grandchild.parent = child
    grandchild.save()
    html = alice_client.get(reverse("edit_detail", args=[grandchild.pk])).content.decode()
    assert html.index("Put it in a basket") < html.index("Add a ribbon")
    assert "→ <strong>this edit</strong>" in html
    parent_html = alice_client.get(reverse("edit_detail", args=[finished.pk])).content.decode()
    assert "Edits made from this one" in parent_html and "Add a ribbon" in parent_html
    assert f"?from={finished.pk}&amp;result=0" in parent_html


def test_reuse_prompt_fills_the_form_from_an_earlier_edit(alice_client, finished):
    html = alice_client.get("/", {"reuse": finished.pk}).content.decode()
    assert "Put it in a basket</textarea>" in html
    assert '<option value="1024x1536" selected>' in html
    assert '<option value="low" selected>' in html


def test_fresh_forms_share_their_options_html_but_a_reused_edit_shows_its_own(
    alice_client, finished, settings
):
    fresh = alice_client.get("/").content.decode()
    assert '<option value="auto" selected>' in fresh  # default quality, now drawn once
    reused = alice_client.get("/", {"reuse": finished.pk}).content.decode()
    assert '<option value="low" selected>' in reused
    assert '<option value="1024x1536" selected>' in reused
    again = alice_client.get("/").content.decode()
    assert '<option value="low" selected>' not in again
    settings.RETOUCH_SERVICE = "openai"  # where dall-e-2 is served
    dall_e = alice_client.get("/edits/options/", {"model": "dall-e-2"}).content.decode()
    assert "Options for DALL·E 2" in dall_e and "background" not in dall_e


def test_reuse_of_another_teams_edit_is_404(client, finished):
    client.force_login(make_user("mallory"))
    assert client.get("/", {"reuse": finished.pk}).status_code == 404
