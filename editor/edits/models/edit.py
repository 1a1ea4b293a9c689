"""An Edit is one request to change images: who asked, in which team, what they
asked for, what the service answered, and how long it all took. How its state changes
is in `states.py`."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.db import connections, models
from django.db.models import Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import StrIndex, Upper
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from editor.teams.models import Activity
from editor.upstream import MODELS, errors

from .files import ResultImage, mask_upload_to
from .keyset import KeysetQuerySet
from .previews import PreviewImage
from .states import PENDING_STATUSES, Delivery, EditStateQuerySet, EditStates, Status


def _new_callback_token() -> str:
    return secrets.token_urlsafe(32)


# SQLite only: the FTS5 index of the prompts (migration 0012, kept by triggers).
PROMPT_SEARCH_TABLE = "edits_edit_prompt_search"
PROMPT_MATCHES = (
    "SELECT rowid FROM edits_edit_prompt_search WHERE edits_edit_prompt_search MATCH %s"
)
# The trigram tokenizer indexes runs of three characters; shorter text is matched by a scan.
SHORTEST_INDEXED = 3


class EditQuerySet(KeysetQuerySet, EditStateQuerySet):
    def for_team(self, team) -> EditQuerySet:
        return self.filter(team=team)

    def for_gallery(self) -> EditQuerySet:
        """Everything a gallery card shows, in a fixed number of queries. Previews exist
        only while an edit is pending (at most a few each), so prefetching them costs
        one small query."""
        return (
            self.select_related("created_by", "picked_by")
            .prefetch_related("results", "previews")
            .order_by("-created_at", "-pk")
        )

    def matching(
        self,
        *,
        member=None,
        status: str = "",
        model: str = "",
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        text: str = "",
        starred_by=None,
    ) -> EditQuerySet:
        """The gallery's filters (GalleryFilterForm); an empty value means "any", a
        member is a user. Each is served by an index of the gallery's order
        (Meta.indexes); dates are instants, a range of (team, -created_at)."""
        given = {
            "created_by": member,
            "status": status,
            "model": model,
            "created_at__gte": created_from,
            "created_at__lt": created_before,
        }
        edits = self.filter(**{lookup: value for lookup, value in given.items() if value})
        if starred_by is not None:
            edits = edits.filter(stars__user=starred_by)
        return edits.search(text)

    def search(self, text: str) -> EditQuerySet:
        """Edits whose prompt contains `text`, ignoring case: a substring, across word
        boundaries and in any script ("sky" finds "Skyline at dusk", "天空" finds
        "把天空变成暴风雨"), the same on both databases.

        Served by trigram indexes (migration 0012): on PostgreSQL a GIN index (pg_trgm)
        on UPPER(prompt), the expression Django's `icontains` compares; on SQLite an FTS5
        table with the trigram tokenizer, whose quoted phrase query is a substring match.
        Text shorter than three characters has no trigram: it is looked for in each of
        the team's edits, newest first, until a page is full (a common one fills it at
        once; a rare one reads the team's history: ~60 ms at 100,000 edits), on
        PostgreSQL with strpos(), as a LIKE would send it through its whole trigram index
        first. Letters outside ASCII are folded to one case by PostgreSQL and FTS5, not
        by SQLite's LIKE (so on SQLite "É" finds "é" only from three characters on)."""
        text = text.strip()
        if not text:
            return self
        vendor = connections[self.db].vendor
        if vendor == "sqlite" and len(text) >= SHORTEST_INDEXED:
            phrase = '"' + text.replace('"', '""') + '"'
            # A constant statement; the text is its parameter.
            return self.filter(pk__in=RawSQL(PROMPT_MATCHES, [phrase]))  # noqa: S611
        if vendor == "postgresql" and len(text) < SHORTEST_INDEXED:
            found = StrIndex(Upper("prompt"), Upper(Value(text)))
            return self.alias(found_at=found).filter(found_at__gt=0)
        return self.filter(prompt__icontains=text)

    def with_star_for(self, user) -> EditQuerySet:
        """Annotate `is_starred` for one person, in the same query."""
        return self.annotate(
            is_starred=models.Exists(Star.objects.filter(edit=models.OuterRef("pk"), user=user))
        )


