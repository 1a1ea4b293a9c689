from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from editor.edits import health

urlpatterns = [
    path("admin/", admin.site.urls),
    # For load balancers and monitors; answered by health.AnswerHealthChecks before the
    # other middleware, routed here too so that it exists without it.
    path("healthz", health.healthz, name="healthz"),
    # The static scripts' strings (djangojs catalogue) in the page's language.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("editor.teams.urls")),
    path("", include("editor.edits.urls")),
]
