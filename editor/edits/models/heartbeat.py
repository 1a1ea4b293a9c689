"""Worker heartbeats: each `manage.py worker` process says it is alive every few seconds.

`/healthz` reads them to tell a worker that stopped (crashed, frozen, cut off from the
database) from one that is simply idle. One row per process, written by its dispatcher
thread, so a beat also proves the thread that hands out work is turning. A process
that stops cleanly deletes its row; the rows of processes that died are pruned by the
others once they are old enough to be history rather than news.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac


class HeartbeatQuerySet(models.QuerySet):
    def prune(self, now: datetime) -> int:
        """Forget workers silent for three stale periods (3 minutes by default): /healthz
        has said so for two by then, and a crashed worker's replacement, which beats
        under a new id, is running. Returns how many rows went."""
        forgotten = now - timedelta(seconds=3 * stale_seconds())
        deleted, _by_model = self.filter(beat_at__lt=forgotten).delete()
        return deleted


def stale_seconds() -> float:
    return settings.RETOUCH_WORKER_STALE_SECONDS


class WorkerHeartbeat(models.Model):
    # The process's --worker-id (host name and pid by default): private, so /healthz
    # shows `public_id` instead.
    worker_id = models.CharField(max_length=100, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = HeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["worker_id"]

    def __str__(self) -> str:
        return f"{self.worker_id} at {self.beat_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, worker_id: str, started_at: datetime) -> None:
        """Record that `worker_id` is alive now (one UPDATE, an INSERT the first time)."""
        now = timezone.now()
        if not cls.objects.filter(worker_id=worker_id).update(beat_at=now):
            cls.objects.get_or_create(
                worker_id=worker_id, defaults={"beat_at": now, "started_at": started_at}
            )

    @property
    def public_id(self) -> str:
        """A short opaque name, stable for the process, that reveals nothing of the host."""
        digest = salted_hmac("retouch.worker-heartbeat", self.worker_id, algorithm="sha256")
        return digest.hexdigest()[:8]

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.beat_at).total_seconds())

    def is_stale(self, now: datetime) -> bool:
        """Silent for longer than RETOUCH_WORKER_STALE_SECONDS: stopped or stuck."""
        return self.age_seconds(now) > stale_seconds()