class Edit(EditStates, models.Model):
    class Kind(models.TextChoices):
        """What the service was asked: to change photos, or to create an image from the
        prompt alone (no photos). The label is what the gallery and detail page say."""

        EDIT = "edit", pgettext_lazy("kind of edit", "Edited")
        GENERATION = "generation", pgettext_lazy("kind of edit", "Created")

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="edits")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="edits"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # "Apply to each photo separately": the batch this edit is one photo of.
    batch = models.ForeignKey(
        "edits.Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="edits"
    )
    # Stored rather than read from the sources: the card says it without a query, and the
    # worker never turns an edit whose photos went missing into a generation.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.EDIT)
    model = models.CharField(max_length=64)
    prompt = models.TextField()
    # The optional parameters as sent upstream (size, quality, n, background, ...).
    params = models.JSONField(default=dict, blank=True)
    # Optional PNG whose transparent pixels mark where the first image may change.
    mask = models.FileField(upload_to=mask_upload_to, max_length=255, blank=True)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

    # Identifiers the service gave us, for support and for the Tasks API.
    trace_id = models.CharField(max_length=100, blank=True, db_index=True)
    task_id = models.CharField(max_length=100, blank=True, db_index=True)
    request_id = models.CharField(max_length=100, blank=True, db_index=True)
    upstream_created = models.BigIntegerField(null=True, blank=True)
    upstream_elapsed = models.FloatField(null=True, blank=True)
    usage = models.JSONField(null=True, blank=True)
    # Estimated from usage and the price table (costs.py) when the results are stored.
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    callback_token = models.CharField(max_length=64, default=_new_callback_token, editable=False)

    # Delivery and retries. `attempts` counts every request sent upstream; `retries` the
    # automatic ones since the edit was last queued by a person (bounded by a setting).
    delivery = models.CharField(max_length=10, choices=Delivery.choices, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    # Queued for an automatic retry: not before this moment.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Callback mode: when the service accepted the edit (the callback is due from then on).
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The claim of the worker handling the edit right now; renewed while it works.
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    # With several results (n > 1), the one the team chose: what the card shows and what
    # downloads take by default. On the edit, not a flag on each result, so that "one
    # pick per edit" holds by construction and the card needs no extra query.
    picked_result = models.ForeignKey(
        "edits.ResultImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    picked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    picked_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = EditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        # The gallery's order, alone and after each filter's equality (keyset paging seeks
        # in them: keyset.py); a date range is a range of the first. The usage page's
        # order last. The prompt's trigram index differs per database: migration 0012.
        indexes = [
            models.Index(fields=["team", "-created_at", "-id"], name="edit_team_created"),
            models.Index(
                fields=["team", "created_by", "-created_at", "-id"], name="edit_team_member"
            ),
            models.Index(fields=["team", "status", "-created_at", "-id"], name="edit_team_status"),
            models.Index(fields=["team", "model", "-created_at", "-id"], name="edit_team_model"),
            models.Index(fields=["team", "-finished_at", "-id"], name="edit_team_finished"),
        ]

    def __str__(self) -> str:
        return f"Edit {self.pk}: {self.prompt[:40]}"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def is_generation(self) -> bool:
        """Created from the prompt alone, through images/generations."""
        return self.kind == self.Kind.GENERATION

    @cached_property
    def first_result(self) -> ResultImage | None:
        """The result a gallery card shows (from prefetched results when loaded); a view
        that knows there is none yet sets it to None and saves the query."""
        return next(iter(self.results.all()), None)

    @cached_property
    def shown_result(self) -> ResultImage | None:
        """What the card shows and downloads take: the picked result, else the first
        (both from prefetched results when loaded)."""
        if self.picked_result_id is None:
            return self.first_result
        picked = (r for r in self.results.all() if r.pk == self.picked_result_id)
        return next(picked, self.first_result)

    @property
    def has_variants(self) -> bool:
        """Several results to choose from (prefetched results when loaded)."""
        return len(self.results.all()) > 1

    def results_to_download(self, *, everything: bool = False) -> list[ResultImage]:
        """The pick alone when there is one, unless `everything`; else every result."""
        results = list(self.results.all())
        if everything or self.picked_result_id is None:
            return results
        return [r for r in results if r.pk == self.picked_result_id] or results

    def pick(self, result: ResultImage | None, by) -> None:
        """Make `result` (one of this edit's) the team's pick, or clear the pick with None;
        recorded in the team's activity log. Picking the current pick again changes
        nothing and logs nothing (a double-submitted form)."""
        if result is not None and result.edit_id != self.pk:
            raise ValueError("A pick must be one of the edit's own results.")
        new_id = result.pk if result else None
        if new_id == self.picked_result_id:
            return
        self.picked_result = result
        self.picked_by = by if result else None
        self.picked_at = timezone.now() if result else None
        self.save(update_fields=["picked_result", "picked_by", "picked_at", "updated_at"])
        # The log keeps what was written, in the language of whoever picked.
        about = _("“%(prompt)s”") % {"prompt": self.prompt[:200]}
        if result is None:
            Activity.objects.record(self.team, by, Activity.Verb.PICK_CLEARED, about)
        else:
            summary = _("result %(position)s of %(count)s for %(prompt)s") % {
                "position": result.position + 1,
                "count": self.results.count(),
                "prompt": about,
            }
            Activity.objects.record(self.team, by, Activity.Verb.RESULT_PICKED, summary)

    @property
    def plain_error_message(self) -> str:
        """What went wrong, in the reader's language: the message is stored in English
        (``error_message``) and said again here from its code and words (upstream's
        ``translated_message``); one it cannot read back is shown as it was stored."""
        return errors.translated_message(self.error_code, self.error_message)

    @property
    def is_final(self) -> bool:
        return not self.is_pending

    @cached_property
    def shown_previews(self) -> list[PreviewImage]:
        """The previews the service streamed so far (from prefetched rows when loaded)."""
        return list(self.previews.all()) if self.is_pending else []

    @property
    def latest_preview(self) -> PreviewImage | None:
        """What a pending card shows in place of a spinner, once the service sent one."""
        return self.shown_previews[-1] if self.shown_previews else None

    @property
    def poll_token(self) -> str:
        """What a pending card tells the gallery's poll it shows: its status, and how many
        previews once there are some (`running.2`), so that a new preview brings the card
        back as a new status does."""
        shown = len(self.shown_previews)
        return f"{self.status}.{shown}" if shown else self.status

    @property
    def elapsed_seconds(self) -> float:
        """How long the person has been waiting: since they pressed Start edit (the card
        counts on from it in the browser, static/js/gallery.js)."""
        return max(0.0, (timezone.now() - self.created_at).total_seconds())

    @property
    def typical_seconds(self) -> int | None:
        """The model's usual duration (an estimate from the catalogue); None for a model
        no longer in it."""
        model = MODELS.get(self.model)
        return model.typical_seconds if model else None

    @property
    def is_cancellable(self) -> bool:
        """Still waiting in line: nothing has been sent for it this round."""
        return self.status == Status.QUEUED

    @property
    def queue_seconds(self) -> float | None:
        if self.started_at:
            return (self.started_at - self.created_at).total_seconds()
        return None

    @property
    def run_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def ancestors(self, limit: int = 20) -> list[Edit]:
        """The edits this one was made from, oldest first (bounded: lineage is shown,
        not walked forever)."""
        chain = []
        current = self.parent
        while current is not None and len(chain) < limit:
            chain.append(current)
            current = current.parent
        return chain[::-1]

    def download_stem(self) -> str:
        """`2026-11-25-make-the-sky-stormy`: the date and what was asked, for file names."""
        slug = slugify(self.prompt)[:50].strip("-") or "edit"
        return f"{timezone.localdate(self.created_at).isoformat()}-{slug}"

    @property
    def attempt_limit(self) -> int:
        return settings.RETOUCH_MAX_ATTEMPTS

    @property
    def is_retrying(self) -> bool:
        """Waiting for an automatic retry after a failed attempt."""
        return self.status == Status.QUEUED and self.retries > 0


class Star(models.Model):
    """A person's bookmark on an edit, to find it again (the gallery's starred filter)."""

    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="stars")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edit", "user"], name="unique_star")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.edit_id}"

    @classmethod
    def toggle(cls, edit: Edit, user) -> bool:
        """Star the edit for this person, or unstar it; True when it is now starred."""
        deleted, _rows = cls.objects.filter(edit=edit, user=user).delete()
        if deleted:
            return False
        cls.objects.get_or_create(edit=edit, user=user)
        return True
