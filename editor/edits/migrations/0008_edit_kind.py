from django.db import migrations, models


class Migration(migrations.Migration):
    """Edit.kind: an edit of photos, or an image created from the prompt alone. Every edit
    stored so far had photos, so the default ("edit") is right for them; reversible by
    dropping the column."""

    dependencies = [
        ("edits", "0007_batches"),
    ]

    operations = [
        migrations.AddField(
            model_name="edit",
            name="kind",
            field=models.CharField(
                choices=[("edit", "Edited"), ("generation", "Created")],
                default="edit",
                max_length=10,
            ),
        ),
    ]
