"""The gallery at 100,000 edits: one team's history seeded with bulk_create, then every
gallery request a person makes timed end to end through Django's test client (the
whole stack in this process: middleware, sessions, the view, its queries, the template;
no HTTP socket), on SQLite and on a throw-away PostgreSQL server (started on 127.0.0.1
as scripts/test-postgres starts one, and removed afterwards).

Per case it prints the median and the worst of several runs (after one warm-up run),
the CPU time per request (this process and, on PostgreSQL, its server process: what a
request costs whatever else the machine runs) and the number of queries; the targets
(issue 13): page 1 ≤ 50 ms; any later page
≤ 100 ms; the prompt search and the member, status, model, date and starred filters
≤ 100 ms; the poll the same at 1,000 and at 100,000 edits, in time and in queries.
`--explain` prints the plan of each case's slowest query (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL).

    .venv/bin/python benchmarks/gallery_scale.py                  # both databases
    .venv/bin/python benchmarks/gallery_scale.py --database sqlite --explain
    .venv/bin/python benchmarks/gallery_scale.py --edits 20000 --runs 5

The seed: a shared team of six members (from 45% of the edits to 0.1%), two years of
history with ties (a batch's edits share their moment), 8% failed, five pending at the
top, the models in uneven shares, prompts in English and (one in six) Chinese, one
result row per finished edit (no image files: the cards only link to thumbnails), 300
starred by the person looking, and another team's 10,000 edits beside them. Page 1 and
the poll are measured first when the team has its newest 1,000 edits, then again once
the 99,000 older ones are in. Every step is bounded: `--budget` seconds for the whole run
(about two minutes for both databases at 100,000 edits).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack import throwaway_postgres  # noqa: E402

from tests.processes import manage  # noqa: E402

PAGE_TARGET_MS = 50
LATER_TARGET_MS = 100
BATCH = 5_000
OTHER_TEAM_EDITS = 10_000
# Who made the team's edits, and how often; "ann" is the one looking.
MEMBERS = {"ann": 45, "ben": 30, "cai": 15, "dora": 9, "eve": 0.9, "rare": 0.1}
MODELS = {"gpt-image-2": 55, "gpt-image-1.5": 20, "nano-banana": 15, "gpt-image-1": 9.8}
RARE_MODEL = "dall-e-2"  # 0.2%
ENGLISH = (
    ["Make the", "Put the", "Turn the", "Add snow to the", "Brighten the", "Remove the"],
    ["sky", "sea", "basket", "portrait", "street", "cake", "mountain", "kitchen", "car"],
    ["stormy", "at dusk", "in watercolour", "as a poster", "golden", "in the rain", "vintage"],
)
CHINESE = (
    ["把", "让", "将"],
    ["天空", "大海", "花篮", "人像", "街道", "蛋糕", "山峰", "厨房"],
    ["变成暴风雨", "变成黄昏", "画成水彩", "做成海报", "变成金色", "放进雨里"],
)
RARE_WORDS = ("zeppelin", "飞艇")  # one prompt in 2,000 each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--edits", type=int, default=100_000, help="the team's edits")
    parser.add_argument("--small", type=int, default=1_000, help="the poll's first measure")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case")
    parser.add_argument("--explain", action="store_true", help="print each case's plan")
    parser.add_argument("--budget", type=float, default=1800, help="seconds for everything")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a results file: measure here
    args = parser.parse_args()
    if args.child:
        measure(args)
        return
    deadline = time.monotonic() + args.budget
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = {}
    for database in databases:
        with tempfile.TemporaryDirectory(prefix=f"retouch-gallery-{database}-") as tmp:
            workdir = Path(tmp)
            if database == "postgres":
                with throwaway_postgres(workdir) as url:
                    results[database] = run_child(args, workdir, deadline, DATABASE_URL=url)
            else:
                results[database] = run_child(args, workdir, deadline)
    print_summary(results, args)


def run_child(args, workdir: Path, deadline: float, **env: str) -> list[dict]:
    """Seed and measure in a process of its own: Django reads its database from the
    environment once, at start."""
    out = workdir / "results.json"
    command = [sys.executable, __file__, "--child", str(out)]
    command += ["--edits", str(args.edits), "--small", str(args.small), "--runs", str(args.runs)]
    command += ["--explain"] if args.explain else []
    child_env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": "editor.settings",
        "RETOUCH_DATA_DIR": str(workdir),
        "STATIC_ROOT": str(workdir / "static"),
        "SECRET_KEY": "benchmark-only",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    manage(child_env, "collectstatic", "--noinput", "-v0")
    subprocess.run(command, cwd=ROOT, env=child_env, check=True, timeout=remaining(deadline))  # noqa: S603
    return json.loads(out.read_text())


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise SystemExit("out of time (--budget)")
    return left


# --- in the child process: seed, then measure ----------------------------------------


def measure(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    print(f"\n== {connection.vendor}: {describe_database(connection)}", flush=True)
    seed = Seed(random.Random(13))
    seed.people()
    seed.team_edits(args.small)
    print(f"seeded {args.small:,} edits in {time.monotonic() - started:.0f} s", flush=True)
    cases = Cases(seed, runs=args.runs, explain=args.explain)
    small_page = cases.case(f"page 1 at {args.small:,} edits", "/", {}, PAGE_TARGET_MS)
    small_poll = cases.poll(f"poll at {args.small:,} edits")
    seed.team_edits(args.edits - args.small)
    seed.other_team(OTHER_TEAM_EDITS)
    seed.stars(300)
    seed.analyze()
    print(f"seeded {args.edits:,} edits in {time.monotonic() - started:.0f} s", flush=True)
    results = [small_page, small_poll, *cases.all(args.edits)]
    Path(args.child).write_text(json.dumps(results))


def describe_database(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]} (WAL, the app's settings)"
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW lc_ctype")
        return f"PostgreSQL {version} (lc_ctype {cursor.fetchone()[0]}, fsync off)"


class Seed:
    """The team, its members and its history, written in batches of BATCH rows."""

    def __init__(self, rng: random.Random) -> None:
        from django.utils import timezone

        self.rng = rng
        self.now = timezone.now()
        self.span = timedelta(days=730)
        self.written = 0  # of the team's edits, newest first
        self.batches: list = []  # made, to be written before their edits

    def people(self) -> None:
        from django.contrib.auth import get_user_model

        from editor.teams.models import Membership, Profile, Role, Team

        users = get_user_model().objects
        self.users = {name: users.create_user(name) for name in MEMBERS}
        self.team = Team.objects.create(name="Studio")
        for name, user in self.users.items():
            role = Role.OWNER if name == "ann" else Role.EDITOR
            Membership.objects.create(team=self.team, user=user, role=role)
            Profile.remember(user, self.team)
        self.viewer = self.users["ann"]
        outsider = users.create_user("zed")
        self.elsewhere = Team.objects.create(name="Elsewhere")
        Membership.objects.create(team=self.elsewhere, user=outsider, role=Role.OWNER)
        self.outsider = outsider

    def prompt(self) -> str:
        rng = self.rng
        if rng.random() < 1 / 2000:
            return f"Add a {RARE_WORDS[0]} over the city"
        if rng.random() < 1 / 2000:
            return f"在城市上空加一艘{RARE_WORDS[1]}"
        words = CHINESE if rng.random() < 1 / 6 else ENGLISH
        joiner = "" if words is CHINESE else " "
        return joiner.join(rng.choice(part) for part in words)

    def pick(self, shares: dict[str, float]) -> str:
        return self.rng.choices(list(shares), weights=list(shares.values()))[0]

    def team_edits(self, count: int) -> None:
        """`count` edits older than those written so far (the newest first, so that the
        first call gives the team its latest history)."""
        from editor.edits.models import Batch

        total = self.written + count
        rows = []
        for index in range(self.written, total):
            edit = self.edit_row(index, self.team, self.pick(MEMBERS), pending=index < 5)
            # The first three edits of every 50 after the pending ones: one batch of three
            # photos, made at one moment with one prompt.
            if index % 50 == 0 and index >= 50:
                batch = Batch(
                    team=self.team,
                    created_by=edit.created_by,
                    prompt=edit.prompt,
                    created_at=edit.created_at,
                )
                self.batches.append(batch)
            if index % 50 < 3 and index >= 50:
                edit.batch, edit.prompt, edit.created_by = batch, batch.prompt, batch.created_by
            rows.append(edit)
            if len(rows) == BATCH:
                self.write(rows)
                rows = []
        self.write(rows)
        self.written = total

    def other_team(self, count: int) -> None:
        rows = [self.edit_row(i, self.elsewhere, None) for i in range(count)]
        for start in range(0, count, BATCH):
            self.write(rows[start : start + BATCH])

    def edit_row(self, index: int, team, member: str | None, *, pending: bool = False):
        from editor.edits.models import Edit, Status

        # About one edit every ten minutes over two years; every 50th moment is a batch-like
        # tie of several edits (the keyset's id settles their order).
        moment = self.now - self.span * (index - index % 50 if index % 50 < 3 else index) / 110_000
        if pending:
            status = Status.RUNNING if index < 2 else Status.QUEUED
        else:
            status = Status.FAILED if self.rng.random() < 0.08 else Status.SUCCEEDED
        model = RARE_MODEL if self.rng.random() < 0.002 else self.pick(MODELS)
        finished = None if pending else moment + timedelta(seconds=20)
        user = self.users[member] if member else self.outsider
        return Edit(
            team=team,
            created_by=user,
            model=model,
            prompt=self.prompt(),
            params={"size": "1024x1024", "quality": "high"},
            status=status,
            created_at=moment,
            started_at=None if status == Status.QUEUED else moment + timedelta(seconds=1),
            finished_at=finished,
            cost_usd=Decimal("0.042") if status == Status.SUCCEEDED else None,
            usage={"input_tokens": 520, "output_tokens": 4160}
            if status == Status.SUCCEEDED
            else None,
        )

    def write(self, rows: list) -> None:
        from django.db import transaction

        from editor.edits.models import Batch, Edit, ResultImage, Status

        if not rows:
            return
        with transaction.atomic():
            Batch.objects.bulk_create(self.batches)
            self.batches = []
            made = Edit.objects.bulk_create(rows, batch_size=1000)
            results = [
                ResultImage(
                    edit=edit,
                    position=0,
                    content_type="image/png",
                    width=1024,
                    height=1024,
                    size_bytes=1_500_000,
                    file=f"results/{edit.pk}/0.png",
                    thumbnail=f"thumbnails/{edit.pk}/0.webp",
                )
                for edit in made
                if edit.status == Status.SUCCEEDED
            ]
            ResultImage.objects.bulk_create(results, batch_size=1000)

    def stars(self, count: int) -> None:
        from editor.edits.models import Edit, Star

        ids = list(Edit.objects.filter(team=self.team).values_list("pk", flat=True))
        chosen = self.rng.sample(ids, min(count, len(ids)))
        Star.objects.bulk_create(Star(edit_id=pk, user=self.viewer) for pk in chosen)

    def analyze(self) -> None:
        """PostgreSQL's autovacuum would gather statistics after such a load by itself;
        here it is done at once. SQLite keeps none unless asked, and the app never asks:
        it is measured as it runs."""
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")


class Cases:
    """The requests a person makes, each timed `runs` times."""

    def __init__(self, seed: Seed, *, runs: int, explain: bool) -> None:
        from django.test import Client

        self.seed = seed
        self.runs = runs
        self.explain = explain
        self.client = Client(SERVER_NAME="localhost")
        self.client.force_login(seed.viewer)

    def all(self, edits: int) -> list[dict]:
        from editor.edits.models import Edit, Status
        from editor.edits.models.keyset import Cursor

        team_edits = Edit.objects.filter(team=self.seed.team).order_by("-created_at", "-pk")

        def before(offset: int) -> str:
            return str(Cursor.of(team_edits[offset], "created_at"))

        month = (self.seed.now - timedelta(days=365)).date()
        dates = {"since": month.isoformat(), "until": (month + timedelta(days=30)).isoformat()}
        first, later = PAGE_TARGET_MS, LATER_TARGET_MS
        older = None  # the Older link of the same request's first page
        cases = [
            (f"page 1 at {edits:,} edits", {}, first),
            ("page 2", {"before": older}, later),
            ("a middle page (Older)", {"before": before(edits // 2)}, later),
            ("a middle page (Newer)", {"after": before(edits // 2)}, later),
            ("the last page", {"before": before(edits - 11)}, later),
            ("search: common word 'sky'", {"q": "sky"}, later),
            ("search 'sky', page 2", {"q": "sky", "before": older}, later),
            ("search: 'stormy sky' (none)", {"q": "stormy sky"}, later),
            (f"search: rare word '{RARE_WORDS[0]}'", {"q": RARE_WORDS[0]}, later),
            ("search: Chinese '变成暴风雨'", {"q": "变成暴风雨"}, later),
            (f"search: rare Chinese '{RARE_WORDS[1]}' (2 chars)", {"q": RARE_WORDS[1]}, later),
            ("search: Chinese '天空' (2 chars)", {"q": "天空"}, later),
            ("search: 'qx' (2 chars, none)", {"q": "qx"}, later),
            ("member: ann (45%)", {"member": "ann"}, later),
            ("member: rare (0.1%)", {"member": "rare"}, later),
            ("status: failed (8%)", {"status": Status.FAILED}, later),
            ("status: queued (5 edits)", {"status": Status.QUEUED}, later),
            (f"model: {RARE_MODEL} (0.2%)", {"model": RARE_MODEL}, later),
            ("dates: one month a year ago", dates, later),
            ("starred by me (300)", {"starred": "on"}, later),
            ("member rare + status failed", {"member": "rare", "status": "failed"}, later),
        ]
        measured = []
        for name, params, target in cases:
            if "before" in params and params["before"] is older:
                params["before"] = self.older_link({k: v for k, v in params.items() if v})
            measured.append(self.case(name, "/", params, target))
        measured.append(self.poll(f"poll at {edits:,} edits"))
        measured.append(self.case("usage page (not a target)", "/usage/", {}, None))
        return measured

    def older_link(self, params: dict) -> str:
        import re

        html = self.client.get("/", params).content.decode()
        match = re.search(r'before=([0-9]+-[0-9]+)"[^>]*rel="next"', html)
        return match[1] if match else ""

    def poll(self, name: str) -> dict:
        """The gallery's poll as page 1 sends it: its pending cards' tokens."""
        from editor.edits.models import Edit

        pending = Edit.objects.filter(team=self.seed.team, status__in=("queued", "running"))
        tokens = [f"{e.pk}:{e.status}" for e in pending[:10]]
        # Cheap and compared across histories: more runs, so that noise does not decide.
        runs = self.runs
        self.runs = max(5 * runs, 50)
        try:
            return self.case(name, "/edits/updates/", {"pending": tokens}, None, htmx=True)
        finally:
            self.runs = runs

    def case(self, name: str, path: str, params: dict, target, *, htmx: bool = False) -> dict:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = self.client.get(path, params, **headers)  # the warm-up
        assert response.status_code == 200, (name, response.status_code)
        cards = response.content.decode().count('class="edit-card')
        times = []
        cpu_before = cpu_seconds(connection)
        for _ in range(self.runs):
            started = time.perf_counter()
            self.client.get(path, params, **headers)
            times.append((time.perf_counter() - started) * 1000)
        cpu = (cpu_seconds(connection) - cpu_before) / self.runs * 1000
        with CaptureQueriesContext(connection) as queries:
            self.client.get(path, params, **headers)
        row = {
            "case": name,
            "median": statistics.median(times),
            "worst": max(times),
            "cpu": cpu,
            "queries": len(queries),
            "cards": cards,
            "target": target,
        }
        print(
            f"{name:<44} median {row['median']:6.1f} ms  worst {row['worst']:6.1f} ms  "
            f"CPU {cpu:5.1f} ms  {row['queries']:2d} queries  {cards:2d} cards  {verdict(row)}",
            flush=True,
        )
        if self.explain:
            print_plan(connection, queries.captured_queries)
        return row


def cpu_seconds(connection) -> float:
    """CPU time so far of this process and, on PostgreSQL, of its server process (from
    /proc: the database works there): what a request costs whatever else the machine is
    running, where the wall-clock figures also count waiting for a core."""
    used = time.process_time()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def verdict(row: dict) -> str:
    if row["target"] is None:
        return ""
    return f"≤ {row['target']} ms " + ("ok" if row["worst"] <= row["target"] else "OVER")


def print_plan(connection, captured: list[dict]) -> None:
    """The plan of the request's slowest query, as the database chose it (each query is
    run once more and timed: Django's own timings are rounded to the millisecond)."""
    timed = []
    with connection.cursor() as cursor:
        for query in captured:
            if not query["sql"].startswith("SELECT"):
                continue
            started = time.perf_counter()
            cursor.execute(query["sql"])
            cursor.fetchall()
            timed.append((time.perf_counter() - started, query["sql"]))
        took, sql = max(timed)
        explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
        cursor.execute(explain + sql)
        rows = cursor.fetchall()
    print(f"    slowest query ({took * 1000:.1f} ms): {sql[:400]}…")
    for row in rows:
        print(f"      {row[-1]}")


