"""Variants: an edit with several results shows them as equals; editors and owners pick
one, which the card shows and downloads and zips take by default; picks are logged."""

import csv
import io
import re
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from editor.edits.models import Edit, ResultImage, Status
from editor.teams.models import Activity

from .factories import make_edit, make_team, make_user

pytestmark = pytest.mark.django_db

PROMPT = "Put the vase on a marble table"


@pytest.fixture
def variants(studio) -> Edit:
    """The editor's finished edit with three results and no pick yet."""
    return make_edit(studio.team, studio.editor, prompt=PROMPT, status=Status.SUCCEEDED, results=3)


def pick(client, edit: Edit, position: int | str | None = None, *, next: str = "", **extra):
    data = {} if position is None else {"position": position}
    if next:
        data["next"] = next
    return client.post(reverse("edit_pick", args=[edit.pk]), data, **extra)


def result_at(edit: Edit, position: int) -> ResultImage:
    return edit.results.get(position=position)


def card_of(html: str, edit: Edit) -> str:
    start = html.index(f'id="edit-{edit.pk}"')
    return html[start : html.index("</li>", start)]


def zip_of(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def manifest_of(archive: zipfile.ZipFile) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))


# --- A grid of equals ----------------------------------------------------------------


def test_several_results_show_as_a_grid_of_equals_on_the_detail_page(client, studio, variants):
    client.force_login(studio.editor)
    html = client.get(reverse("edit_detail", args=[variants.pk])).content.decode()
    assert 'class="image-list variant-grid"' in html
    buttons = re.findall(r'<button type="submit" id="pick-(\d)"[^>]*aria-pressed="(\w+)"', html)
    assert buttons == [("0", "false"), ("1", "false"), ("2", "false")]
    assert html.count(">Use this one<") == 3
    assert "Picked by" not in html and "is-picked" not in html
    assert "3 results of one request" in html


def test_a_single_result_has_nothing_to_pick(client, studio):
    edit = make_edit(studio.team, studio.editor, status=Status.SUCCEEDED, results=1)
    client.force_login(studio.editor)
    html = client.get(reverse("edit_detail", args=[edit.pk])).content.decode()
    assert "Use this one" not in html and "variant-grid" not in html


def test_the_card_shows_every_result_until_one_is_picked(client, studio, variants):
    client.force_login(studio.viewer)
    card = card_of(client.get("/").content.decode(), variants)
    assert 'class="variant-thumbs"' in card
    for position in range(3):
        assert reverse("edit_result_thumbnail", args=[variants.pk, position]) in card
    assert "3 results to choose from" in card


def test_viewers_see_the_grid_and_the_pick_without_buttons(client, studio, variants):
    variants.pick(result_at(variants, 2), by=studio.owner)
    client.force_login(studio.viewer)
    html = client.get(reverse("edit_detail", args=[variants.pk])).content.decode()
    assert "variant-grid" in html and "Use this one" not in html
    assert "Picked by olga" in html


# --- Picking -------------------------------------------------------------------------


def test_an_editor_picks_a_result_and_goes_back_to_the_page(client, studio, variants):
    client.force_login(studio.editor)
    response = pick(client, variants, 1, next=f"/edits/{variants.pk}/#result-1")
    assert response.status_code == 302
    assert response.url == f"/edits/{variants.pk}/#result-1"
    variants.refresh_from_db()
    assert variants.picked_result == result_at(variants, 1)
    assert variants.picked_by == studio.editor and variants.picked_at


def test_an_unsafe_next_goes_to_the_detail_page(client, studio, variants):
    client.force_login(studio.editor)
    response = pick(client, variants, 0, next="https://evil.example/")
    assert response.url == reverse("edit_detail", args=[variants.pk])


def test_the_picked_result_is_pressed_and_marked_for_the_team(client, studio, variants):
    variants.pick(result_at(variants, 1), by=studio.editor)
    client.force_login(studio.owner)
    html = client.get(reverse("edit_detail", args=[variants.pk])).content.decode()
    buttons = re.findall(r'id="pick-(\d)"[^>]*aria-pressed="(\w+)"', html)
    assert buttons == [("0", "false"), ("1", "true"), ("2", "false")]
    assert 'id="result-1" class="is-picked"' in html
    assert html.count("Picked by ed") == 1
    # The pressed button clears the pick: it sends no position.
    form = html[html.index('id="result-1"') : html.index('id="pick-1"')]
    assert 'name="position"' not in form


