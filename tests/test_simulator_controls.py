"""The ``/_sim/`` control endpoints and ``python -m editor.simulator``."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys

import requests

from .simulator_helpers import (
    ROOT,
    edit,
    png_file,
    submit_with_callback,
)


def test_health_endpoint(sim):
    response = requests.get(sim.root_url + "/_sim/health", timeout=5)
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_latency_can_be_set_over_http_and_reset_restores_it(sim):
    response = requests.post(sim.root_url + "/_sim/latency", json={"seconds": 0.25}, timeout=5)
    assert response.status_code == 200
    assert sim.latency == 0.25
    requests.post(sim.root_url + "/_sim/reset", timeout=5)
    assert sim.latency == 0.0


def test_faults_can_be_queued_over_http(sim):
    faults = [{"kind": "http", "status": 503}, {"kind": "bare", "status": 502, "body": "x"}]
    response = requests.post(sim.root_url + "/_sim/faults", json={"faults": faults}, timeout=5)
    assert response.json() == {"ok": True, "queued": 2}
    assert [edit(sim).status_code for _ in range(3)] == [503, 502, 200]


def test_a_bad_fault_list_over_http_is_400_and_queues_nothing(sim):
    faults = [{"kind": "http", "status": 503}, {"kind": "gremlins"}]
    response = requests.post(sim.root_url + "/_sim/faults", json={"faults": faults}, timeout=5)
    assert response.status_code == 400
    assert sim.faults == []


def test_requests_and_callbacks_are_listed_over_http(sim, receiver):
    submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    listed = requests.get(sim.root_url + "/_sim/requests", timeout=5).json()
    assert [(r["path"], r["status"]) for r in listed] == [("/openai/images/edits", 200)]
    assert listed[0]["files"][0]["format"] == "PNG"
    callbacks = requests.get(sim.root_url + "/_sim/callbacks", timeout=5).json()
    assert [c["status"] for c in callbacks] == [200]
    assert callbacks[0]["payload"]["success"] is True


def test_reset_over_http_clears_everything(sim, receiver):
    sim.push_fault("http", status=500)
    edit(sim, {"response_format": "url"}, [png_file()])
    sim.push_fault("http", status=500)
    requests.post(sim.root_url + "/_sim/reset", timeout=5)
    assert (sim.requests, sim.faults, sim.callbacks, sim.tasks) == ([], [], [], [])
    assert edit(sim).status_code == 200


def test_served_files_are_forgotten_on_reset(sim):
    url = edit(sim, {"response_format": "url"}).json()["data"][0]["url"]
    sim.reset()
    assert requests.get(url, timeout=5).status_code == 404


# --- the command line ----------------------------------------------------------------------------


def test_cli_prints_its_url_answers_health_and_exits_cleanly_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "editor.simulator", "--port", "0", "--token", "", "--latency", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "the simulator printed nothing within 15 s"
        line = proc.stdout.readline().decode()
        match = re.fullmatch(
            r"Retouch API simulator listening on (http://127\.0\.0\.1:\d+)/openai\n", line
        )
        assert match, line
        root = match[1]
        assert requests.get(root + "/_sim/health", timeout=5).json() == {"ok": True}
        response = requests.post(
            root + "/v1/images/edits",
            data={"prompt": "cli"},
            files=[png_file()],
            headers={"Authorization": "Bearer whatever"},
            timeout=10,
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
