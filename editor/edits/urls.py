from django.urls import path

from . import batches, spend, stream, usage, views, webhooks

urlpatterns = [
    path("", views.home, name="home"),
    path("edits/new/", views.create, name="edit_create"),
    path("edits/options/", views.model_options, name="edit_options"),
    path("edits/updates/", views.gallery_updates, name="gallery_updates"),
    # The same updates pushed as they happen (server-sent events; ASGI only).
    path("events/", stream.events, name="events"),
    path("edits/more-options/", views.more_options, name="edit_more_options"),
    path("usage/", usage.team_usage, name="usage"),
    path("staff/spend/", spend.staff_spend, name="staff_spend"),
    path("batches/<int:pk>/", batches.detail, name="batch_detail"),
    path("batches/<int:pk>/retry/", batches.retry, name="batch_retry"),
    path("batches/<int:pk>/download/", batches.download, name="batch_download"),
    path("batches/<int:pk>/delete/", batches.delete, name="batch_delete"),
    path("edits/download/", views.download_selected, name="edits_download_selected"),
    path("edits/<int:pk>/", views.detail, name="edit_detail"),
    path("edits/<int:pk>/retry/", views.retry, name="edit_retry"),
    path("edits/<int:pk>/cancel/", views.cancel, name="edit_cancel"),
    path("edits/<int:pk>/star/", views.star, name="edit_star"),
    path("edits/<int:pk>/pick/", views.pick, name="edit_pick"),
    # The gateway's callback (callback delivery mode); the token is the secret.
    path("hooks/edits/<int:pk>/<str:token>/", webhooks.edit_callback, name="edit_callback"),
    path("edits/<int:pk>/delete/", views.delete, name="edit_delete"),
    path("edits/<int:pk>/download/", views.download_all, name="edit_download_all"),
    path("edits/<int:pk>/mask/", views.mask_file, name="edit_mask"),
    path("edits/<int:pk>/sources/<int:position>/", views.source_file, name="edit_source"),
    path("edits/<int:pk>/results/<int:position>/", views.result_file, name="edit_result"),
    path(
        "edits/<int:pk>/results/<int:position>/download/",
        views.result_download,
        name="edit_result_download",
    ),
    path(
        "edits/<int:pk>/results/<int:position>/thumbnail/",
        views.result_thumbnail,
        name="edit_result_thumbnail",
    ),
]
