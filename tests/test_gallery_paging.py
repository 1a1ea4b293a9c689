"""Keyset paging ("Older" / "Newer" by cursor) in the gallery and on the usage page:
links that can be shared and keep the filters, every edit exactly once however many
share a moment, new edits pushing nothing onto the next page, and a cursor that is not
one showing the first page instead of an error."""

import re
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from editor.edits.models import Edit, Status
from editor.edits.models.keyset import Cursor
from editor.edits.usage import PAGE_SIZE as USAGE_PAGE_SIZE
from editor.edits.views import PAGE_SIZE

from .factories import make_edit, make_priced_edit, personal_team

pytestmark = pytest.mark.django_db

CARD = re.compile(r'<li id="edit-(\d+)" class="edit-card')
MOMENT = timezone.make_aware(datetime(2026, 3, 1, 12, 0, 0, 250_000))


def edits_at_few_moments(team, user, count: int) -> list[Edit]:
    """`count` edits sharing three moments (a batch's edits share theirs), newest first
    as the gallery lists them: created_at descending, then id descending."""
    edits = [
        make_edit(team, user, prompt=f"Edit {i}", sources=0, status=Status.SUCCEEDED)
        for i in range(count)
    ]
    for i, edit in enumerate(edits):
        edit.created_at = MOMENT - timedelta(seconds=i % 3)
        Edit.objects.filter(pk=edit.pk).update(created_at=edit.created_at)
    return sorted(edits, key=lambda e: (e.created_at, e.pk), reverse=True)


def link(html: str, rel: str) -> str | None:
    """The href of the Older (rel=next) or Newer (rel=prev) link, unescaped."""
    match = re.search(rf'<a href="([^"]*)"[^>]*rel="{rel}"', html)
    return match[1].replace("&amp;", "&") if match else None


def cards(html: str) -> list[int]:
    return [int(pk) for pk in CARD.findall(html)]


# --- the cursor ------------------------------------------------------------------------


def test_a_cursor_is_the_moment_and_id_and_reads_back_exactly():
    cursor = Cursor(MOMENT, 42)
    assert str(cursor) == f"{int(MOMENT.timestamp()) * 1_000_000 + 250_000}-42"
    assert Cursor.parse(str(cursor)) == cursor


@pytest.mark.parametrize(
    "text",
    ["", "abc", "12", "12-", "-12", "1.5-2", "12-3-4", "1" * 19 + "-1", "999999999999999999-1"],
)
def test_anything_but_a_cursor_is_no_cursor(text):
    assert Cursor.parse(text) is None


# --- the queryset ----------------------------------------------------------------------


def test_older_pages_list_every_edit_once_in_order_when_moments_are_shared(alice):
    expected = edits_at_few_moments(personal_team(alice), alice, 23)
    edits = Edit.objects.filter(team=personal_team(alice))
    seen, page = [], edits.keyset_page(size=5)
    assert page.newer is None
    while True:
        seen += page.object_list
        if page.older is None:
            break
        page = edits.keyset_page(size=5, before=page.older)
        assert page.newer is not None
    assert [e.pk for e in seen] == [e.pk for e in expected]
    assert len(page) == 3  # the last page holds what is left


def test_newer_pages_go_back_the_same_way_and_the_top_is_the_first_page(alice):
    expected = [e.pk for e in edits_at_few_moments(personal_team(alice), alice, 23)]
    edits = Edit.objects.filter(team=personal_team(alice))
    pages = [edits.keyset_page(size=5)]
    while pages[-1].older:
        pages.append(edits.keyset_page(size=5, before=pages[-1].older))
    for newer, older in pairwise(pages):
        back = edits.keyset_page(size=5, after=older.newer)
        assert [e.pk for e in back] == [e.pk for e in newer]
    # From the second page, Newer shows the first page as it is now: a full one.
    top = edits.keyset_page(size=5, after=edits.keyset_page(size=5, before=pages[0].older).newer)
    assert [e.pk for e in top] == expected[:5]
    assert top.newer is None


def test_a_later_page_seeks_instead_of_counting_or_skipping(alice):
    edits_at_few_moments(personal_team(alice), alice, 12)
    edits = Edit.objects.filter(team=personal_team(alice))
    second = edits.keyset_page(size=5).older
    with CaptureQueriesContext(connection) as queries:
        edits.keyset_page(size=5, before=second)
    (query,) = queries.captured_queries
    assert "OFFSET" not in query["sql"].upper()
    assert "COUNT(" not in query["sql"].upper()


def test_a_cursor_past_the_oldest_edit_shows_the_first_page(alice):
    expected = edits_at_few_moments(personal_team(alice), alice, 7)
    edits = Edit.objects.filter(team=personal_team(alice))
    page = edits.keyset_page(size=5, before=str(Cursor(MOMENT - timedelta(days=1), 1)))
    assert [e.pk for e in page] == [e.pk for e in expected[:5]]


# --- the gallery -----------------------------------------------------------------------


