"""`manage.py reconcile`: the reconciler (`editor/edits/reconcile.py`) on a timer.

django.tasks has no scheduler, so this small process runs a pass every
`RETOUCH_RECONCILE_SECONDS` (or once, with `--once`, for cron). One is enough however
many workers run; more do no harm. The first SIGTERM/SIGINT stops after the current
pass, a second one exits at once.
"""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from editor.edits.reconcile import reconcile

from .worker import on_stop_signals

log = logging.getLogger("editor.edits.worker")


class Command(BaseCommand):
    help = "Run the reconciler: overdue callbacks, crashed workers, deadlines, lost tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            default=settings.RETOUCH_RECONCILE_SECONDS,
            help="seconds between passes (default: RETOUCH_RECONCILE_SECONDS)",
        )
        parser.add_argument("--once", action="store_true", help="run one pass and exit")

    def handle(self, *args, **options) -> None:
        stopping = on_stop_signals(lambda: None)
        while True:
            try:
                close_old_connections()
                reconcile()
            except Exception:
                log.exception("Reconciliation failed; trying again at the next pass")
            finally:
                close_old_connections()
            if options["once"] or stopping.wait(max(0.01, options["every"])):
                return
