"""The plain words of every failure: stored in English, shown in the reader's language.

An edit that fails keeps its message on its row in English (``Edit.error_message``: CSV
exports and logs read it). Each message is built from *pieces*, whole sentences marked for
translation (``gettext_noop``, so building one never depends on the active language), joined
with spaces: a category's sentences, the promise of another attempt (``TRY_AGAIN``, dropped
once Retouch gives up) and sentences with numbers or names in them (``Pattern``: "Retouch
tried 3 times…"). ``translate_stored`` reads a stored message back into its pieces and says
each in the active language, so a page shows it in the reader's language.

Only ``django.utils.translation``: nothing here is translated at import time (the settings
import the catalogue of models), and a message is only translated when it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from django.utils.translation import gettext, gettext_noop, ngettext, override, pgettext

TRY_AGAIN = gettext_noop("Retouch will try again shortly.")
ADMIN_KEY = gettext_noop("An administrator must check OPENAI_API_KEY.")
CHECK_BASE_URL = gettext_noop("An administrator must check OPENAI_BASE_URL.")

# Categories, each with the pieces of its user-facing message and whether another attempt
# can help. The message must never promise a retry that ``retryable`` does not allow.
CATEGORIES: dict[str, tuple[tuple[str, ...], bool]] = {
    "bad_request": (
        (
            gettext_noop(
                "The image service could not accept this edit. Check the images, the mask "
                "and the settings, then try again."
            ),
        ),
        False,
    ),
    "bad_mask": (
        (
            gettext_noop(
                "The image service did not accept the mask. Paint the area to change again "
                "(the mask must be the same size as the first image) and try again."
            ),
        ),
        False,
    ),
    "bad_image": (
        (
            gettext_noop(
                "The image service did not accept one of the images. Try a different PNG, "
                "JPEG or WebP image."
            ),
        ),
        False,
    ),
    "bad_prompt": (
        (
            gettext_noop(
                "The image service did not accept the description. Change it and try again."
            ),
        ),
        False,
    ),
    "bad_setting": (
        (
            gettext_noop(
                "The image service did not accept one of the settings for this model. Choose "
                "different settings and try again."
            ),
        ),
        False,
    ),
    "moderation": (
        (
            gettext_noop(
                "The image service's safety system refused this edit. Try a different "
                "description or image."
            ),
        ),
        False,
    ),
    "token_mismatched": (
        (
            gettext_noop("The image service says Retouch's API key is not meant for image edits."),
            ADMIN_KEY,
        ),
        False,
    ),
    "api_not_implemented": (
        (
            gettext_noop("The image service does not offer image edits at the configured address."),
            CHECK_BASE_URL,
        ),
        False,
    ),
    "invalid_token": (
        (gettext_noop("The image service did not accept Retouch's API key."), ADMIN_KEY),
        False,
    ),
    "forbidden": (
        (
            gettext_noop(
                "The image service does not allow this account to use this model. Try another "
                "model, or ask an administrator to check the account."
            ),
        ),
        False,
    ),
    "not_found": (
        (
            gettext_noop("The image service does not know the address Retouch is configured with."),
            CHECK_BASE_URL,
        ),
        False,
    ),
    "payload_too_large": (
        (
            gettext_noop(
                "The images are too large for the image service. Use smaller images and try again."
            ),
        ),
        False,
    ),
    "rate_limited": (
        (gettext_noop("The image service is busy right now (too many requests)."), TRY_AGAIN),
        True,
    ),
    "insufficient_quota": (
        (
            gettext_noop(
                "The image service account has used up its quota or credit. An administrator "
                "must add credit before edits can run again."
            ),
        ),
        False,
    ),
    "server_error": (
        (gettext_noop("The image service had an internal problem."), TRY_AGAIN),
        True,
    ),
    "unavailable": (
        (gettext_noop("The image service is unavailable right now."), TRY_AGAIN),
        True,
    ),
    "gateway_timeout": (
        (
            gettext_noop("The image service took too long to finish this edit."),
            TRY_AGAIN,
            gettext_noop(
                "If this keeps happening, an administrator can switch Retouch to callback "
                "mode, which does not wait on an open connection."
            ),
        ),
        True,
    ),
    "timeout": (
        (gettext_noop("The image service did not answer in time."), TRY_AGAIN),
        True,
    ),
    "connect_error": (
        (gettext_noop("Retouch could not reach the image service."), TRY_AGAIN),
        True,
    ),
    "connection_lost": (
        (
            gettext_noop(
                "The connection to the image service broke off before the answer arrived."
            ),
            TRY_AGAIN,
        ),
        True,
    ),
    "malformed_response": (
        (gettext_noop("The image service sent an answer Retouch could not read."), TRY_AGAIN),
        True,
    ),
    "download_failed": (
        (
            gettext_noop("Retouch could not download the finished image from the image service."),
            TRY_AGAIN,
        ),
        True,
    ),
    # A refused host will be refused next time too: fail the edit rather than retry.
    "result_host_refused": (
        (
            gettext_noop(
                "The image service returned a result at an address Retouch does not download "
                "from, so the edit cannot finish. An administrator can check "
                "RETOUCH_RESULT_HOSTS."
            ),
        ),
        False,
    ),
    "too_large": (
        (
            gettext_noop(
                "The finished image is larger than Retouch accepts, so it was not downloaded. "
                "Try fewer results or a smaller size."
            ),
        ),
        False,
    ),
    "unknown_client_error": (
        (
            gettext_noop(
                "The image service refused this edit. Check the images and settings, then try "
                "again."
            ),
        ),
        False,
    ),
    "unknown_server_error": (
        (gettext_noop("The image service failed to finish this edit."), TRY_AGAIN),
        True,
    ),
    "unknown_failure": (
        (gettext_noop("The image service could not finish this edit."),),
        False,
    ),
}

# For an address ``requests`` cannot even use: no attempt will ever reach the service.
INVALID_ADDRESS_PIECES = (
    gettext_noop("The image service address is not valid."),
    CHECK_BASE_URL,
)


def english(pieces: Iterable[str]) -> str:
    """The stored form of a message: its pieces in English, one space between them."""
    return " ".join(pieces)


def without_retry(pieces: Iterable[str]) -> tuple[str, ...]:
    """The pieces of a message for an edit Retouch has stopped retrying."""
    return tuple(piece for piece in pieces if piece != TRY_AGAIN)


# -- sentences with values in them ----------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")


@dataclass(frozen=True, eq=False)
class Pattern:
    """A sentence with values in it, such as "Retouch tried %(count)d times; …".

    ``template(n)`` returns the sentence, placeholders and all, in the active language, in the
    plural form for ``n`` (write it with ``ngettext`` or ``gettext``, so makemessages finds
    the words); ``number`` names the placeholder that picks the form. ``english`` builds the
    stored text, ``translate`` reads a stored sentence back in the active language.
    """

    template: Callable[[int], str]
    number: str | None = None

    def english(self, **values: object) -> str:
        with override("en"):
            return self.template(self._count(values)) % values

    def translate(self, text: str) -> str | None:
        for regex in self._regexes:
            match = regex.fullmatch(text)
            if match:
                values: dict[str, object] = dict(match.groupdict())
                for name, kind in _PLACEHOLDER.findall(regex.pattern_source):
                    if kind == "d":
                        values[name] = int(str(values[name]))
                return self.template(self._count(values)) % values
        return None

    def _count(self, values: dict[str, object]) -> int:
        value = values.get(self.number, 1) if self.number else 1
        return value if isinstance(value, int) else 1

    @cached_property
    def _regexes(self) -> tuple[_Regex, ...]:
        # The English forms, exactly as ``english`` writes them (1 and 2 cover both of
        # English's plural forms).
        with override("en"):
            forms = dict.fromkeys(self.template(n) for n in ((1, 2) if self.number else (1,)))
        return tuple(_Regex(form) for form in forms)


class _Regex:
    """A template as a regular expression: each %(name)d a number, each %(name)s any text."""

    def __init__(self, template: str) -> None:
        self.pattern_source = template
        parts, last = [], 0
        for match in _PLACEHOLDER.finditer(template):
            parts.append(re.escape(template[last : match.start()]))
            name, kind = match.groups()
            parts.append(f"(?P<{name}>[0-9]+)" if kind == "d" else f"(?P<{name}>.+?)")
            last = match.end()
        parts.append(re.escape(template[last:]))
        self._regex = re.compile("".join(parts), re.DOTALL)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self._regex.fullmatch(text)


def _tried(count: int) -> str:
    return ngettext(
        "Retouch tried %(count)d time; press Retry to try again later.",
        "Retouch tried %(count)d times; press Retry to try again later.",
        count,
    )


# What follows the message of an edit Retouch gave up retrying.
TRIED = Pattern(_tried, number="count")

_PATTERNS: list[Pattern] = [TRIED]


def register_pattern(pattern: Pattern) -> Pattern:
    """Let ``translate_stored`` read sentences of ``pattern`` in stored messages (for the
    app's own composed messages); returns ``pattern``. Register it in a module every process
    imports (the models), not only the worker's."""
    if pattern not in _PATTERNS:
        _PATTERNS.append(pattern)
    return pattern


# -- reading a stored message back ----------------------------------------------------------

# Where one piece may end and the next begin: after a sentence's full stop (or ? or !).
_BOUNDARY = re.compile(r"(?<=[.!?])\s+")
_MAX_BOUNDARIES = 40


def translate_stored(stored: str) -> str | None:
    """``stored`` in the active language, piece by piece, or None when some part of it is
    no message Retouch knows (or has no translation)."""
    boundaries = list(_BOUNDARY.finditer(stored))
    if len(boundaries) > _MAX_BOUNDARIES:
        return None
    starts = [0, *(b.end() for b in boundaries)]
    ends = [*(b.start() for b in boundaries), len(stored)]
    # rest[i]: the translated pieces from starts[i] to the end (None: not all known), each
    # piece as long as it can be, so a whole message of the catalogue wins over its parts.
    rest: list[list[str] | None] = [None] * len(starts) + [[]]
    for i in reversed(range(len(starts))):
        for j in reversed(range(i, len(starts))):
            tail = rest[j + 1]
            if tail is None:
                continue
            piece = translate_piece(stored[starts[i] : ends[j]])
            if piece is not None:
                rest[i] = [piece, *tail]
                break
    pieces = rest[0]
    return join(pieces) if pieces else None


def translate_piece(text: str) -> str | None:
    """One piece in the active language: a sentence with values (``Pattern``), or a message
    of the catalogue; None when it is neither."""
    for pattern in _PATTERNS:
        translated = pattern.translate(text)
        if translated is not None:
            return translated
    translated = gettext(text)
    return translated if translated != text else None


def join(pieces: Iterable[str]) -> str:
    """Translated pieces as one message, joined the way the active language joins sentences
    (English with a space, Chinese without)."""
    joined = ""
    for piece in pieces:
        if not joined:
            joined = piece
        else:
            joined = pgettext("joins two sentences of one message", "%(first)s %(second)s") % {
                "first": joined,
                "second": piece,
            }
    return joined


def translate_pieces(pieces: Iterable[str]) -> str:
    """A message's pieces (English msgids) in the active language."""
    return join(gettext(piece) for piece in pieces)