def test_gallery_pages_by_cursor_links_with_no_duplicates_or_gaps(alice_client, alice):
    expected = edits_at_few_moments(personal_team(alice), alice, 2 * PAGE_SIZE + 5)
    html = alice_client.get("/").content.decode()
    assert "Page 1 of" not in html and link(html, "prev") is None
    shown = cards(html)
    while older := link(html, "next"):
        assert re.fullmatch(r"\?before=\d+-\d+", older)
        html = alice_client.get("/" + older).content.decode()
        assert link(html, "prev").startswith("?after=")
        assert re.search(r'<a href="\?"[^>]*>Newest</a>', html)
        shown += cards(html)
    assert shown == [e.pk for e in expected]


def test_new_edits_push_nothing_onto_a_shared_older_page(alice_client, alice):
    team = personal_team(alice)
    edits_at_few_moments(team, alice, PAGE_SIZE + 4)
    older = link(alice_client.get("/").content.decode(), "next")
    before = cards(alice_client.get("/" + older).content.decode())
    make_edit(team, alice, prompt="Just arrived", sources=0)
    assert cards(alice_client.get("/" + older).content.decode()) == before


def test_older_and_newer_links_keep_the_filters_and_swap_only_the_gallery(alice_client, alice):
    team = personal_team(alice)
    for i in range(PAGE_SIZE + 2):
        make_edit(team, alice, prompt=f"Stormy sky {i}", sources=0, status=Status.FAILED)
    make_edit(team, alice, prompt="Stormy sky, but done", sources=0, status=Status.SUCCEEDED)
    html = alice_client.get("/", {"q": "stormy", "status": "failed"}).content.decode()
    older = link(html, "next")
    assert re.fullmatch(r"\?q=stormy&status=failed&before=\d+-\d+", older)
    assert f'hx-get="{older.replace("&", "&amp;")}" hx-target="#gallery"' in html
    response = alice_client.get("/" + older, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery")
    second = response.content.decode()
    assert "<html" not in second and len(cards(second)) == 2
    assert re.fullmatch(r"\?q=stormy&status=failed&after=\d+-\d+", link(second, "prev"))
    assert re.search(r'<a href="\?q=stormy&amp;status=failed"[^>]*>Newest</a>', second)


@pytest.mark.parametrize(
    "params",
    [
        {"before": "garbage"},
        {"after": "1-2-3"},
        {"before": "99999999999999999999-1"},
        {"after": "-5"},
        {"page": "2"},  # an old numbered link
        {"before": "1-1", "after": "nonsense"},
    ],
)
def test_a_cursor_that_is_not_one_shows_the_first_page(alice_client, alice, params):
    expected = edits_at_few_moments(personal_team(alice), alice, PAGE_SIZE + 3)
    response = alice_client.get("/", params)
    assert response.status_code == 200
    first = [e.pk for e in expected[:PAGE_SIZE]]
    shown = cards(response.content.decode())
    # "before=1-1" names a moment before every edit: nothing older, so the first page.
    assert shown == first


def test_one_page_needs_no_paging_links(alice_client, alice):
    edits_at_few_moments(personal_team(alice), alice, 3)
    html = alice_client.get("/").content.decode()
    assert 'class="pagination"' not in html


def test_a_later_page_costs_the_queries_of_the_first(alice_client, alice):
    edits_at_few_moments(personal_team(alice), alice, PAGE_SIZE + 3)
    alice_client.get("/")  # the first visit draws the edit form once (cached)
    with CaptureQueriesContext(connection) as first:
        html = alice_client.get("/").content.decode()
    with CaptureQueriesContext(connection) as later:
        alice_client.get("/" + link(html, "next"))
    assert len(later) == len(first)


# --- the usage page --------------------------------------------------------------------


def test_usage_table_pages_by_cursor(client, studio):
    team, owner, _editor, _viewer = studio
    finished = timezone.now() - timedelta(hours=1)
    priced = [make_priced_edit(team, owner, "0.01", finished_at=finished) for _ in range(3)] + [
        make_priced_edit(team, owner, "0.01") for _ in range(USAGE_PAGE_SIZE)
    ]
    client.force_login(owner)
    html = client.get(reverse("usage")).content.decode()
    rows = [int(pk) for pk in re.findall(r'<tr id="usage-(\d+)">', html)]
    older = link(html, "next")
    assert len(rows) == USAGE_PAGE_SIZE and re.fullmatch(r"\?before=\d+-\d+", older)
    second = client.get(reverse("usage") + older).content.decode()
    rest = [int(pk) for pk in re.findall(r'<tr id="usage-(\d+)">', second)]
    assert sorted(rows + rest) == sorted(e.pk for e in priced)
    assert rest == sorted((e.pk for e in priced[:3]), reverse=True)  # the earliest finished
    assert link(second, "prev").startswith("?after=")
    assert client.get(reverse("usage"), {"before": "x"}).status_code == 200
