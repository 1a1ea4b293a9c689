import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """Change: the log open pages' event streams read (models/changes.py). A new table
    only, filled from now on; reversible by dropping it (it holds the last hour's changes,
    which pages re-read in full when they are gone)."""

    dependencies = [
        ("edits", "0009_worker_heartbeat"),
    ]

    operations = [
        migrations.CreateModel(
            name="Change",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("team_id", models.BigIntegerField()),
                ("edit_id", models.BigIntegerField(blank=True, null=True)),
                ("batch_id", models.BigIntegerField(blank=True, null=True)),
                (
                    "at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
            ],
            options={"ordering": ["pk"]},
        ),
    ]
