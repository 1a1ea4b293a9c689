from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from editor.teams.models import Profile
from editor.teams.permissions import Action, can_change_edit, get_edit_for_user, membership_for
from editor.teams.views import needs_first_admin

from . import batches, limits, media
from .bulk import bulk_zip, result_entry
from .filters import GalleryFilterForm
from .forms import EditForm
from .models import Edit, Star, Status
from .services import EditInProgress, create_batch, create_edit, delete_edit, retry_edit
from .zipstream import stream_zip

PAGE_SIZE = 24
MAX_POLLED = 100


def _gallery_context(request: HttpRequest, membership) -> dict:
    filters = GalleryFilterForm(request.GET, team=membership.team, user=request.user)
    edits = Edit.objects.for_team(membership.team).matching(**filters.criteria())
    # A batch is one card: the first of its edits that match stands for it.
    edits = batches.one_card_per_batch(edits).for_gallery().with_star_for(request.user)
    page = edits.keyset_page(
        size=PAGE_SIZE, before=request.GET.get("before"), after=request.GET.get("after")
    )
    page.object_list = batches.with_batches(page.object_list)
    return {"page": page, "filters": filters}


def home(request: HttpRequest) -> HttpResponse:
    if needs_first_admin():
        return redirect("setup")
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    membership = membership_for(request)
    context = _gallery_context(request, membership)
    if request.htmx and request.htmx.target == "gallery":
        return render(request, "edits/home.html#gallery", context)
    if membership.can(Action.CREATE_EDIT):
        context["form"] = _starting_form(request, membership)
    return render(request, "edits/home.html", context)


def _starting_form(request: HttpRequest, membership) -> EditForm:
    """A blank form, or one that starts from an earlier result (`?from=<edit>&result=<n>`)
    or repeats an earlier edit's prompt and options (`?reuse=<edit>`)."""
    if request.GET.get("from"):
        return EditForm(base_result=_base_result(request, membership, request.GET))
    reuse = request.GET.get("reuse", "")
    if reuse.isdigit():
        earlier, _member = get_edit_for_user(request, int(reuse))
        return EditForm(
            initial={"prompt": earlier.prompt, "model": earlier.model, **earlier.params}
        )
    return EditForm()


def _base_result(request: HttpRequest, membership, data):
    """The earlier result a new edit starts from, or None. Only results of the current
    team qualify: a team's images never travel into another team's edits."""
    parent_id = data.get("parent") or data.get("from")
    if not parent_id:
        return None
    position = data.get("parent_result") or data.get("result") or "0"
    if not str(parent_id).isdigit() or not str(position).isdigit():
        raise Http404("No such result.")
    parent, _member = get_edit_for_user(request, int(parent_id))
    result = parent.results.filter(position=int(position)).first()
    if parent.team_id != membership.team_id or result is None:
        raise Http404("No such result.")
    result.edit = parent
    return result


