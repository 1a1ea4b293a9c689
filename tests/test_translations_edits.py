"""The edits app in Simplified Chinese: money, durations, form errors and stored failure
messages come out in the reader's language, and stay exactly as they were in English."""

from decimal import Decimal

import pytest
from django.utils import translation

from editor.edits.forms import EditForm
from editor.edits.models import Edit
from editor.edits.models.states import CANCELLED, deadline_message
from editor.edits.templatetags.edits_tags import duration, tokens
from editor.teams.models import format_usd as money
from editor.teams.templatetags.teams_tags import usd

# --- English: exactly as before ------------------------------------------------------------


def test_money_in_english():
    with translation.override("en"):
        assert usd(Decimal("1.23")) == "$1.23"
        assert usd(Decimal("50")) == "$50"
        assert usd(Decimal("1200")) == "$1,200"
        assert usd(Decimal("12.5")) == "$12.50"
        assert usd(Decimal("4.999")) == "$5"
        assert usd(Decimal("0.0625"), 4) == "$0.0625"
        assert usd(Decimal("0.000125"), 6) == "$0.000125"
        assert usd(None) == "" and usd("") == ""
        assert money(Decimal("5")) == "$5"


def test_durations_and_token_counts_in_english():
    with translation.override("en"):
        assert duration(40) == "40 s"
        assert duration(65) == "1 min 5 s"
        assert duration(120) == "2 min"
        assert duration(3720) == "1 h 2 min"
        assert duration(None) == ""
        assert tokens(1234567) == "1,234,567"
        assert tokens(None) == "—"


@pytest.mark.django_db
def test_stored_failure_messages_read_back_unchanged_in_english():
    cancelled = Edit(error_code=CANCELLED, error_message="Cancelled by ed.")
    late = Edit(error_code="deadline_exceeded", error_message=deadline_message(600))
    with translation.override("en"):
        assert cancelled.plain_error_message == "Cancelled by ed."
        assert late.error_message.startswith("This edit did not finish within 10 minutes,")
        assert late.plain_error_message == late.error_message
        assert Edit(error_message="").plain_error_message == ""


# --- Simplified Chinese --------------------------------------------------------------------


def test_money_and_durations_in_chinese():
    with translation.override("zh-hans"):
        assert usd(Decimal("1.23")) == "US$1.23"
        assert usd(Decimal("50")) == "US$50"
        assert usd(Decimal("0.0625"), 4) == "US$0.0625"
        assert duration(40) == "40 秒"
        assert duration(65) == "1 分 5 秒"


@pytest.mark.django_db
def test_a_form_error_in_chinese():
    with translation.override("zh-hans"):
        form = EditForm({"prompt": ""})
        assert not form.is_valid()
        assert form.errors["prompt"] == ["请描述照片中要修改的内容。"]


@pytest.mark.django_db
def test_stored_failure_messages_in_chinese():
    cancelled = Edit(error_code=CANCELLED, error_message="Cancelled by ed.")
    late = Edit(error_code="deadline_exceeded", error_message=deadline_message(600))
    with translation.override("zh-hans"):
        assert cancelled.plain_error_message == "已由 ed 取消。"
        assert "10 分钟内未完成" in late.plain_error_message
        assert "Retouch" in late.plain_error_message and "minutes" not in late.plain_error_message
