"""Result URLs are downloaded only from the API's own host and the allowed result hosts, never
from a private, loopback or link-local address, redirects included (the SSRF finding).

Two tiny HTTP servers on 127.0.0.1 stand in: ``api`` plays the image service (its edits and
Tasks API answer with whatever result URL a test sets, and it redirects), ``internal`` plays
a host inside our network that must never be reached; each counts the requests it got.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from editor.edits.delivery import READ_ERRORS
from editor.edits.models import Status
from editor.edits.reconcile import poll_overdue
from editor.edits.tasks import run_edit
from editor.upstream import DEFAULT_RESULT_HOSTS, ImagesClient, UpstreamError, parse_callback
from editor.upstream.result_hosts import (
    RefusedResultHost,
    ResultHosts,
    host_matches,
    refused_address,
)
from editor.upstream.transport import MAX_REDIRECTS, Transport

from .client_helpers import PNG, assert_plain, edit_request, sim_client  # noqa: F401
from .factories import make_edit, personal_team
from .queue import run_queue

SECRET = "INTERNAL-SECRET-7f3a"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append((self.command, self.path, self.headers.get("Host")))
        path, _, query = self.path.partition("?")
        if path == "/redirect":
            self._answer(302, b"", Location=parse_qs(query)["to"][0])
        elif path == "/loop":
            self._answer(302, b"", Location="/loop")
        elif path == "/x.png":
            self._answer(200, PNG, **{"Content-Type": "image/png", "X-Secret": SECRET})
        else:
            self._answer(404, SECRET.encode(), **{"X-Secret": SECRET})

    def do_POST(self) -> None:
        self.server.hits.append((self.command, self.path, self.headers.get("Host")))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        result = {"created": 1, "data": [{"url": self.server.result_url}]}
        if self.path.endswith("/tasks"):
            body = {"id": "t1", "trace_id": "tr-1", "response": {"success": True, **result}}
        else:
            body = {"success": True, "trace_id": "tr-1", **result}
        self._answer(200, json.dumps(body).encode(), **{"Content-Type": "application/json"})

    def _answer(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.hits = []
    server.result_url = ""
    server.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def api():
    server, thread = _serve()
    server.base_url = f"http://127.0.0.1:{server.port}/openai"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def internal():
    server, thread = _serve()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def api_client(api, **kwargs) -> ImagesClient:
    return ImagesClient(api.base_url, "sk-test", timeout=(2, 5), **kwargs)


def refused(call) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        call()
    err = info.value
    assert (err.code, err.retryable) == ("result_host_refused", False)
    assert_plain(err.message)
    assert "does not download from" in err.message
    assert SECRET not in str(err.as_dict())
    return err


def callback(url: str) -> dict:
    return {"success": True, "task_id": "t1", "trace_id": "tr", "data": {"data": [{"url": url}]}}


# -- the rule, as pure functions --------------------------------------------------------


def test_allowed_hosts_are_exact_names_or_a_leading_dot_for_a_domain_and_its_subdomains():
    allowed = DEFAULT_RESULT_HOSTS
    for host in [
        "acedata.cloud",
        "cdn.acedata.cloud",
        "a.b.acedata.cloud",
        "CDN.AceData.Cloud.",
        "oaidalleapiprodscus.blob.core.windows.net",
    ]:
        assert host_matches(host, allowed), host
    for host in [
        "evilacedata.cloud",
        "acedata.cloud.evil.example",
        "x.oaidalleapiprodscus.blob.core.windows.net",
        "blob.core.windows.net",
        "localhost",
        "",
    ]:
        assert not host_matches(host, allowed), host
    assert host_matches("img.example.com", ["img.example.com"])
    assert not host_matches("img.example.com", ["", " ", "."])


def test_private_loopback_link_local_and_other_non_public_addresses_are_refused():
    for address in [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fd00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::1",  # 6to4 around 10.0.0.1
    ]:
        assert refused_address(address), address
    for address in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]:
        assert refused_address(address) is None, address


def test_allowed_names_that_resolve_to_private_addresses_are_refused():
    dns = {
        "cdn.acedata.cloud": ["93.184.216.34"],
        "ten.acedata.cloud": ["10.1.2.3"],
        "meta.acedata.cloud": ["169.254.169.254"],
        "mixed.acedata.cloud": ["93.184.216.34", "192.168.0.7"],
        "six.acedata.cloud": ["2606:4700:4700::1111", "::ffff:127.0.0.1"],
    }
    hosts = ResultHosts(None, resolver=lambda host, port: dns[host])
    assert hosts.addresses("cdn.acedata.cloud", 443) == ["93.184.216.34"]
    for name in ["ten", "meta", "mixed", "six"]:
        with pytest.raises(RefusedResultHost) as info:
            hosts.check(f"https://{name}.acedata.cloud/x.png")
        # The refusal names the kind of address, never the internal address itself.
        assert "address" in info.value.reason and dns[f"{name}.acedata.cloud"][-1] not in str(
            info.value
        )


def test_the_api_host_and_port_are_allowed_without_looking_them_up():
    def no_dns(host, port):
        raise AssertionError(f"looked up {host}")

    hosts = ResultHosts("http://127.0.0.1:8001/openai", [], resolver=no_dns)
    hosts.check("http://127.0.0.1:8001/_sim/files/a.png")
    for other in ["http://127.0.0.1:8002/a.png", "http://localhost:8001/a.png"]:
        with pytest.raises(RefusedResultHost):
            hosts.check(other)


# -- downloads over real HTTP -----------------------------------------------------------


def test_the_simulators_own_url_results_still_download(sim, client):
    result = client.edit(edit_request(response_format="url"))
    assert result.images[0].url.startswith(sim.root_url)
    assert result.images[0].content_type == "image/png"


def test_results_on_another_loopback_name_or_port_are_refused_unfetched(sim, client, internal):
    for url in [
        f"http://localhost:{internal.port}/x.png",
        f"http://127.0.0.1:{internal.port}/x.png",
        f"http://[::1]:{internal.port}/x.png",
    ]:
        err = refused(lambda url=url: client.parse_callback(callback(url)))
        assert err.trace_id == "tr" and err.task_id == "t1"
    with ImagesClient(sim.base_url, "sk-test", result_hosts=["localhost"]) as listed:
        # On the list, but loopback: still refused.
        err = refused(lambda: listed.parse_callback(callback(f"http://localhost:{internal.port}/")))
        assert "loopback" in err.detail
    assert internal.hits == []


def test_a_callback_with_a_foreign_url_is_refused_without_a_client(sim, internal):
    # Without a client no API host is known: even the simulator's own loopback URL is refused.
    for url in [f"{sim.root_url}/_sim/files/{'0' * 32}.png", f"http://localhost:{internal.port}/"]:
        refused(lambda url=url: parse_callback(callback(url)))
    refused(lambda: parse_callback(callback("file:///etc/passwd")))
    assert internal.hits == []


def test_a_redirect_from_the_api_host_to_the_metadata_address_is_never_followed(api):
    url = f"http://127.0.0.1:{api.port}/redirect?to=http://169.254.169.254/latest/meta-data/"
    # Off the list, and on it (an address is no host name, and a link-local one at that).
    for allowed, reason in [(None, "not the API's host"), (["169.254.169.254"], "link-local")]:
        started = time.monotonic()
        with api_client(api, result_hosts=allowed) as c:
            err = refused(lambda c=c: c.parse_callback(callback(url)))
        # Refused before connecting: a connection attempt would end in connect_error (or
        # wait out the 2 s connect timeout), not in a refusal within moments.
        assert time.monotonic() - started < 1.5
        assert "169.254.169.254 (redirected from 127.0.0.1:" in err.detail
        assert reason in err.detail


def test_a_redirect_to_an_internal_host_is_refused_and_never_reached(api, internal):
    target = f"http://localhost:{internal.port}/x.png"
    with api_client(api) as c:
        refused(
            lambda: c.parse_callback(callback(f"http://127.0.0.1:{api.port}/redirect?to={target}"))
        )
    assert internal.hits == []
    assert [path for _, path, _ in api.hits] == [f"/redirect?to={target}"]


def test_redirects_within_allowed_hosts_are_followed_a_few_times_at_most(api):
    with api_client(api) as c:
        there = c.parse_callback(callback(f"http://127.0.0.1:{api.port}/redirect?to=/x.png"))
        assert there.images[0].data == PNG
        with pytest.raises(UpstreamError) as info:
            c.parse_callback(callback(f"http://127.0.0.1:{api.port}/loop"))
    assert info.value.code == "download_failed"
    assert len([hit for hit in api.hits if hit[1] == "/loop"]) == MAX_REDIRECTS + 1


def test_a_synchronous_answer_with_an_internal_url_fails_the_edit_unfetched(api, internal):
    api.result_url = f"http://localhost:{internal.port}/secret"
    with api_client(api) as c:
        err = refused(lambda: c.edit(edit_request()))
    assert err.trace_id == "tr-1"
    assert internal.hits == []


def test_a_task_record_with_an_internal_url_is_a_final_error_not_a_read_error(api, internal):
    api.result_url = f"http://10.0.0.1:{internal.port}/x.png"
    with api_client(api) as c:
        info = c.retrieve("t1")
    assert info.finished and info.result is None
    assert (info.error.code, info.error.retryable) == ("result_host_refused", False)
    # The reconciler asks again later for READ_ERRORS: a refused host never becomes allowed.
    assert info.error.code not in READ_ERRORS


def test_the_connection_checks_the_address_it_connects_to_not_an_earlier_lookup(internal):
    """DNS rebinding: public when checked, loopback when connected; the second answer is
    checked too, and the internal host is never reached."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    hosts = ResultHosts(None, ["rebind.acedata.cloud"], resolver=lambda h, p: next(answers))
    transport = Transport("", timeout=(2, 5), result_hosts=hosts)
    with pytest.raises(UpstreamError) as info:
        transport.download(
            f"http://rebind.acedata.cloud:{internal.port}/x.png", max_bytes=10**6, trace_id=None
        )
    transport.close()
    assert info.value.code == "result_host_refused" and "loopback" in info.value.detail
    assert internal.hits == []


