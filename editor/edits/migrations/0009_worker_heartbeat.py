import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """WorkerHeartbeat: one row per running `manage.py worker` process, read by /healthz.
    A new table only; reversible by dropping it (it holds nothing but the last few
    seconds' liveness)."""

    dependencies = [
        ("edits", "0008_edit_kind"),
    ]

    operations = [
        migrations.CreateModel(
            name="WorkerHeartbeat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("worker_id", models.CharField(max_length=100, unique=True)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "beat_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
            ],
            options={
                "ordering": ["worker_id"],
            },
        ),
    ]
