"""The interface language: the browser's choice (Django's LocaleMiddleware reads
Accept-Language and the language cookie), overridden by the one a signed-in person picked
with the header's switch, which is kept on their profile so it follows them to every
device. The session carries the profile's choice, so no page pays a query for it."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from .models import Profile

SESSION_KEY = "retouch_language"


def _supported(code: str | None) -> str | None:
    return code if code in dict(settings.LANGUAGES) else None


class ProfileLanguageMiddleware:
    """After LocaleMiddleware and authentication: a signed-in person's own choice wins over
    the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        code = _supported(request.session.get(SESSION_KEY)) if hasattr(request, "session") else None
        if code and request.user.is_authenticated:
            translation.activate(code)
            request.LANGUAGE_CODE = code
        return self.get_response(request)


@receiver(user_logged_in)
def carry_profile_language(sender, request, user, **kwargs):
    code = _supported(Profile.objects.filter(user=user).values_list("language", flat=True).first())
    if code and request is not None:
        request.session[SESSION_KEY] = code


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie, safe `next`), plus the profile for signed-in people."""
    response = set_language(request)
    code = _supported(request.POST.get("language"))
    if code and request.user.is_authenticated:
        Profile.objects.update_or_create(user=request.user, defaults={"language": code})
        request.session[SESSION_KEY] = code
    return response
