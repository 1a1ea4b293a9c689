"""Simplified Chinese beside English: the catalogue is complete and current, the set-up
scripts compile it, and the language follows the browser, the header's switch and the
person's profile."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.urls import reverse
from django.utils import formats, timezone, translation

from editor.teams.models import Profile

from .factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "editor" / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")


def catalogue(domain: str, root: Path = ROOT) -> polib.POFile:
    return polib.pofile(str(root / "editor/locale/zh_Hans/LC_MESSAGES" / f"{domain}.po"))


def keys(po: polib.POFile) -> set[tuple[str, str, str]]:
    return {(e.msgctxt or "", e.msgid, e.msgid_plural or "") for e in po if not e.obsolete}


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_entry_is_translated(domain):
    po = catalogue(domain)
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert not untranslated, f"{len(untranslated)} untranslated in {domain}.po: {untranslated[:10]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy (needs review) in {domain}.po: {fuzzy[:10]}"
    assert len(po) > (300 if domain == "django" else 5)


@pytest.mark.parametrize("domain", DOMAINS)
def test_placeholders_survive_translation(domain):
    """A translation that drops or renames %(name)s would crash or mislead at runtime."""
    import re

    named = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]|\{[a-z_0-9]*\}")
    for entry in catalogue(domain):
        translated = entry.msgstr or entry.msgstr_plural.get(0, "")
        source = entry.msgid_plural or entry.msgid
        assert sorted(set(named.findall(translated))) == sorted(set(named.findall(source))), (
            entry.msgid,
            translated,
        )


@pytest.mark.slow
def test_catalogue_is_current(tmp_path):
    """scripts/messages on a copy of the sources finds exactly the catalogue's entries: no
    string is marked without a translation and none is left over."""
    copy = tmp_path / "tree"
    for name in ("editor", "templates", "static", "scripts"):
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    subprocess.run(
        [str(copy / "scripts/messages"), sys.executable], cwd=copy, check=True, capture_output=True
    )
    for domain in DOMAINS:
        fresh, ours = keys(catalogue(domain, copy)), keys(catalogue(domain))
        missing, stale = sorted(fresh - ours), sorted(ours - fresh)
        assert not missing, f"marked but not in {domain}.po: {missing[:10]}"
        assert not stale, f"in {domain}.po but no longer marked: {stale[:10]}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_set_up_compiled_the_catalogue(domain):
    """scripts/bootstrap runs compilemessages: the .mo exists, is no older than the .po,
    and Django reads the catalogue's translations from it."""
    po_path, mo_path = CATALOGUE / f"{domain}.po", CATALOGUE / f"{domain}.mo"
    assert mo_path.exists(), "run scripts/bootstrap: it compiles the translations"
    assert mo_path.stat().st_mtime >= po_path.stat().st_mtime
    compiled = polib.mofile(str(mo_path))
    assert {e.msgid for e in compiled} >= {e.msgid for e in catalogue(domain) if e.translated()}
    if domain == "django":
        entry = next(e for e in catalogue(domain) if e.translated() and not e.msgid_plural)
        with translation.override("zh-hans"):
            assert translation.gettext(entry.msgid) == entry.msgstr


def chinese(text: str) -> str:
    with translation.override("zh-hans"):
        translated = translation.gettext(text)
    assert translated != text, f"{text!r} has no Chinese translation"
    return translated


@pytest.mark.django_db
def test_the_browser_language_chooses_chinese(client):
    make_user("mei")  # with nobody yet, every page leads to the first administrator's set-up
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
    body = page.content.decode()
    assert '<html lang="zh-hans">' in body
    assert chinese("Sign in") in body
    english = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()
    assert '<html lang="en">' in english and "Sign in" in english


@pytest.mark.django_db
def test_a_visitor_switches_language_with_the_header_form(client):
    make_user("mei")
    login = reverse("login")
    answer = client.post(reverse("set_language"), {"language": "zh-hans", "next": login})
    assert answer.status_code == 302 and answer["Location"] == login
    assert chinese("Sign in") in client.get(reverse("login")).content.decode()
    # An unknown language or an outside `next` changes nothing and goes nowhere else.
    client.post(reverse("set_language"), {"language": "xx", "next": "https://evil.example/"})
    assert chinese("Sign in") in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_the_choice_is_remembered_on_the_profile(client):
    user = make_user("mei")
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert Profile.objects.get(user=user).language == "zh-hans"

    # Another device: a browser asking for English, no cookie; signing in brings Chinese.
    from django.test import Client

    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert "Sign in" in other.get(reverse("login")).content.decode()
    other.post(reverse("login"), {"username": "mei", "password": PASSWORD})
    assert '<html lang="zh-hans">' in other.get(reverse("home"), follow=True).content.decode()

    # Switching back to English is remembered too.
    other.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert Profile.objects.get(user=user).language == "en"


def test_dates_and_numbers_follow_the_language():
    moment = timezone.datetime(2026, 3, 7, 14, 5, tzinfo=timezone.UTC)
    with translation.override("en"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "7 Mar 2026, 14:05"
        assert formats.date_format(moment, "YEAR_MONTH_FORMAT") == "March 2026"
    with translation.override("zh-hans"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "2026年3月7日 14:05"
        assert formats.date_format(moment, "YEAR_MONTH_FORMAT") == "2026年3月"