@login_required
@require_GET
def model_options(request: HttpRequest) -> HttpResponse:
    """What the form shows for the model just chosen: its description, its options and,
    if it takes one, the mask. Asked for by the size picker (target ``size-check``), the
    verdict on the custom size typed so far, before anything is uploaded."""
    initial = {"model": request.GET.get("model")}
    for name in ("size", "size_width", "size_height"):
        if name in request.GET:
            initial[name] = request.GET[name]
    form = EditForm(initial=initial)
    if request.htmx and request.htmx.target == "size-check":
        return render(request, "edits/home.html#size_check", {"form": form})
    return render(request, "edits/home.html#model_parts", {"form": form})


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    membership = membership_for(request)
    if not membership.can(Action.CREATE_EDIT):
        raise PermissionDenied(membership.edit_refusal)
    # The limits first: someone over one costs no image checks at all. The form is shown
    # again with the words typed (no file is opened); nothing is stored or sent.
    refusal = limits.refusal_for_new_edit(
        membership.team, request.user, count=batches.starts_asked(request)
    )
    if refusal:
        return _refused(request, membership, EditForm(request.POST), refusal)
    base = _base_result(request, membership, request.POST)
    form = EditForm(request.POST, request.FILES, base_result=base)
    try:
        valid = form.is_valid()  # reads the earlier result it starts from, if any
    except media.STORAGE_ERRORS:
        return _storage_unavailable(request, membership, EditForm(request.POST))
    if not valid:
        if request.htmx:
            return _form_again(request, form)
        context = _gallery_context(request, membership) | {"form": form}
        return render(request, "edits/home.html", context, status=400)
    # "Apply to each photo separately" with several photos: one edit each, as a batch.
    each = form.applies_to_each and len(form.image_facts) > 1
    try:  # checked again and counted with the edit's rows, against concurrent starts
        edit = (create_batch if each else create_edit)(
            membership=membership,
            model=form.cleaned_data["model"],
            prompt=form.cleaned_data["prompt"],
            params=form.params(),
            images=_with_base(base, form.cleaned_data["images"]),
            facts=form.image_facts,
            mask=form.cleaned_data.get("mask"),
            parent=base.edit if base else None,
        )
    except limits.LimitReached as reached:
        return _refused(request, membership, form, reached.refusal)
    except (media.StorageUnavailable, *media.STORAGE_ERRORS):  # nothing was stored
        return _storage_unavailable(request, membership, form)
    if not request.htmx:
        return redirect("home")
    if each:
        return batches.created(request, edit)
    # Nobody has starred an edit that did not exist a moment ago, and it has no results
    # or previews yet: its card needs no query.
    edit.is_starred, edit.first_result, edit.shown_previews = False, None, []
    return render(request, "edits/created.html", {"edit": edit, "form": EditForm()})


def _form_again(request: HttpRequest, form: EditForm) -> HttpResponse:
    response = render(request, "edits/home.html#edit_form", {"form": form})
    return reswap(retarget(response, "#edit-form"), "outerHTML")


def _storage_unavailable(request: HttpRequest, membership, form: EditForm) -> HttpResponse:
    """The media storage cannot be reached or refused the photos: said like a limit's
    refusal, with 503 and Retry-After."""
    unavailable = limits.Refusal(media.unavailable_message(), 503, media.retry_at())
    return _refused(request, membership, form, unavailable)


def _refused(request: HttpRequest, membership, form: EditForm, refusal) -> HttpResponse:
    """A limit refused the edit: said next to the form like a validation error."""
    form.errors.clear()  # whatever else is wrong does not matter now
    form.add_error(None, refusal.message)
    if request.htmx:
        return _form_again(request, form)
    context = _gallery_context(request, membership) | {"form": form}
    response = render(request, "edits/home.html", context, status=refusal.status)
    return refusal.annotate(response)


@login_required
@require_GET
def gallery_updates(request: HttpRequest) -> HttpResponse:
    """The gallery's single polling request.

    Each pending card on the page sends `pending=<id>:<status>[.<previews>]` (what it
    shows: its status and how many previews the service has streamed, `Edit.poll_token`);
    the answer holds only the cards whose status changed or that have a new preview,
    swapped out-of-band. The page stops polling by itself once no card is pending.
    """
    membership = membership_for(request)
    known = batches.shown_tokens(request, "pending", MAX_POLLED)
    # By id: found by their ids whatever the team's history (the gallery's order would
    # lead the database to walk the team's edits newest first instead).
    edits = list(
        Edit.objects.for_team(membership.team)
        .for_gallery()
        .with_star_for(request.user)
        .filter(pk__in=known)
        .order_by("pk")
    )
    changed = [e for e in edits if e.poll_token != known.get(e.pk)]
    finished = [e for e in changed if e.is_final]
    changed_batches = batches.changed_batches(request, membership)
    return render(
        request,
        "edits/updates.html",
        {
            "changed": changed,
            "finished": finished,
            "changed_batches": changed_batches,
            "finished_batches": [b for b in changed_batches if not b.is_pending],
        },
    )


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    edit, membership = get_edit_for_user(request, pk)
    edit.is_starred = edit.stars.filter(user=request.user).exists()
    context = _detail_context(edit, membership) | {
        "can_delete": can_change_edit(membership, edit),
        "ancestors": edit.ancestors(),
        "children": edit.children.select_related("created_by").order_by("created_at"),
    }
    if request.htmx and request.htmx.target == "edit-status":
        return render(request, "edits/detail.html#status", context)
    return render(request, "edits/detail.html", context)


