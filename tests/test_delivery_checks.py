"""`manage.py check` catches delivery settings that cannot work."""

from django.core.checks import Tags, run_checks

from editor.edits.checks import check_delivery


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_defaults_pass(settings):
    assert check_delivery() == []


def test_an_unknown_delivery_mode_is_an_error(settings):
    settings.RETOUCH_DELIVERY = "webhook"
    assert ids(check_delivery()) == ["edits.E001"]
    # Registered: `manage.py check` and every server start run it.
    assert "edits.E001" in ids(run_checks(tags=[Tags.compatibility]))


def test_callbacks_need_the_gateway(settings):
    settings.RETOUCH_DELIVERY = "callback"
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    settings.PUBLIC_URL = "https://retouch.example.com"
    assert ids(check_delivery()) == ["edits.E003"]


def test_callbacks_to_a_loopback_address_from_a_remote_gateway_are_a_warning(settings):
    settings.RETOUCH_DELIVERY = "callback"
    settings.OPENAI_BASE_URL = "https://api.acedata.cloud/openai"
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    assert ids(check_delivery()) == ["edits.W001"]
    settings.PUBLIC_URL = "https://retouch.example.com"
    assert check_delivery() == []
    # The local simulator can reach a local Retouch.
    settings.OPENAI_BASE_URL = "http://127.0.0.1:8765/openai"
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    assert check_delivery() == []


def test_a_mistyped_rate_limit_is_reported_by_the_system_checks(settings):
    from editor.edits.checks import check_rate_limit

    settings.RETOUCH_RATE_LIMIT = "30 per hour"
    errors = check_rate_limit()
    assert [e.id for e in errors] == ["edits.E004"]
    assert "RETOUCH_RATE_LIMIT" in errors[0].msg
    settings.RETOUCH_RATE_LIMIT = "30/hour"
    assert check_rate_limit() == []