def print_summary(results: dict[str, list[dict]], args) -> None:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    print(
        f"\n== {args.edits:,} edits in one team; per case, ms: median / worst of {args.runs} "
        f"runs (the poll: {max(5 * args.runs, 50)}), wall clock; CPU per request (this "
        "process and its database server); queries"
    )
    header = f"{'case':<44}" + "".join(f"{names[db]:>30}" for db in results) + "  target"
    print(header)
    rows = zip(*results.values(), strict=True)
    for cells in rows:
        line = f"{cells[0]['case']:<44}"
        for cell in cells:
            line += f"{cell['median']:>8.1f} / {cell['worst']:5.1f}"
            line += f" {cell['cpu']:5.1f} ({cell['queries']:2d}q)"
        target = cells[0]["target"]
        met = all(c["worst"] <= target for c in cells) if target else None
        line += f"  ≤ {target} {'ok' if met else 'OVER'}" if target else ""
        print(line)
    polls = [
        (db, [r for r in rows_ if r["case"].startswith("poll")]) for db, rows_ in results.items()
    ]
    for db, (small, large) in polls:
        print(
            f"{names[db]} poll: {small['median']:.1f} ms, {small['queries']} queries at "
            f"{args.small:,} edits; {large['median']:.1f} ms, {large['queries']} queries at "
            f"{args.edits:,} ({large['median'] / small['median']:.2f} x)"
        )


if __name__ == "__main__":
    main()