class _PretendLoopbackIsPublic(ResultHosts):
    def addresses(self, host: str, port: int) -> list[str]:
        assert host_matches(host, self.allowed)
        return ["127.0.0.1"]


def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name(internal):
    # cdn.acedata.cloud is never looked up for real: the connection uses the checked address.
    transport = Transport("", result_hosts=_PretendLoopbackIsPublic(None))
    url = f"http://cdn.acedata.cloud:{internal.port}/x.png"
    assert transport.download(url, max_bytes=10**6, trace_id=None) == PNG
    transport.close()
    assert internal.hits == [("GET", "/x.png", f"cdn.acedata.cloud:{internal.port}")]


# -- what an edit keeps -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_forged_callback_pointing_inside_is_never_fetched_and_the_tasks_api_decides(
    callbacks, owner, internal
):
    edit = make_edit(personal_team(owner), owner)
    assert run_edit.call(edit.pk) == "submitted"
    assert callbacks.wait_for_callbacks(1, timeout=10)
    payload = copy.deepcopy(callbacks.callbacks[0]["payload"])  # the service keeps its own
    payload["data"]["data"] = [{"url": f"http://localhost:{internal.port}/secret"}]
    edit.refresh_from_db()
    path = reverse("edit_callback", args=[edit.pk, edit.callback_token])
    response = Client().post(path, json.dumps(payload), content_type="application/json")
    assert response.status_code == 202
    # A callback is not signed: its refused address is checked with the Tasks API, which
    # has the service's own (downloadable) result.
    assert run_queue() == [("finish_callback", "unusable")]
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING
    assert internal.hits == []
    assert poll_overdue(timezone.now(), also=[edit.pk])["polled_succeeded"] == 1
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED
    assert internal.hits == []


def test_an_allowed_host_that_does_not_resolve_is_a_download_failure_worth_retrying():
    client = ImagesClient("http://127.0.0.1:9/openai", "sk", result_hosts=["nowhere.invalid"])
    with client, pytest.raises(UpstreamError) as info:
        client.download("http://nowhere.invalid/x.png")
    assert (info.value.code, info.value.retryable) == ("download_failed", True)
    assert "nowhere.invalid" in info.value.detail