def test_picking_with_htmx_answers_the_results_with_the_pick(client, studio, variants):
    client.force_login(studio.editor)
    response = pick(client, variants, 2, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="edit-status")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="edit-status"')
    assert re.search(r'id="pick-2"[^>]*aria-pressed="true"', html)
    assert "Picked by ed" in html
    assert "<html" not in html


def test_changing_and_clearing_the_pick(client, studio, variants):
    client.force_login(studio.editor)
    pick(client, variants, 0)
    pick(client, variants, 2)
    variants.refresh_from_db()
    assert variants.picked_result == result_at(variants, 2)
    pick(client, variants)  # no position: clear it
    variants.refresh_from_db()
    assert variants.picked_result is None and variants.picked_by is None
    assert variants.picked_at is None


def test_the_owner_picks_on_someone_elses_edit(client, studio, variants):
    client.force_login(studio.owner)
    assert pick(client, variants, 1).status_code == 302
    variants.refresh_from_db()
    assert variants.picked_by == studio.owner


def test_an_editor_picks_on_another_members_edit(client, studio):
    owners = make_edit(studio.team, studio.owner, status=Status.SUCCEEDED, results=2)
    client.force_login(studio.editor)
    assert pick(client, owners, 1).status_code == 302
    owners.refresh_from_db()
    assert owners.picked_result.position == 1


def test_viewers_may_not_pick(client, studio, variants):
    client.force_login(studio.viewer)
    assert pick(client, variants, 1).status_code == 403
    variants.refresh_from_db()
    assert variants.picked_result is None
    assert not Activity.objects.filter(verb=Activity.Verb.RESULT_PICKED).exists()


def test_another_team_gets_404(client, studio, variants):
    stranger = make_user("zed")
    client.force_login(stranger)
    assert pick(client, variants, 1).status_code == 404
    variants.refresh_from_db()
    assert variants.picked_result is None


def test_a_result_the_edit_does_not_have_is_404(client, studio, variants):
    other = make_edit(studio.team, studio.editor, status=Status.SUCCEEDED, results=2)
    client.force_login(studio.editor)
    assert pick(client, variants, 7).status_code == 404
    assert pick(client, variants, "x").status_code == 404
    with pytest.raises(ValueError):
        variants.pick(result_at(other, 0), by=studio.editor)
    variants.refresh_from_db()
    assert variants.picked_result is None


def test_picking_needs_a_post(client, studio, variants):
    client.force_login(studio.editor)
    assert client.get(reverse("edit_pick", args=[variants.pk])).status_code == 405


def test_deleting_the_picked_result_leaves_no_pick(studio, variants):
    variants.pick(result_at(variants, 1), by=studio.editor)
    result_at(variants, 1).delete()
    variants.refresh_from_db()
    assert variants.picked_result is None


# --- The card ------------------------------------------------------------------------


def test_the_card_shows_the_pick(client, studio, variants):
    variants.pick(result_at(variants, 2), by=studio.editor)
    client.force_login(studio.viewer)
    card = card_of(client.get("/").content.decode(), variants)
    assert "variant-thumbs" not in card
    thumbs = re.findall(r'src="([^"]+/thumbnail/)"', card)
    assert thumbs == [reverse("edit_result_thumbnail", args=[variants.pk, 2])]
    assert "Picked 3 of 3 · ed" in card


