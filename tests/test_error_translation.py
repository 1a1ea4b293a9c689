"""An edit's error message: stored in English, shown in the reader's language.

The image service's failures (``editor.upstream.errors``) become an English message on the
edit (``Edit.error_message``, which CSV exports and logs read), whatever language the page
that caused them was in; ``translated_message`` says it again in the active language, piece
by piece: the category's sentences, the promise of another attempt, "Retouch tried 3 times".
"""

from __future__ import annotations

from dataclasses import replace

import requests
from django.utils.functional import lazy
from django.utils.translation import override

from editor.upstream import check_size, get_model
from editor.upstream import error_messages as em
from editor.upstream.errors import UpstreamError, error_from_http, translated_message
from editor.upstream.modelspec import entry_problems
from editor.upstream.transport import network_error

RATE_LIMITED = (
    "The image service is busy right now (too many requests). Retouch will try again shortly."
)
SERVER_ERROR_GAVE_UP = (
    "The image service had an internal problem. Retouch tried 3 times; press Retry to try "
    "again later."
)


def rate_limited() -> UpstreamError:
    return error_from_http(429, {}, b'{"error": {"code": "too_many_requests"}}')


def server_error() -> UpstreamError:
    return error_from_http(500, {}, b'{"error": {"code": "api_error", "message": "x"}}')


# -- English: what is stored, and what an English page shows ----------------------------------


def test_messages_are_built_from_their_pieces_in_english():
    assert rate_limited().message == RATE_LIMITED
    err = server_error()
    assert err.retryable
    assert err.gave_up_message(3) == SERVER_ERROR_GAVE_UP
    assert err.gave_up_message(1).endswith("Retouch tried 1 time; press Retry to try again later.")
    quota = error_from_http(429, {}, b'{"error": {"code": "insufficient_quota"}}')
    assert not quota.retryable
    assert quota.gave_up_message(3) == quota.message  # nothing to give up on


def test_every_category_reads_back_unchanged_in_english():
    for pieces, _retryable in em.CATEGORIES.values():
        message = em.english(pieces)
        assert translated_message("any_code", message) == message
        final = em.english((em.english(em.without_retry(pieces)), em.TRIED.english(count=2)))
        assert translated_message("any_code", final) == final


def test_any_other_stored_text_is_shown_as_stored():
    assert translated_message("api_error", "Something only an old version said.") == (
        "Something only an old version said."
    )
    assert translated_message("", "Cancelled by Ann. Smith.") == "Cancelled by Ann. Smith."


def test_a_code_without_a_stored_message_gets_its_category_without_a_promise():
    assert translated_message("too_many_requests", "") == (
        "The image service is busy right now (too many requests)."
    )
    assert translated_message("no_such_code", "") == ""


def test_sentences_with_numbers_are_read_back():
    sentence = em.TRIED.english(count=3)
    assert sentence == "Retouch tried 3 times; press Retry to try again later."
    assert em.TRIED.translate(sentence) == sentence
    assert em.TRIED.translate("Retouch tried three times; press Retry to try again later.") is None


def test_a_registered_pattern_is_read_back(monkeypatch):
    monkeypatch.setattr(em, "_PATTERNS", list(em._PATTERNS))
    waited = em.register_pattern(em.Pattern(lambda n: "Waited for %(name)s."))
    stored = em.english((waited.english(name="Ann. B"), em.TRY_AGAIN))
    assert stored == "Waited for Ann. B. Retouch will try again shortly."
    assert em.translate_piece("Waited for Ann. B.") == "Waited for Ann. B."
    # English has no translations to tell a message from any text: shown as stored.
    assert translated_message("x", stored) == stored


def test_stored_text_stays_english_under_an_active_chinese_page():
    with override("zh-hans"):
        assert rate_limited().message == RATE_LIMITED
        assert server_error().gave_up_message(3) == SERVER_ERROR_GAVE_UP
        assert em.TRIED.english(count=1) == (
            "Retouch tried 1 time; press Retry to try again later."
        )
        invalid = network_error(requests.exceptions.InvalidURL("no host"), "req-1")
        assert invalid.message == (
            "The image service address is not valid. An administrator must check OPENAI_BASE_URL."
        )
        assert str(rate_limited()).startswith("too_many_requests (HTTP 429): The image service")


def test_checking_an_entry_never_translates_its_label():
    # The settings check RETOUCH_EXTRA_MODELS before translations can be used; an entry
    # "like" a built-in keeps the built-in's translated (lazy) label.
    untranslatable = lazy(lambda: 1 / 0, str)()
    entry = replace(get_model("gpt-image-2:official"), name="mine", label=untranslatable)
    assert entry_problems(entry) == []


# -- Chinese: what a Chinese page shows ----------------------------------------------------------


def test_a_retrying_message_is_shown_in_chinese():
    with override("zh-hans"):
        shown = translated_message("too_many_requests", RATE_LIMITED)
    assert shown == "图像服务当前繁忙（请求过多）。Retouch 稍后会自动重试。"


def test_a_message_with_the_number_of_tries_is_shown_in_chinese():
    with override("zh-hans"):
        shown = translated_message("api_error", SERVER_ERROR_GAVE_UP)
    assert shown == "图像服务出现了内部问题。Retouch 已尝试 3 次；请稍后点击“重试”再试一次。"


def test_every_category_is_shown_in_chinese_whole():
    with override("zh-hans"):
        for category, (pieces, _retryable) in em.CATEGORIES.items():
            for message in (
                em.english(pieces),
                em.english((em.english(em.without_retry(pieces)), em.TRIED.english(count=2))),
            ):
                shown = translated_message("any_code", message)
                assert shown != message, category
                assert "image service" not in shown, (category, shown)


def test_a_stored_message_of_the_catalogue_is_translated_whole():
    with override("zh-hans"):
        assert translated_message("x", em.TRY_AGAIN) == "Retouch 稍后会自动重试。"
        assert translated_message("x", "Not in any catalogue.") == "Not in any catalogue."


def test_the_model_picker_and_size_checks_speak_chinese():
    with override("zh-hans"):
        assert str(get_model("gpt-image-2").tagline) == "质量最佳"
        assert str(get_model("gpt-image-2:official").label) == "GPT Image 2（官方）"
        problem = check_size("dall-e-2", "4000x4000")
    assert problem == "DALL·E 2 的尺寸只能是 256x256、512x512 或 1024x1024，不能是“4000x4000”。"
