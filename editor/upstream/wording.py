"""Lists in a sentence ("A, B or C"), in the active language: the model catalogue and the
request checks name choices this way."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import pgettext


def comma_list(items: Iterable[object]) -> str:
    """``A, B, C`` (items may be lazy labels)."""
    listed = ""
    for item in items:
        if not listed:
            listed = str(item)
        else:
            listed = pgettext("a list", "%(list)s, %(item)s") % {"list": listed, "item": item}
    return listed


def or_list(items: Iterable[object]) -> str:
    """``A, B or C``."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return pgettext("a list of choices", "%(list)s or %(item)s") % {
        "list": comma_list(words[:-1]),
        "item": words[-1],
    }