def test_the_gallery_costs_the_same_queries_with_picks(client, studio):
    client.force_login(studio.viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get("/")
        return len(captured)

    first = make_edit(studio.team, studio.editor, status=Status.SUCCEEDED, results=2)
    first.pick(result_at(first, 1), by=studio.editor)
    one = queries()
    for _ in range(4):
        edit = make_edit(studio.team, studio.owner, status=Status.SUCCEEDED, results=3)
        edit.pick(result_at(edit, 0), by=studio.owner)
    assert queries() == one


# --- Downloads -----------------------------------------------------------------------


def test_the_zip_of_an_edit_takes_the_pick_by_default_and_all_on_request(client, studio, variants):
    variants.pick(result_at(variants, 1), by=studio.editor)
    client.force_login(studio.viewer)
    url = reverse("edit_download_all", args=[variants.pk])
    stem = variants.download_stem()
    assert zip_of(client.get(url)).namelist() == [f"{stem}-2.png"]
    everything = zip_of(client.get(url, {"all": "1"})).namelist()
    assert everything == [f"{stem}-{n}.png" for n in (1, 2, 3)]


def test_without_a_pick_the_zip_has_every_result(client, studio, variants):
    client.force_login(studio.viewer)
    names = zip_of(client.get(reverse("edit_download_all", args=[variants.pk]))).namelist()
    assert len(names) == 3


def test_the_detail_page_offers_the_pick_and_everything(client, studio, variants):
    variants.pick(result_at(variants, 0), by=studio.editor)
    client.force_login(studio.viewer)
    html = client.get(reverse("edit_detail", args=[variants.pk])).content.decode()
    url = reverse("edit_download_all", args=[variants.pk])
    assert f'href="{url}">Download the pick as zip' in html
    assert f'href="{url}?all=1">Download all (3) as zip' in html


def test_the_bulk_zip_takes_picks_by_default_and_the_manifest_says_so(client, studio, variants):
    variants.pick(result_at(variants, 2), by=studio.editor)
    unpicked = make_edit(studio.team, studio.owner, status=Status.SUCCEEDED, results=2)
    client.force_login(studio.viewer)
    ids = {"ids": [variants.pk, unpicked.pk]}
    archive = zip_of(client.get(reverse("edits_download_selected"), ids))
    rows = manifest_of(archive)
    assert [(r["edit_id"], r["picked"]) for r in rows] == [
        (str(variants.pk), "yes"),
        (str(unpicked.pk), ""),
        (str(unpicked.pk), ""),
    ]
    assert rows[0]["file_name"] == f"{variants.pk}-{variants.download_stem()}-3.png"
    assert archive.namelist() == [r["file_name"] for r in rows] + ["manifest.csv"]


def test_the_bulk_zip_includes_every_result_on_request(client, studio, variants):
    variants.pick(result_at(variants, 2), by=studio.editor)
    client.force_login(studio.viewer)
    archive = zip_of(
        client.get(reverse("edits_download_selected"), {"ids": [variants.pk], "all": "1"})
    )
    rows = manifest_of(archive)
    assert [r["picked"] for r in rows] == ["no", "no", "yes"]
    assert len(archive.namelist()) == 4


def test_the_bulk_form_offers_every_result(client, studio):
    client.force_login(studio.viewer)
    html = client.get("/").content.decode()
    form = html[html.index('id="bulk-form"') : html.index("</form>", html.index('id="bulk-form"'))]
    assert 'type="checkbox" name="all" value="1"' in form


# --- The activity log ----------------------------------------------------------------


def test_picking_and_clearing_are_in_the_activity_log(client, studio, variants):
    client.force_login(studio.editor)
    pick(client, variants, 1)
    pick(client, variants, 1)  # a double-submitted form: nothing new
    pick(client, variants)
    entries = list(Activity.objects.for_team(studio.team).order_by("pk"))
    assert [(e.verb, e.actor, e.summary) for e in entries] == [
        (Activity.Verb.RESULT_PICKED, studio.editor, f"result 2 of 3 for “{PROMPT}”"),
        (Activity.Verb.PICK_CLEARED, studio.editor, f"“{PROMPT}”"),
    ]
    client.force_login(studio.owner)
    html = client.get(reverse("team_activity", args=[studio.team.pk])).content.decode()
    assert f"<strong>ed</strong> picked a result: result 2 of 3 for “{PROMPT}”" in html
    assert f"<strong>ed</strong> cleared a pick: “{PROMPT}”" in html


def test_picks_in_another_team_stay_out_of_this_log(studio):
    stranger = make_user("zed")
    other = make_team("Other", {stranger: "owner"})
    edit = make_edit(other, stranger, status=Status.SUCCEEDED, results=2)
    edit.pick(result_at(edit, 0), by=stranger)
    assert not Activity.objects.for_team(studio.team).exists()
    assert Activity.objects.for_team(other).get().verb == Activity.Verb.RESULT_PICKED


def test_the_variant_pages_are_within_the_content_security_policy(client, studio, variants):
    from .test_csp import assert_within_policy

    client.force_login(studio.editor)
    assert_within_policy(client.get(reverse("edit_detail", args=[variants.pk])))
    variants.pick(result_at(variants, 1), by=studio.editor)
    assert_within_policy(client.get(reverse("edit_detail", args=[variants.pk])))
    assert_within_policy(client.get("/"))


def test_the_admin_shows_the_pick_without_offering_every_result(client, studio, variants):
    variants.pick(result_at(variants, 1), by=studio.editor)
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:edits_edit_change", args=[variants.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="picked_result"' not in html and 'name="picked_by"' not in html
    assert "Picked result" in html


def test_an_edit_with_a_pick_is_deleted_with_its_results(client, studio, variants):
    variants.pick(result_at(variants, 1), by=studio.editor)
    client.force_login(studio.editor)
    assert client.post(reverse("edit_delete", args=[variants.pk])).status_code == 302
    assert not Edit.objects.filter(pk=variants.pk).exists()
    assert not ResultImage.objects.filter(edit_id=variants.pk).exists()
