"""The Django admin for staff: edits found by any id a person or the service quotes."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from editor.edits.models import Edit, Status
from editor.teams.models import Activity

from .factories import Role, make_edit, make_invitation, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def edits():
    ann = make_user("ann")
    team = make_team("Studio", {ann: Role.OWNER})
    found = make_edit(team, ann, prompt="Stormy sky", status=Status.SUCCEEDED, results=1)
    Edit.objects.filter(pk=found.pk).update(
        trace_id="trace-abc", task_id="task-def", request_id="req_ghi"
    )
    other = make_edit(team, make_user("bob"), prompt="Calm sea")
    return found, other


@pytest.mark.parametrize("query", ["trace-abc", "task-def", "req_ghi", "stormy", "ann"])
def test_staff_find_an_edit_by_any_id_prompt_or_user(staff_client, edits, query):
    found, other = edits
    html = staff_client.get(reverse("admin:edits_edit_changelist"), {"q": query}).content.decode()
    assert reverse("admin:edits_edit_change", args=[found.pk]) in html
    assert reverse("admin:edits_edit_change", args=[other.pk]) not in html


def test_ids_the_service_gave_are_read_only(staff_client, edits):
    found, _ = edits
    html = staff_client.get(reverse("admin:edits_edit_change", args=[found.pk])).content.decode()
    assert "trace-abc" in html
    for name in ("trace_id", "task_id", "request_id"):
        assert f'name="{name}"' not in html


def test_deleting_in_the_admin_removes_the_files_too(
    staff_client, edits, django_capture_on_commit_callbacks
):
    found, _ = edits
    names = [found.sources.get().file.name, found.results.get().file.name]
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("admin:edits_edit_delete", args=[found.pk]), {"post": "yes"})
    assert not Edit.objects.filter(pk=found.pk).exists()
    assert not any(default_storage.exists(name) for name in names)


def test_invitations_and_activity_are_listed_for_staff(staff_client):
    owner = make_user("olga")
    team = make_team("Studio", {owner: Role.OWNER})
    make_invitation(team, owner, email="new@example.com")
    invitations = staff_client.get(reverse("admin:teams_invitation_changelist")).content.decode()
    assert "new@example.com" in invitations and "Waiting to be used" in invitations
    activity = staff_client.get(reverse("admin:teams_activity_changelist")).content.decode()
    assert "created an invitation" in activity
    assert Activity.objects.count() == 1
    assert staff_client.get(reverse("admin:teams_activity_add")).status_code == 403


def test_people_who_are_not_staff_are_sent_to_the_admin_sign_in(client, edits):
    client.force_login(make_user("ann2"))
    response = client.get(reverse("admin:edits_edit_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url
