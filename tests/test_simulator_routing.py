"""Who may call the simulator, which paths answer, and the ``x-request-id`` on every answer."""

from __future__ import annotations

import re

import pytest
import requests

from editor.simulator.server import Simulator

from .simulator_helpers import (
    AUTH,
    assert_gateway_error,
    edit,
)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic c2stdGVzdA=="}],
    ids=["missing", "wrong-token", "not-bearer"],
)
def test_edits_without_the_right_bearer_token_get_401_invalid_token(sim, headers):
    response = edit(sim, headers=headers)
    assert_gateway_error(response, 401, "invalid_token")
    assert sim.edit_requests[-1].status == 401


def test_tasks_without_the_right_bearer_token_get_401(sim):
    response = requests.post(
        sim.base_url + "/tasks", json={"action": "retrieve", "id": "x"}, timeout=5
    )
    assert_gateway_error(response, 401, "invalid_token")


def test_simulator_without_a_token_accepts_any_bearer_but_not_none():
    with Simulator(token=None) as open_sim:
        assert edit(open_sim, headers={"Authorization": "Bearer anything"}).status_code == 200
        assert edit(open_sim, headers={}).status_code == 401


@pytest.mark.parametrize("path", ["/v1/images/edits", "/openai/images/edits"])
def test_both_edit_paths_answer(sim, path):
    response = edit(sim, path=path)
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert sim.edit_requests[-1].path == path


def test_unknown_route_is_a_404_in_gateway_shape(sim):
    response = requests.get(sim.root_url + "/openai/images/variations", timeout=5)
    assert_gateway_error(response, 404, "not_found")


def test_get_on_the_edit_endpoint_is_405(sim):
    response = requests.get(sim.base_url + "/images/edits", headers=AUTH, timeout=5)
    assert_gateway_error(response, 405, "method_not_allowed")


# --- x-request-id --------------------------------------------------------------------------------


def test_x_request_id_sent_by_the_client_is_echoed(sim):
    response = edit(sim, headers={**AUTH, "x-request-id": "my-request-42"})
    assert response.headers["x-request-id"] == "my-request-42"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/openai/images/edits"), ("GET", "/_sim/health"), ("GET", "/nowhere")],
)
def test_x_request_id_is_generated_on_every_response(sim, method, path):
    response = requests.request(method, sim.root_url + path, timeout=5)
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])


def test_each_request_on_a_kept_alive_connection_gets_its_own_request_id(sim):
    with requests.Session() as session:
        first = session.get(sim.root_url + "/_sim/health", timeout=5)
        second = session.get(sim.root_url + "/_sim/health", timeout=5)
        echoed = session.get(
            sim.root_url + "/_sim/health", headers={"x-request-id": "r3"}, timeout=5
        )
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert echoed.headers["x-request-id"] == "r3"
