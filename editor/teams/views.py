from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .forms import FirstAdminForm


def needs_first_admin() -> bool:
    return not get_user_model().objects.exists()


def setup(request: HttpRequest) -> HttpResponse:
    """Offered once, on a fresh database: create the first administrator."""
    if not needs_first_admin():
        raise Http404("Retouch is already set up.")
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # Two people racing through the form on a fresh install: only the first wins.
            if not needs_first_admin():
                raise Http404("Retouch is already set up.")
            user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "teams/setup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "teams/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        if needs_first_admin():
            return redirect("setup")
        return super().dispatch(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    pass
