import pytest
from django.utils import translation

from editor.simulator.server import Simulator

from .factories import Studio, make_studio, make_user
from .simulator_helpers import callback_receiver


@pytest.fixture(scope="session")
def simulator():
    """One fake gateway over real HTTP for the whole run (token ``sk-test``, no latency)."""
    sim = Simulator(host="127.0.0.1", port=0, token="sk-test").start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator):
    """The shared simulator with no faults, requests, tasks or callbacks left from other tests."""
    simulator.reset()
    yield simulator
    simulator.reset()


@pytest.fixture
def receiver():
    """A local HTTP server that keeps every callback POSTed to it."""
    with callback_receiver() as server:
        yield server


# --- Django fixtures -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Each test writes uploads and results into its own temporary folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture(autouse=True)
def _english_first():
    """Each test starts in English: a request in Chinese (LocaleMiddleware activates the
    language for the thread and leaves it) must not carry over into the next test."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    """Automatic retries wait milliseconds in tests, not the production backoff; the
    reconciler's timings are set by the tests that need them."""
    settings.RETOUCH_DELIVERY = "sync"
    settings.RETOUCH_PARTIAL_IMAGES = 0  # plain answers; tests/test_previews.py streams
    settings.RETOUCH_RETRY_BASE_SECONDS = 0.01
    settings.RETOUCH_RETRY_MAX_SECONDS = 0.05


@pytest.fixture
def upstream(sim, settings):
    """Point Retouch's client at the simulator for this test."""
    settings.OPENAI_BASE_URL = sim.base_url
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_TIMEOUT = 10
    return sim


@pytest.fixture
def callbacks(upstream, settings):
    """Callback delivery against the simulator; the webhook address is never reached,
    tests post the simulator's recorded callbacks themselves."""
    settings.RETOUCH_DELIVERY = "callback"
    settings.PUBLIC_URL = "http://127.0.0.1:9"
    return upstream


@pytest.fixture
def studio(db) -> Studio:
    """The team "Studio": olga owns it, ed edits, vic views."""
    return make_studio()


@pytest.fixture
def owner(db):
    return make_user("olga")


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
