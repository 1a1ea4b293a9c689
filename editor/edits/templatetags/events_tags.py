"""`{% events_url %}`: the address of a page's event stream (editor/edits/stream.py), for
its `sse-connect` attribute: the team's gallery, or `edit=edit` / `batch=batch`."""

from datetime import timedelta
from urllib.parse import urlencode

from django import template
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from editor.edits.models import Change

register = template.Library()

# The page's queries ran before this tag does: changes of the last few seconds may or
# may not be in what it shows, so its stream starts before them (a change heard twice
# costs one extra update request; a change missed would leave a card behind).
MARGIN = timedelta(seconds=5)


@register.simple_tag
def events_url(edit=None, batch=None) -> str:
    settled = Change.objects.filter(at__lt=timezone.now() - MARGIN)
    query = {"since": settled.aggregate(newest=Max("pk"))["newest"] or 0}
    if edit is not None:
        query["edit"] = edit.pk
    elif batch is not None:
        query["batch"] = batch.pk
    return f"{reverse('events')}?{urlencode(query)}"
