"""First run on PostgreSQL: two people sending the first-administrator form at the same
moment get one administrator, not two."""

import contextlib
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models.signals import post_save
from django.test import Client
from django.urls import reverse

PASSWORD = "A-long-pass-9!"
PEOPLE = ("ada", "bob")


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory SQLite test database locks whole tables between threads; "
    "the PostgreSQL run of the suite covers this",
)
@pytest.mark.django_db(transaction=True)
def test_of_two_first_admin_forms_sent_at_once_only_one_creates_an_administrator():
    # Each request waits, once its account is written but not yet committed, until the
    # other has got as far (or two seconds have passed). Without a lock both get there,
    # so the race is lost every time rather than now and then; with one, the second
    # request waits for the first to commit and never creates its account.
    both_wrote = threading.Barrier(len(PEOPLE))

    def wait_for_the_other(sender, created: bool, **kwargs) -> None:
        if created:
            with contextlib.suppress(threading.BrokenBarrierError):  # the other never came
                both_wrote.wait(timeout=2)

    statuses: dict[str, int] = {}

    def send_form(username: str) -> None:
        try:
            response = Client().post(
                reverse("setup"),
                {"username": username, "password1": PASSWORD, "password2": PASSWORD},
            )
            statuses[username] = response.status_code
        finally:
            connections.close_all()  # the test database cannot be dropped while in use

    user_model = get_user_model()
    post_save.connect(wait_for_the_other, sender=user_model, dispatch_uid="first-admin-race")
    try:
        threads = [threading.Thread(target=send_form, args=(name,)) for name in PEOPLE]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        post_save.disconnect(sender=user_model, dispatch_uid="first-admin-race")

    assert sorted(statuses.values()) == [302, 404]  # one is signed in, the other told no
    assert user_model.objects.count() == 1
    assert user_model.objects.get().is_superuser