def _detail_context(edit: Edit, membership) -> dict:
    """What the detail page's `status` partial shows (the results grid among it)."""
    return {
        "edit": edit,
        "sources": edit.sources.all(),
        "results": edit.results.all(),
        "can_create": membership.can(Action.CREATE_EDIT),
        "can_pick": membership.can(Action.PICK_RESULT),
        "can_retry": can_change_edit(membership, edit),
    }


@login_required
@require_POST
def pick(request: HttpRequest, pk: int) -> HttpResponse:
    """Make one of an edit's results (`position`) the team's pick, or clear the pick
    (no position). Editors and owners, on any edit of the team: it chooses among the
    results, it changes nobody's work. htmx gets the detail page's results back."""
    edit, membership = get_edit_for_user(request, pk, Action.PICK_RESULT)
    position = request.POST.get("position", "")
    result = None
    if position:
        result = edit.results.filter(position=position).first() if position.isdigit() else None
        if result is None:
            raise Http404("No such result.")
    edit.pick(result, by=request.user)
    if request.htmx:
        return render(request, "edits/detail.html#status", _detail_context(edit, membership))
    return redirect(_safe_next(request, reverse("edit_detail", args=[edit.pk])))


@login_required
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    # Retrying follows the delete rule: editors their own edits, owners anyone's.
    edit, _member = get_edit_for_user(request, pk, Action.CHANGE_OWN_EDIT)
    if edit.status == Status.FAILED:
        try:
            retry_edit(edit, by=request.user)
        except limits.LimitReached as reached:
            return limits.retry_refused(
                request, reached.refusal, reverse("edit_detail", args=[edit.pk])
            )
    if request.htmx:
        edit = Edit.objects.for_gallery().with_star_for(request.user).get(pk=edit.pk)
        return render(request, "edits/retried.html", {"edit": edit})
    return redirect("edit_detail", pk=edit.pk)


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw an edit still waiting in line (the retry rule: editors their own, owners
    anyone's). One that has started meanwhile is left to finish, and the card says so."""
    edit, _member = get_edit_for_user(request, pk, Action.CHANGE_OWN_EDIT)
    if edit.is_cancellable and not edit.cancel(by=request.user):
        messages.info(request, _("This edit had already started, so it was not cancelled."))
    if request.htmx:
        edit = Edit.objects.for_gallery().with_star_for(request.user).get(pk=edit.pk)
        return render(request, "edits/home.html#card", {"edit": edit})
    return redirect(_safe_next(request, reverse("home")))


@login_required
@require_POST
def more_options(request: HttpRequest) -> HttpResponse:
    """Remember whether this person keeps the form's "More options" open (`open=1`):
    on the profile, so the server draws the form that way on every device and after
    every swap (a model change redraws that part)."""
    Profile.remember_more_options(request.user, request.POST.get("open") == "1")
    if request.htmx:
        return HttpResponse(status=204)
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation page (what works without JavaScript). POST: delete. From
    a gallery card, htmx confirms in the browser and removes just that card."""
    edit, _member = get_edit_for_user(request, pk, Action.CHANGE_OWN_EDIT)
    if request.method == "GET":
        return render(request, "edits/delete.html", {"edit": edit})
    try:
        delete_edit(edit, by=request.user)
    except EditInProgress:
        messages.error(
            request,
            _("This edit is being made right now. You can delete it once it has finished."),
        )
        if request.htmx:
            return HttpResponseClientRedirect(reverse("edit_detail", args=[pk]))
        return redirect("edit_detail", pk=pk)
    if request.htmx and request.htmx.target == f"edit-{pk}":
        return render(request, "edits/deleted.html", {"edit": edit})
    messages.success(request, _("Deleted “%(prompt)s”.") % {"prompt": edit.prompt[:60]})
    if request.htmx:
        return HttpResponseClientRedirect(reverse("home"))
    return redirect("home")


def _file_response(fieldfile, content_type: str, filename: str, attachment: bool):
    """Streamed, or a redirect to a presigned URL of the bucket (media.file_response)."""
    return media.file_response(fieldfile, content_type, filename, attachment=attachment)


@login_required
@require_GET
def source_file(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    edit, _member = get_edit_for_user(request, pk)
    source = edit.sources.filter(position=position).first()
    if source is None:
        raise Http404
    return _file_response(
        source.file, source.content_type, source.original_name or "source", attachment=False
    )


@login_required
@require_GET
def mask_file(request: HttpRequest, pk: int) -> HttpResponse:
    edit, _member = get_edit_for_user(request, pk)
    return _file_response(edit.mask, "image/png", "mask.png", attachment=False)


def _result(request: HttpRequest, pk: int, position: int):
    edit, _member = get_edit_for_user(request, pk)
    result = edit.results.filter(position=position).first()
    if result is None:
        raise Http404
    result.edit = edit
    return result


@login_required
@require_GET
def result_file(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    result = _result(request, pk, position)
    return _file_response(
        result.file, result.content_type, result.download_name(), attachment=False
    )


@login_required
@require_GET
def result_download(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    result = _result(request, pk, position)
    return _file_response(result.file, result.content_type, result.download_name(), True)


@login_required
@require_GET
def result_thumbnail(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    result = _result(request, pk, position)
    if result.ensure_thumbnail():
        return _file_response(result.thumbnail, "image/webp", "thumbnail.webp", attachment=False)
    # Nothing to shrink: the browser gets the result as the service sent it.
    return _file_response(
        result.file, result.content_type, result.download_name(), attachment=False
    )


@login_required
@require_GET
def download_all(request: HttpRequest, pk: int) -> HttpResponse:
    """The edit's results as one zip: the pick alone when there is one, unless `?all=1`."""
    edit, _member = get_edit_for_user(request, pk)
    results = edit.results_to_download(everything=_wants_all(request))
    if not results:
        raise Http404("This edit has no results to download.")
    for result in results:
        result.edit = edit
    entries = [result_entry(edit, result, result.download_name()) for result in results]
    response = StreamingHttpResponse(stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{edit.download_stem()}.zip"'
    return response


@login_required
@require_POST
def star(request: HttpRequest, pk: int) -> HttpResponse:
    """Star or unstar an edit: a personal bookmark, so viewers may star too."""
    edit, _member = get_edit_for_user(request, pk)
    edit.is_starred = Star.toggle(edit, request.user)
    if request.htmx:
        return render(request, "edits/home.html#star", {"edit": edit})
    return redirect(_safe_next(request, reverse("edit_detail", args=[edit.pk])))


def _wants_all(request: HttpRequest) -> bool:
    """`?all=1`: every result of the edits, not only their picks."""
    return request.GET.get("all") in ("1", "on", "true")


def _safe_next(request: HttpRequest, fallback: str) -> str:
    """The page a form asks to return to, if it is a page of this site; else `fallback`.
    (Sign-in's `next` is checked the same way by Django's LoginView.)"""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


MAX_BULK = 200


@login_required
@require_GET
def download_selected(request: HttpRequest) -> HttpResponse:
    """The results of the chosen edits of the current team in one streamed zip, with a
    manifest.csv that says how each file was made: of an edit with a pick, the pick
    alone, unless `all=1` (the bulk form's checkbox)."""
    membership = membership_for(request)
    ids = [int(i) for i in request.GET.getlist("ids")[:MAX_BULK] if i.isdigit()]
    edits = list(
        Edit.objects.for_team(membership.team)
        .filter(pk__in=ids, status=Status.SUCCEEDED)
        .select_related("created_by")
        .prefetch_related("results")
        .order_by("created_at", "pk")
    )
    if not edits:
        messages.error(request, _("Select at least one finished edit to download."))
        return redirect("home")
    zipped = bulk_zip(edits, everything=_wants_all(request))
    response = StreamingHttpResponse(zipped, content_type="application/zip")
    name = f"retouch-{timezone.localdate().isoformat()}-{len(edits)}-edits.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _with_base(base, uploads: list) -> list:
    """The uploads, after the earlier result when the edit starts from one (its file
    is copied: deleting the earlier edit never breaks this one)."""
    if base is None:
        return uploads
    copy = File(
        base.file.open("rb"),
        name=f"{base.edit.download_stem()}-{base.position + 1}.{base.extension}",
    )
    return [copy, *uploads]
