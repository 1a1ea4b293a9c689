from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from editor.teams.permissions import Action, can_change_edit, membership_for
from editor.teams.views import needs_first_admin

from .access import get_edit_for_user
from .forms import EditForm, GalleryFilterForm
from .models import Edit, Status
from .services import EditInProgress, create_edit, delete_edit, enqueue_edit
from .zipstream import stream_zip

PAGE_SIZE = 24
MAX_POLLED = 100


def _gallery_context(request: HttpRequest, membership) -> dict:
    filters = GalleryFilterForm(request.GET, team=membership.team)
    edits = Edit.objects.for_team(membership.team).matching(**filters.criteria()).for_gallery()
    page = Paginator(edits, PAGE_SIZE).get_page(request.GET.get("page"))
    return {"page": page, "filters": filters}


def home(request: HttpRequest) -> HttpResponse:
    if needs_first_admin():
        return redirect("setup")
    if not request.user.is_authenticated:
        return redirect_to_login(request)
    membership = membership_for(request)
    context = _gallery_context(request, membership)
    if request.htmx and request.htmx.target == "gallery":
        return render(request, "edits/home.html#gallery", context)
    if membership.can(Action.CREATE_EDIT):
        context["form"] = EditForm()
    return render(request, "edits/home.html", context)


def redirect_to_login(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.views import redirect_to_login as to_login

    return to_login(request.get_full_path())


@login_required
@require_GET
def model_options(request: HttpRequest) -> HttpResponse:
    """The option fields for the model just chosen (the form shows only those)."""
    form = EditForm(initial={"model": request.GET.get("model")})
    return render(request, "edits/home.html#options", {"form": form})


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    membership = membership_for(request)
    if not membership.can(Action.CREATE_EDIT):
        raise PermissionDenied("Viewers can look and download, but not start edits.")
    form = EditForm(request.POST, request.FILES)
    if not form.is_valid():
        if request.htmx:
            response = render(request, "edits/home.html#edit_form", {"form": form})
            return reswap(retarget(response, "#edit-form"), "outerHTML")
        context = _gallery_context(request, membership) | {"form": form}
        return render(request, "edits/home.html", context, status=400)
    edit = create_edit(
        membership=membership,
        model=form.cleaned_data["model"],
        prompt=form.cleaned_data["prompt"],
        params=form.params(),
        images=form.cleaned_data["images"],
        facts=form.image_facts,
        mask=form.cleaned_data.get("mask"),
    )
    if not request.htmx:
        return redirect("home")
    edit = Edit.objects.for_gallery().get(pk=edit.pk)
    return render(request, "edits/created.html", {"edit": edit, "form": EditForm()})


@login_required
@require_GET
def gallery_updates(request: HttpRequest) -> HttpResponse:
    """The gallery's single polling request.

    Each pending card on the page sends `pending=<id>:<status it shows>`; the answer
    holds only the cards whose status has changed, swapped out-of-band. The page stops
    polling by itself once no card is pending.
    """
    membership = membership_for(request)
    known: dict[int, str] = {}
    for item in request.GET.getlist("pending")[:MAX_POLLED]:
        pk, _, status = item.partition(":")
        if pk.isdigit():
            known[int(pk)] = status
    edits = list(Edit.objects.for_team(membership.team).for_gallery().filter(pk__in=known))
    changed = [e for e in edits if e.status != known.get(e.pk)]
    finished = [e for e in changed if e.is_final]
    return render(
        request,
        "edits/updates.html",
        {"changed": changed, "finished": finished},
    )


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    edit, membership = get_edit_for_user(request, pk)
    context = {
        "edit": edit,
        "sources": edit.sources.all(),
        "results": edit.results.all(),
        "can_create": membership.can(Action.CREATE_EDIT),
        "can_delete": can_change_edit(membership, edit),
    }
    if request.htmx and request.htmx.target == "edit-status":
        return render(request, "edits/detail.html#status", context)
    return render(request, "edits/detail.html", context)


@login_required
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    edit, _ = get_edit_for_user(request, pk, Action.CREATE_EDIT)
    if edit.status == Status.FAILED:
        edit.requeue()
        enqueue_edit(edit)
    if request.htmx:
        edit = Edit.objects.for_gallery().get(pk=edit.pk)
        return render(request, "edits/retried.html", {"edit": edit})
    return redirect("edit_detail", pk=edit.pk)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation page (what works without JavaScript). POST: delete. From
    a gallery card, htmx confirms in the browser and removes just that card."""
    edit, _ = get_edit_for_user(request, pk, Action.CHANGE_OWN_EDIT)
    if request.method == "GET":
        return render(request, "edits/delete.html", {"edit": edit})
    try:
        delete_edit(edit, by=request.user)
    except EditInProgress:
        messages.error(
            request, "This edit is being made right now. You can delete it once it has finished."
        )
        if request.htmx:
            return HttpResponseClientRedirect(reverse("edit_detail", args=[pk]))
        return redirect("edit_detail", pk=pk)
    if request.htmx and request.htmx.target == f"edit-{pk}":
        return render(request, "edits/deleted.html", {"edit": edit})
    messages.success(request, f"Deleted “{edit.prompt[:60]}”.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("home"))
    return redirect("home")


def _file_response(fieldfile, content_type: str, filename: str, attachment: bool):
    if not fieldfile:
        raise Http404
    try:
        handle = fieldfile.storage.open(fieldfile.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(
        handle, content_type=content_type, as_attachment=attachment, filename=filename
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def source_file(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    edit, _ = get_edit_for_user(request, pk)
    source = edit.sources.filter(position=position).first()
    if source is None:
        raise Http404
    return _file_response(
        source.file, source.content_type, source.original_name or "source", attachment=False
    )


@login_required
@require_GET
def mask_file(request: HttpRequest, pk: int) -> HttpResponse:
    edit, _ = get_edit_for_user(request, pk)
    return _file_response(edit.mask, "image/png", "mask.png", attachment=False)


def _result(request: HttpRequest, pk: int, position: int):
    edit, _ = get_edit_for_user(request, pk)
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
    return _file_response(result.thumbnail, "image/webp", "thumbnail.webp", attachment=False)


@login_required
@require_GET
def download_all(request: HttpRequest, pk: int) -> HttpResponse:
    edit, _ = get_edit_for_user(request, pk)
    results = list(edit.results.all())
    if not results:
        raise Http404("This edit has no results to download.")
    entries = []
    for result in results:
        result.edit = edit
        entries.append(
            (
                result.download_name(),
                lambda f=result.file: f.storage.open(f.name, "rb"),
                edit.finished_at or edit.created_at,
            )
        )
    response = StreamingHttpResponse(stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{edit.download_stem()}.zip"'
    return response
