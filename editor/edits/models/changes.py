"""Changes: the log that open pages' event streams read.

Every change of an edit's state that a page shows (status, attempts, a preview, the
result) writes one `Change` row in the same transaction as the change itself
(states.py, previews.py). The worker and the web processes share nothing but the
database, so this row is how a web process learns that something changed: its feed
(editor/edits/events.py) reads the rows after the last one it read, and on PostgreSQL a
NOTIFY at commit wakes it at once.

A row's id is the event id the stream sends (`id:`), and a reconnecting page names the
last one it saw (`Last-Event-ID`), so ids must grow in commit order: a row with a
smaller id must never become visible after a larger one was read. SQLite lets one
writer in at a time, which gives that order. PostgreSQL hands out ids before commit,
so there every writer takes one transaction-scoped advisory lock in the statement
that inserts its rows: the id is taken and committed while the lock is held. The lock comes last in
every transaction that takes it (nothing else is locked after it), so it adds a short
queue at commit, never a deadlock.

The rows hold plain ids, no foreign keys: a change outlives the edit it names (a
deleted card) and a team being deleted, and rows older than `KEEP` are pruned as new
ones come in. A page that reconnects after that long re-reads everything it shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import connections, models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

# The PostgreSQL NOTIFY channel and the advisory lock key (any constant bigint).
CHANNEL = "retouch_changes"
ORDER_LOCK = 0x5245_5443_4856  # "RETCHV"
KEEP = timedelta(hours=1)
PRUNE_EVERY = 500  # rows: the oldest are pruned when an id is a multiple of this


class ChangeQuerySet(models.QuerySet):
    def after(self, cursor: int) -> ChangeQuerySet:
        """Rows newer than event id `cursor`, oldest first."""
        return self.filter(pk__gt=cursor).order_by("pk")

    def latest_id(self) -> int:
        return self.aggregate(newest=models.Max("pk"))["newest"] or 0

    def record_edit(self, edit) -> None:
        """`edit` changed (the caller's transaction commits it with the change). An
        object made from its id alone, or loaded without its team, is looked up."""
        loaded = vars(edit)
        if loaded.get("team_id") is None or "batch_id" not in loaded:
            rows = type(edit)._base_manager.filter(pk=edit.pk)
            team_id, batch_id = rows.values_list("team_id", "batch_id").get()
        else:
            team_id, batch_id = edit.team_id, edit.batch_id
        self.record([(edit.pk, team_id, batch_id)])

    def record_team(self, team_id: int) -> None:
        """Something about the team changed that names no edit (a member left): open
        streams of the team are checked again at once."""
        self.record([(None, team_id, None)])

    def record(self, rows: Iterable[tuple[int | None, int, int | None]]) -> None:
        """One row per (edit id, team id, batch id), in the caller's transaction."""
        changes = [Change(edit_id=e, team_id=t, batch_id=b) for e, t, b in rows]
        if not changes:
            return
        connection = connections[self.db]
        # Part of the caller's transaction when there is one (no savepoint needed: an
        # error here rolls the change back with it), else a transaction of its own.
        with transaction.atomic(using=self.db, savepoint=False):
            if connection.vendor == "postgresql":
                _insert_in_commit_order(connection, changes)
            else:
                self.bulk_create(changes)
            if any(change.pk and change.pk % PRUNE_EVERY == 0 for change in changes):
                self.filter(at__lt=timezone.now() - KEEP).delete()


def _insert_in_commit_order(connection, changes: list[Change]) -> None:
    """PostgreSQL: one statement queues the NOTIFY (sent at commit), takes the order lock
    and inserts the rows, their ids drawn under the lock (each row to insert comes out of
    a join with it). The lock is then held from this statement to the commit, one round
    trip: in a burst, the workers' transactions queue behind each other for that long,
    not for three statements (measured: benchmarks/concurrent_edits.py)."""
    row = "(%s::bigint, %s::bigint, %s::bigint, %s::timestamptz)"
    params: list = [CHANNEL, ORDER_LOCK]
    for change in changes:
        params += [change.team_id, change.edit_id, change.batch_id, change.at]
    table = connection.ops.quote_name(Change._meta.db_table)
    # Only the model's own table name and placeholders are formatted in.
    sql = (
        f'INSERT INTO {table} ("team_id", "edit_id", "batch_id", "at") SELECT rows.* FROM'  # noqa: S608
        " (SELECT pg_notify(%s, ''), pg_advisory_xact_lock(%s) OFFSET 0) AS ordered"
        f" CROSS JOIN (VALUES {', '.join([row] * len(changes))}) AS rows"
        ' RETURNING "id"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for change, (pk,) in zip(changes, cursor.fetchall(), strict=True):
            change.pk = pk


class Change(models.Model):
    """One change an open page should see; its id is the event stream's event id."""

    id = models.BigAutoField(primary_key=True)
    team_id = models.BigIntegerField()
    edit_id = models.BigIntegerField(null=True, blank=True)  # none: about the team
    batch_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ChangeQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Change {self.pk}: edit {self.edit_id} of team {self.team_id}"


@receiver(post_delete, sender="teams.Membership")
def _member_left(sender, instance, **kwargs) -> None:
    """A member removed (or leaving) stops receiving at once: the feed checks its
    listeners' memberships whenever it reads a change of their team."""
    Change.objects.record_team(instance.team_id)
