"""HeldResult: results the image service returned while the media storage could not take
them, kept until it does (a new table; reversible, nothing else changes)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("edits", "0010_change_log"),
    ]

    operations = [
        migrations.CreateModel(
            name="HeldResult",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField()),
                ("content_type", models.CharField(max_length=50)),
                ("revised_prompt", models.TextField(blank=True)),
                ("data", models.BinaryField()),
                ("answer", models.JSONField(default=dict)),
                ("held_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "edit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="held_results",
                        to="edits.edit",
                    ),
                ),
            ],
            options={
                "ordering": ["edit", "position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("edit", "position"), name="unique_held_position"
                    )
                ],
            },
        ),
    ]
