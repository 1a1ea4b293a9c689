"""Results the service leaves at a URL: downloaded, kept, bounded, and only over http(s).
Where they may be downloaded from is in test_result_hosts.py."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from editor.upstream import ImagesClient, UpstreamError, parse_callback

from .client_helpers import (
    assert_plain,
    closed_port,
    edit_request,
    expect_error,
    sim_client,  # noqa: F401 - the ``client`` fixture
    submit_and_wait,
)


def test_url_results_are_downloaded_and_keep_their_url(sim, client):
    result = client.edit(edit_request(response_format="url", n=2, output_format="webp"))
    assert len(result.images) == 2
    for image in result.images:
        assert image.url.startswith(sim.root_url + "/_sim/files/")
        assert image.content_type == "image/webp"
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.format == "WEBP"


def test_callback_with_url_results_is_downloaded_through_the_client(sim, client):
    _accepted, payload = submit_and_wait(sim, client, response_format="url")
    result = client.parse_callback(payload)
    assert result.images[0].url.startswith(sim.root_url)
    assert result.images[0].content_type == "image/png"
    # Without the client no API host is known, and the simulator's is a loopback address.
    with pytest.raises(UpstreamError) as info:
        parse_callback(payload)
    assert info.value.code == "result_host_refused"


def test_url_result_that_cannot_be_downloaded_is_download_failed(sim, client):
    missing = f"{sim.root_url}/_sim/files/{'0' * 32}.png"
    with pytest.raises(UpstreamError) as info:
        client.parse_callback(
            {"success": True, "trace_id": "tr", "data": {"data": [{"url": missing}]}}
        )
    err = info.value
    assert (err.code, err.retryable, err.trace_id) == ("download_failed", True, "tr")
    assert_plain(err.message)


def test_url_result_on_an_api_host_that_does_not_answer_is_download_failed():
    base = f"http://127.0.0.1:{closed_port()}/openai"
    with ImagesClient(base, "sk-test", timeout=(2, 5)) as c, pytest.raises(UpstreamError) as info:
        c.parse_callback({"data": [{"url": base.replace("/openai", "/x.png")}]})
    assert (info.value.code, info.value.retryable) == ("download_failed", True)


def test_url_result_over_the_download_cap_is_too_large(sim):
    with ImagesClient(sim.base_url, sim.token or "sk-test", max_download_bytes=1000) as c:
        err = expect_error(c, edit_request(response_format="url"))
    assert (err.code, err.retryable) == ("too_large", False)


def test_non_http_result_urls_are_never_fetched(client):
    with pytest.raises(UpstreamError) as info:
        client.parse_callback({"data": [{"url": "file:///etc/passwd"}]})
    assert (info.value.code, info.value.retryable) == ("result_host_refused", False)
