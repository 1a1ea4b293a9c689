"""How soon does a running edit show its first preview on the gallery card?

    .venv/bin/python benchmarks/previews.py [--latency 20] [--partials 2] [--edits 1 20]
        [--workers 2] [--threads 10] [--poll 0.25]

Runs the real thing as separate processes on a temporary SQLite file, as
benchmarks/concurrent_edits.py does: the API simulator (`--latency` s per edit, streaming
`--partials` partial images when asked: partial i of p at latency * (i + 1) / (p + 2)),
gunicorn, and `--workers` `manage.py worker` processes with `--threads` threads each, in
sync delivery with RETOUCH_PARTIAL_IMAGES=`--partials`. For each count in `--edits`, a
signed-in person starts that many edits at once through the web form, and this script
sends the gallery's poll (`/edits/updates/`, with each pending card's token as the page
sends it) every `--poll` s until every card has shown a preview and then its result.

Printed per run: from pressing "Start edit" (the batch's first post) to the first poll
answer whose card holds a preview (min / median / max over the edits), the same read
from the database (the preview row's time minus the edit's), and to the result; the
target is first preview <= 0.4 * latency + 1 s. A browser polls every 2 s, so on a page
a preview appears up to 2 s after the poll could first show it. Everything it starts is
stopped at the end, whatever happens; every wait is bounded.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from concurrent_edits import max_id, start_edits, when
from stack import (
    Processes,
    app_env,
    free_port,
    print_verdict,
    query_read_only,
    sign_in,
    start_simulator,
    start_web,
)

CARD = re.compile(r'<li id="edit-(\d+)"')
TOKEN = re.compile(r'name="pending" value="(\d+):([^"]+)" data-pending')


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"min {min(values):5.2f} s   median {statistics.median(values):5.2f} s   "
        f"max {max(values):5.2f} s"
    )


def watch(url: str, session: requests.Session, ids: list[int], t0: float, args) -> dict:
    """Poll as the page does until every card has shown a preview and its result;
    returns, per edit, seconds from `t0` to the first answer with a preview / a result."""
    tokens = {pk: "queued" for pk in ids}
    first_preview: dict[int, float] = {}
    finished: dict[int, float] = {}
    deadline = time.monotonic() + args.latency * 4 + 120
    while tokens and time.monotonic() < deadline:
        answer = session.get(
            url + "/edits/updates/",
            params={"pending": [f"{pk}:{token}" for pk, token in tokens.items()]},
            headers={"HX-Request": "true"},
            timeout=30,
        ).text
        now = time.monotonic() - t0
        starts = [(m.start(), int(m.group(1))) for m in CARD.finditer(answer)]
        for (start, pk), (end, _) in zip(starts, [*starts[1:], (len(answer), 0)], strict=False):
            card = answer[start:end]
            if "live-preview-image" in card:
                first_preview.setdefault(pk, now)
            token = TOKEN.search(card)
            if token:
                tokens[pk] = token.group(2)
            else:  # final: no longer pending
                finished[pk] = now
                tokens.pop(pk, None)
        time.sleep(args.poll)
    return {"preview": first_preview, "finished": finished, "unfinished": list(tokens)}


def from_database(db_path: Path, ids: list[int]) -> list[float]:
    """Seconds from each edit's row to its first preview row (previews are deleted once the
    edit is final, so this reads them while the edits run)."""
    rows = query_read_only(
        db_path,
        "SELECT e.id, e.created_at, MIN(p.created_at) AS first FROM edits_edit e "
        "JOIN edits_previewimage p ON p.edit_id = e.id WHERE e.id BETWEEN ? AND ? GROUP BY e.id",
        (min(ids), max(ids)),
    )
    return [(when(r["first"]) - when(r["created_at"])).total_seconds() for r in rows]


def run(count: int, args, url: str, sim_url: str, db_path: Path) -> bool:
    requests.post(sim_url + "/_sim/reset", json={}, timeout=10).raise_for_status()
    session = sign_in(url)
    before = max_id(db_path)
    t0 = time.monotonic()
    start_edits(url, session.cookies, count, "gpt-image-1", "1024x1024", "preview")
    submitted = time.monotonic() - t0
    ids = [
        r["id"]
        for r in query_read_only(db_path, "SELECT id FROM edits_edit WHERE id > ?", (before,))
    ]
    db_seconds: list[float] = []

    def sample_db() -> None:
        # The preview rows go when the edit finishes: read them while it runs.
        end = time.monotonic() + args.latency * 2 + 60
        while time.monotonic() < end and len(db_seconds) < count:
            db_seconds[:] = from_database(db_path, ids)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample_db, daemon=True)
    sampler.start()
    seen = watch(url, session, ids, t0, args)
    sampler.join(timeout=5)

    target = 0.4 * args.latency + 1
    previews = sorted(seen["preview"].values())
    results = sorted(seen["finished"].values())
    ok = len(previews) == count and max(previews) <= target and not seen["unfinished"]
    print(f"\n{count} edit(s), started at once ({submitted:.1f} s to post them all)")
    print(f"   first preview in the poll answer:  {spread(previews)}   ({len(previews)}/{count})")
    print(f"   first preview row (database):      {spread(sorted(db_seconds))}   from the edit row")
    print(f"   result in the poll answer:         {spread(results)}   ({len(results)}/{count})")
    formula = f"0.4 × {args.latency:g} + 1 = {target:.1f} s"
    return print_verdict(f"first preview ≤ {formula} after pressing Start", ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=20.0)
    parser.add_argument("--partials", type=int, default=2)
    parser.add_argument("--edits", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--poll", type=float, default=0.25)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="retouch-previews-"))
    procs = Processes(workdir / "processes.log")
    ok = True
    try:
        api_url, _ = start_simulator(procs, args.latency)
        sim_url = api_url.removesuffix("/openai")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # One user starts all the edits: the per-user rate limit is not under test.
        env = app_env(
            workdir,
            api_url,
            url,
            RETOUCH_DELIVERY="sync",
            RETOUCH_PARTIAL_IMAGES=str(args.partials),
            RETOUCH_RATE_LIMIT="0",
        )
        start_web(procs, env, port)
        for index in range(args.workers):
            command = [sys.executable, "manage.py", "worker", "--threads", str(args.threads)]
            procs.start([*command, "--worker-id", f"previews-{index + 1}"], env=env)
        time.sleep(3)  # let the workers import Django before the clock starts
        print(
            f"Simulator latency {args.latency:g} s, {args.partials} partial image(s); "
            f"{args.workers} worker(s) × {args.threads} threads, sync delivery"
        )
        for count in args.edits:
            ok = run(count, args, url, sim_url, workdir / "db.sqlite3") and ok
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
