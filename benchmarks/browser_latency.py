"""How soon does a person see a finished edit's picture in an open gallery?

    .venv/bin/python benchmarks/browser_latency.py [--latency 5] [--repeat 5] [--concurrent 20]
        [--database-url postgres://…]

Starts the simulator (`--latency` seconds per edit), gunicorn as the Procfile does (2
processes with uvicorn's worker: pages and their event streams) and one `manage.py worker`
(25 threads) on a temporary SQLite data folder (or PostgreSQL at `--database-url`), and
opens the gallery in Debian's Chromium through Playwright, signed in. Each edit is started
from the page's own form (a 1024² photo, low quality), as a person would.

For each edit, two figures:
- result visible: from the worker's commit of the result (the edit's `finished_at`,
  written in that transaction) to the moment the card's picture has loaded in the page
  (an `img` load event, taken with `Date.now()` on the same machine's clock);
- overhead: from the click on Start edit to the picture shown, minus the simulator's
  latency (what Retouch adds above the image service's own time).

First `--repeat` edits one after another, then `--concurrent` edits started together
(clicked one after another, each as soon as its card appears; the simulator's latency is
raised so that they all overlap). Printed: median, p95, max. Only 127.0.0.1; every wait
is bounded; everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright
from push_latency import Database, epoch
from stack import PASSWORD, Processes, app_env, free_port, start_simulator, start_web

from tests.processes import CHROMIUM, CHROMIUM_ARGS

WAIT_FINAL_MS = 120_000

# Each card's picture: the first moment an <img> inside it finished loading.
WATCH_PICTURES = """() => {
  window.shown = {};
  document.addEventListener("load", (event) => {
    const img = event.target;
    if (img.tagName !== "IMG" || !img.closest(".thumb")) return;
    const card = img.closest("li.edit-card");
    if (card && !(card.id in window.shown)) window.shown[card.id] = Date.now() / 1000;
  }, true);
}"""


def spread(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(len(ordered) * 0.95) - 1)]
    return (
        f"median {statistics.median(ordered):.3f} s, p95 {p95:.3f} s, "
        f"max {ordered[-1]:.3f} s (n={len(ordered)})"
    )


def photo(workdir: Path) -> Path:
    path = workdir / "photo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (90, 140, 200)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def start_edit(page, picture: Path, prompt: str) -> tuple[str, float]:
    """Click Start edit for `prompt`; returns the new card's id and the click's time."""
    form = page.locator("#edit-form")
    form.locator("input[name=images]").set_input_files([str(picture)])
    form.locator("textarea[name=prompt]").fill(prompt)
    clicked = page.evaluate("Date.now() / 1000")
    form.locator("button[type=submit]").click()
    card = page.locator("li.edit-card", has_text=prompt)
    card.wait_for(timeout=30_000)
    return card.get_attribute("id"), clicked


def measure(page, db: Database, latency: float, started: list[tuple[str, str, float]]):
    """Wait until every started card shows its picture; each one's two figures."""
    ids = [card_id for card_id, _, _ in started]
    page.wait_for_function(
        "ids => ids.every(id => id in window.shown)", arg=ids, timeout=WAIT_FINAL_MS
    )
    shown = page.evaluate("window.shown")
    visible, overhead = [], []
    for card_id, _prompt, clicked in started:
        pk = int(card_id.removeprefix("edit-"))
        ((status, finished),) = db.rows(
            "SELECT status, finished_at FROM edits_edit WHERE id = %s", pk
        )
        if status != "succeeded":
            raise SystemExit(f"edit {pk} ended {status}")
        visible.append(shown[card_id] - epoch(finished))
        overhead.append(shown[card_id] - clicked - latency)
    return visible, overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    args.repeat = max(0, min(args.repeat, 30))
    args.concurrent = max(0, min(args.concurrent, 30))

    workdir = Path(tempfile.mkdtemp(prefix="retouch-browser-"))
    procs = Processes(workdir / "processes.log")
    try:
        # Together, the edits must overlap: clicking them in takes about 0.3 s each.
        latency = max(args.latency, 0.4 * args.concurrent)
        api_url, _ = start_simulator(procs, args.latency)
        api_slow, _ = start_simulator(procs, latency)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        extra = {"DATABASE_URL": args.database_url} if args.database_url else {}
        settings = {"RETOUCH_RATE_LIMIT": "0", "RETOUCH_PARTIAL_IMAGES": "0", **extra}
        env = app_env(workdir, api_url, url, **settings)
        db = Database(workdir, args.database_url)
        start_web(procs, env, port)
        worker = [sys.executable, "manage.py", "worker", "--threads", "25"]
        first = procs.start([*worker, "--worker-id", "browser-1"], env=env)
        picture = photo(workdir)
        engine = "PostgreSQL" if args.database_url else "SQLite"
        print(f"{engine}; 2 web processes (uvicorn's worker), 1 worker × 25; Chromium")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # Tall enough that every card is on screen: their pictures load lazily.
            page = browser.new_page(viewport={"width": 1280, "height": 6000})
            page.goto(url + "/accounts/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", PASSWORD)
            page.click("main form button[type=submit]")
            page.wait_for_url(url + "/")
            page.evaluate(WATCH_PICTURES)
            page.wait_for_function("document.documentElement.hasAttribute('data-live')")
            time.sleep(2)  # the worker imports Django

            if args.repeat:
                visible, overhead = [], []
                for n in range(args.repeat):
                    card = start_edit(page, picture, f"single {n}")
                    v, o = measure(page, db, args.latency, [(card[0], "", card[1])])
                    visible += v
                    overhead += o
                print(f"== 1 edit at a time ({args.latency:g} s at the service)")
                print(f"   result visible after the commit: {spread(visible)}")
                print(f"   overhead, click → picture, above the service: {spread(overhead)}")
            if args.concurrent:
                # The same stack, a slower service: a second worker on the slow simulator.
                procs.stop(first)
                slow_env = app_env(workdir, api_slow, url, **settings)
                procs.start([*worker, "--worker-id", "browser-2"], env=slow_env)
                time.sleep(3)
                started = []
                for n in range(args.concurrent):
                    card_id, clicked = start_edit(page, picture, f"together {n}")
                    started.append((card_id, "", clicked))
                visible, overhead = measure(page, db, latency, started)
                print(f"== {args.concurrent} edits together ({latency:g} s at the service)")
                print(f"   result visible after the commit: {spread(visible)}")
                print(f"   overhead, click → picture, above the service: {spread(overhead)}")
            browser.close()
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
