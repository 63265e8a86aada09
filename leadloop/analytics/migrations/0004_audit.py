import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_experiments"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditAnswer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "question",
                    models.CharField(help_text="The question's key in audit.py", max_length=40),
                ),
                (
                    "reply",
                    models.CharField(
                        choices=[("yes", "Yes"), ("partly", "Partly"), ("no", "No")],
                        max_length=6,
                    ),
                ),
                ("note", models.TextField(blank=True, max_length=2000)),
                ("answered_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "answered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-answered_at", "-id"],
                "indexes": [
                    models.Index(
                        fields=["question", "answered_at"], name="analytics_a_questio_40ebd2_idx"
                    )
                ],
            },
        ),
    ]
