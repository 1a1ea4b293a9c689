"""Keyset ("seek") paging: a page is the rows just older or just newer than one row's
place in a fixed order, the newest first by a timestamp and then the id, never the N-th
slice of an OFFSET scan. The database seeks to that place in an index and reads one page
from there, so the last page of 100,000 edits costs what the first does, and a link stays
right while new edits arrive (they push nothing onto the next page).

A cursor names a row's place as `<microseconds since 1970>-<id>` (`?before=` the oldest
row of a page for the older page, `?after=` its newest for the newer page): digits and a
dash, so it survives URL encoding and sharing untouched. Anything else is ignored and
the first page shown.

Why not a library: django-cursor-pagination (0.3.0, 2024; no Django 6 in its
classifiers) compares every key as text and orders with NULLS LAST, which on SQLite
adds a sort key no index provides, and its `OR … IS NULL` filter gives the database no
range to seek: the deep pages this exists for would scan. django-keyset-pagination-plus
pages through a ListView mixin rather than the queryset. This is a page of code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import models
from django.db.models import Q

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(\d{1,18})-(\d{1,18})")


@dataclass(frozen=True)
class Cursor:
    """A row's place in the order: its timestamp, then its id (which breaks ties)."""

    moment: datetime
    pk: int

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor a URL gives, or None for a missing or malformed one."""
        match = CURSOR.fullmatch(text or "")
        if match is None:
            return None
        try:
            moment = EPOCH + timedelta(microseconds=int(match[1]))
        except OverflowError:  # beyond the year 9999
            return None
        return cls(moment, int(match[2]))

    @classmethod
    def of(cls, row: models.Model, field_name: str) -> Cursor:
        return cls(getattr(row, field_name), row.pk)

    def __str__(self) -> str:
        return f"{(self.moment - EPOCH) // timedelta(microseconds=1)}-{self.pk}"


@dataclass
class KeysetPage:
    """One page, newest first, and the cursors of its neighbours (None: no such page).
    `newer` may name an empty page when the rows above were deleted meanwhile; that page
    then shows the first page."""

    object_list: list = field(default_factory=list)
    newer: str | None = None
    older: str | None = None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.newer or self.older)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


class KeysetQuerySet(models.QuerySet):
    def keyset_page(
        self,
        *,
        size: int,
        before: str | None = None,
        after: str | None = None,
        field_name: str = "created_at",
    ) -> KeysetPage:
        """The page of rows older than `before`, newer than `after`, or else the newest,
        ordered by `field_name` (not null: it is compared) and the id, newest first. The
        index that serves it is (…, -field_name, -id) after any equality filters. One
        query; a page is `size` rows but the first page (an `after` page that reaches the
        newest row shows the newest `size` rows instead, so no page is short at the top)."""
        newer_than = Cursor.parse(after)
        older_than = None if newer_than else Cursor.parse(before)
        if newer_than:
            rows = list(self._beyond(newer_than, field_name, newer=True)[: size + 1])
            if len(rows) > size:
                rows = rows[:size][::-1]
                return KeysetPage(
                    rows,
                    newer=str(Cursor.of(rows[0], field_name)),
                    older=str(Cursor.of(rows[-1], field_name)),
                )
        if older_than:
            rows = list(self._beyond(older_than, field_name, newer=False)[: size + 1])
            if not rows:  # a link past the oldest row (they were deleted): start over
                return self.keyset_page(size=size, field_name=field_name)
        else:
            rows = list(self.order_by(f"-{field_name}", "-pk")[: size + 1])
        older = str(Cursor.of(rows[size - 1], field_name)) if len(rows) > size else None
        rows = rows[:size]
        newer = str(Cursor.of(rows[0], field_name)) if older_than else None
        return KeysetPage(rows, newer=newer, older=older)

    def _beyond(self, cursor: Cursor, field_name: str, *, newer: bool) -> KeysetQuerySet:
        """The rows after `cursor` in one direction, nearest first. The plain range on the
        timestamp comes first so that the index seeks to it; the OR only settles ties."""
        strict, inclusive = ("gt", "gte") if newer else ("lt", "lte")
        ties = Q(**{field_name: cursor.moment, f"pk__{strict}": cursor.pk})
        return (
            self.filter(**{f"{field_name}__{inclusive}": cursor.moment})
            .filter(Q(**{f"{field_name}__{strict}": cursor.moment}) | ties)
            .order_by(*((field_name, "pk") if newer else (f"-{field_name}", "-pk")))
        )
