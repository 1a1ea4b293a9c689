"""Gallery filters live in the URL: member, status, model, dates and prompt text; pages
keep them; htmx swaps only the gallery; without JavaScript it is a plain GET form."""

import re
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from editor.edits.models import Edit, Status
from editor.edits.views import PAGE_SIZE

from .factories import Role, make_edit, make_studio, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def gallery(db):
    """Ann's and Ben's edits in their studio, made on different days."""
    team, ann, ben, _ = make_studio(owner="ann", editor="ben")
    edits = {
        "sky": make_edit(team, ann, prompt="Make the sky stormy", status=Status.SUCCEEDED),
        "sea": make_edit(team, ben, prompt="Calm the sea", status=Status.FAILED),
        "hat": make_edit(team, ben, prompt="Add a hat", status=Status.SUCCEEDED, model="dall-e-2"),
    }
    dates = {"sky": (2026, 3, 1), "sea": (2026, 3, 15), "hat": (2026, 4, 2)}
    for key, (y, m, d) in dates.items():
        moment = timezone.make_aware(datetime(y, m, d, 12, 0))
        Edit.objects.filter(pk=edits[key].pk).update(created_at=moment)
    return team, ann, edits


def shown(client, **params) -> set[str]:
    html = client.get("/", params).content.decode()
    prompts = {"Make the sky stormy": "sky", "Calm the sea": "sea", "Add a hat": "hat"}
    return {key for prompt, key in prompts.items() if prompt in html}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"sky", "sea", "hat"}),
        ({"member": "ben"}, {"sea", "hat"}),
        ({"status": "failed"}, {"sea"}),
        ({"model": "dall-e-2"}, {"hat"}),
        ({"since": "2026-03-10"}, {"sea", "hat"}),
        ({"until": "2026-03-15"}, {"sky", "sea"}),  # "to" includes the whole day
        ({"since": "2026-03-02", "until": "2026-04-01"}, {"sea"}),
        ({"q": "SKY"}, {"sky"}),
        ({"member": "ben", "status": "succeeded"}, {"hat"}),
    ],
)
def test_each_filter_narrows_the_gallery(client, gallery, params, expected):
    _, ann, _ = gallery
    client.force_login(ann)
    assert shown(client, **params) == expected


def test_filters_are_a_plain_get_form_with_a_submit_button(client, gallery):
    _, ann, _ = gallery
    client.force_login(ann)
    html = client.get("/", {"q": "sky", "status": "succeeded"}).content.decode()
    assert 'id="gallery-filters"' in html
    assert 'method="get" action="/"' in html
    assert 'hx-push-url="true"' in html
    assert ">Apply filters</button>" in html
    assert 'value="sky"' in html  # the form shows what is applied
    assert '<option value="succeeded" selected>' in html
    for label in ("Prompt contains", "Made by", "Status", "Model", "From", "To"):
        assert f">{label}</label>" in html


def test_htmx_filtering_returns_only_the_gallery_partial(client, gallery):
    _, ann, _ = gallery
    client.force_login(ann)
    response = client.get("/", {"q": "sea"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="gallery"')
    assert "<html" not in html
    assert "Calm the sea" in html and "Make the sky stormy" not in html
    assert 'value="sea"' in html


def test_paging_links_keep_the_filters(client, gallery):
    team, ann, _ = gallery
    for i in range(PAGE_SIZE + 2):
        make_edit(team, ann, prompt=f"Portrait {i}", sources=0, status=Status.SUCCEEDED)
    client.force_login(ann)
    first = client.get("/", {"q": "portrait", "member": "ann"}).content.decode()
    older = re.search(r'href="\?q=portrait&amp;member=ann&amp;before=([0-9-]+)"', first)
    assert older, "the Older link keeps the filters"
    assert f'hx-get="?q=portrait&amp;member=ann&amp;before={older[1]}"' in first
    second = client.get("/", {"q": "portrait", "member": "ann", "before": older[1]})
    html = second.content.decode()
    assert html.count('class="edit-card') == 2
    assert re.search(r'href="\?q=portrait&amp;member=ann&amp;after=[0-9-]+"', html)


def test_nothing_matching_says_so_and_offers_to_clear(client, gallery):
    _, ann, _ = gallery
    client.force_login(ann)
    html = client.get("/", {"q": "unicorn"}).content.decode()
    assert "No edits match these filters." in html
    assert "Clear filters" in html
    assert "No edits yet" not in html


def test_a_reversed_date_range_is_explained_and_ignored(client, gallery):
    _, ann, _ = gallery
    client.force_login(ann)
    response = client.get("/", {"since": "2026-04-01", "until": "2026-03-01"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "The end date is before the start date." in html
    assert shown(client, since="2026-04-01", until="2026-03-01") == {"hat"}


def test_unknown_values_are_ignored_not_an_error(client, gallery):
    _, ann, _ = gallery
    client.force_login(ann)
    response = client.get("/", {"member": "nobody", "status": "weird", "since": "yesterday"})
    assert response.status_code == 200
    assert shown(client, member="nobody", status="weird", since="yesterday") == {
        "sky",
        "sea",
        "hat",
    }


def test_member_filter_lists_only_this_teams_members(client, gallery):
    _, ann, _ = gallery
    make_team("Elsewhere", {make_user("zed"): Role.OWNER})
    client.force_login(ann)
    html = client.get("/").content.decode()
    assert '<option value="ben">ben</option>' in html
    assert '<option value="zed">' not in html


def test_filtered_gallery_runs_a_constant_number_of_queries(client, gallery):
    team, ann, _ = gallery
    client.force_login(ann)
    params = {"q": "e", "status": "succeeded", "since": "2026-01-01"}

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/", params).status_code == 200
        return len(queries)

    client.get("/")
    few = count()
    for i in range(10):
        make_edit(team, ann, prompt=f"More {i}", status=Status.SUCCEEDED, results=2)
    assert count() == few
