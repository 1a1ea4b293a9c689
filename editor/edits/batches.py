"""Batches in the gallery and on their own page: one card per batch with its progress
and its results filling in, the batch page listing its edits, and the actions on the
whole batch (retry the failed ones, download all as one zip, delete).

Each batch card tells the gallery's single poll (views.gallery_updates) what it shows
as `batch=<id>:<queued>.<running>.<succeeded>.<failed>`; the poll answers with the
cards whose counts changed, in a fixed number of queries whatever the batches' sizes.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from editor.teams.permissions import Action, get_batch_for_user

from . import limits
from .bulk import bulk_zip
from .forms import EACH, EditForm
from .models import Batch, Edit, EditQuerySet, Status
from .services import EditInProgress, delete_batch, retry_batch

MAX_POLLED_BATCHES = 50


def starts_asked(request: HttpRequest) -> int:
    """How many edits a posted form would start, counted before any photo is checked:
    one, or one per photo (and the earlier result it starts from) for "each"."""
    if request.POST.get("apply_to") != EACH:
        return 1
    photos = len(request.FILES.getlist("images")) + bool(request.POST.get("parent"))
    return max(1, photos)


def one_card_per_batch(edits: EditQuerySet) -> EditQuerySet:
    """The edits a gallery lists: every edit outside a batch, and for each batch the
    first of its edits among `edits` (so filters and search find batches by their
    edits), which the card of its batch stands in for.

    "First" is asked of each batch edit a page reaches (no earlier edit of its batch
    among `edits`), through the batch's index: a page costs the same however long the
    team's history, where grouping every batch of the team would not."""
    earlier = edits.filter(batch=OuterRef("batch"), pk__lt=OuterRef("pk"))
    return edits.filter(Q(batch__isnull=True) | ~Exists(earlier))


def _with_edits(batches) -> list[Batch]:
    """Batches with their progress and every edit's card contents, in a fixed number of
    queries (the batches, their edits, the edits' results and previews)."""
    edits = Edit.objects.for_gallery().order_by("pk")
    return list(
        batches.with_progress().prefetch_related(Prefetch("edits", edits, to_attr="gallery_edits"))
    )


def with_batches(edits: list[Edit]) -> list[Edit]:
    """Give each edit that stands for a batch its batch (`edit.gallery_batch`), loaded
    for the card."""
    ids = {edit.batch_id for edit in edits if edit.batch_id}
    if ids:
        loaded = {batch.pk: batch for batch in _with_edits(Batch.objects.filter(pk__in=ids))}
        for edit in edits:
            edit.gallery_batch = loaded.get(edit.batch_id)
    return edits


def shown_tokens(request: HttpRequest, name: str, limit: int) -> dict[int, str]:
    """What the polling page says it shows: `<name>=<id>:<token>` parameters, as
    {id: token}, at most `limit` of them."""
    known: dict[int, str] = {}
    for item in request.GET.getlist(name)[:limit]:
        pk, _sep, shown = item.partition(":")
        if pk.isdigit():
            known[int(pk)] = shown
    return known


def changed_batches(request: HttpRequest, membership) -> list[Batch]:
    """The batch cards whose counts differ from what the page shows (`batch=` tokens)."""
    known = shown_tokens(request, "batch", MAX_POLLED_BATCHES)
    if not known:
        return []
    # The counts first (one query); the cards' contents only for those that changed.
    counted = Batch.objects.for_team(membership.team).filter(pk__in=known).with_progress()
    changed = [batch.pk for batch in counted if batch.poll_token != known[batch.pk]]
    if not changed:
        return []
    return _with_edits(Batch.objects.filter(pk__in=changed))


def created(request: HttpRequest, batch: Batch) -> HttpResponse:
    """The htmx answer to a form that started a batch: its card, and a fresh form."""
    (loaded,) = _with_edits(Batch.objects.filter(pk=batch.pk))
    return render(request, "edits/batch.html#created", {"batch": loaded, "form": EditForm()})


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The batch page: its progress, the actions on the whole batch, and each of its
    edits as a card (polled like the gallery's), each linking to its own page."""
    batch, membership = get_batch_for_user(request, pk)
    batch = Batch.objects.with_progress().get(pk=batch.pk)
    edits = batch.edits.for_gallery().with_star_for(request.user).order_by("pk")
    context = {"batch": batch, "edits": edits, "membership": membership}
    return render(request, "edits/batch.html", context)


@login_required
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Retry every failed edit of the batch: editors their own batches, owners any."""
    batch, _member = get_batch_for_user(request, pk, Action.CHANGE_OWN_EDIT)
    try:
        count = retry_batch(batch, by=request.user)
    except limits.LimitReached as reached:
        return limits.retry_refused(
            request, reached.refusal, reverse("batch_detail", args=[batch.pk])
        )
    if request.htmx:
        (loaded,) = _with_edits(Batch.objects.filter(pk=batch.pk))
        return render(request, "edits/batch.html#card", {"batch": loaded})
    if count:
        messages.success(
            request,
            ngettext(
                "Trying %(count)s failed edit again.", "Trying %(count)s failed edits again.", count
            )
            % {"count": count},
        )
    return redirect("batch_detail", pk=batch.pk)


@login_required
@require_GET
def download(request: HttpRequest, pk: int) -> HttpResponse:
    """The results of the batch's finished edits in one streamed zip with a
    manifest.csv (bulk.py), as the gallery's "Download selected" makes it."""
    batch, _member = get_batch_for_user(request, pk)
    edits = list(
        batch.edits.filter(status=Status.SUCCEEDED)
        .select_related("created_by")
        .prefetch_related("results")
        .order_by("pk")
    )
    if not edits:
        raise Http404("No edit of this batch has finished yet.")
    response = StreamingHttpResponse(bulk_zip(edits), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{batch.download_stem()}.zip"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation page (without JavaScript). POST: delete the batch and all
    its edits, refused whole while one of them is being made."""
    batch, _member = get_batch_for_user(request, pk, Action.CHANGE_OWN_EDIT)
    if request.method == "GET":
        batch = Batch.objects.with_progress().get(pk=batch.pk)
        return render(request, "edits/batch_delete.html", {"batch": batch})
    try:
        count = delete_batch(batch, by=request.user)
    except EditInProgress:
        messages.error(
            request,
            _(
                "Some edits of this batch are being made right now. You can delete the batch "
                "once they have finished."
            ),
        )
        if request.htmx:
            return HttpResponseClientRedirect(reverse("batch_detail", args=[pk]))
        return redirect("batch_detail", pk=pk)
    if request.htmx and request.htmx.target == f"batch-{pk}":
        return render(request, "edits/batch.html#deleted", {"batch": batch, "count": count})
    deleted = ngettext(
        "Deleted the batch “%(prompt)s” (%(count)s edit).",
        "Deleted the batch “%(prompt)s” (%(count)s edits).",
        count,
    )
    messages.success(request, deleted % {"prompt": batch.prompt[:60], "count": count})
    if request.htmx:
        return HttpResponseClientRedirect(reverse("home"))
    return redirect("home")
