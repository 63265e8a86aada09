import django.db.models.deletion
from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial"), ("core", "0008_task_reminded_at")]

    operations = [
        migrations.CreateModel(
            name="MeasureSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "gross_margin",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("50"),
                        help_text="Percent of revenue",
                        max_digits=5,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="RollupState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("refreshed_at", models.DateTimeField(null=True)),
                ("event_watermark", models.BigIntegerField(default=0)),
                ("reread_from", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="ActivityDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source_id", models.IntegerField(null=True)),
                ("channel", models.CharField(max_length=20)),
                ("campaign", models.CharField(max_length=200)),
                ("form", models.CharField(max_length=200)),
                ("owner_id", models.IntegerField(null=True)),
                ("day", models.DateField()),
                ("kind", models.CharField(max_length=40)),
                ("stage", models.CharField(blank=True, max_length=20)),
                ("count", models.PositiveIntegerField(default=0)),
                (
                    "amount",
                    models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=16),
                ),
                ("duration", models.DurationField(null=True)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["day", "kind"], name="analytics_a_day_ddf73a_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="CohortDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source_id", models.IntegerField(null=True)),
                ("channel", models.CharField(max_length=20)),
                ("campaign", models.CharField(max_length=200)),
                ("form", models.CharField(max_length=200)),
                ("owner_id", models.IntegerField(null=True)),
                ("day", models.DateField()),
                ("leads", models.PositiveIntegerField(default=0)),
                ("mql", models.PositiveIntegerField(default=0)),
                ("sql", models.PositiveIntegerField(default=0)),
                ("opportunity", models.PositiveIntegerField(default=0)),
                ("customers", models.PositiveIntegerField(default=0)),
                (
                    "revenue",
                    models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=16),
                ),
                ("contacted", models.PositiveIntegerField(default=0)),
                ("contact_minutes", models.JSONField(default=list)),
                ("step_days", models.JSONField(default=dict)),
            ],
            options={
                "indexes": [models.Index(fields=["day"], name="analytics_c_day_1885d6_idx")],
            },
        ),
        migrations.CreateModel(
            name="LeadJourney",
            fields=[
                ("source_id", models.IntegerField(null=True)),
                ("channel", models.CharField(max_length=20)),
                ("campaign", models.CharField(max_length=200)),
                ("form", models.CharField(max_length=200)),
                ("owner_id", models.IntegerField(null=True)),
                (
                    "lead",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="analytics_journey",
                        serialize=False,
                        to="core.lead",
                    ),
                ),
                ("day", models.DateField()),
                ("reached", models.PositiveSmallIntegerField(default=0)),
                ("captured_at", models.DateTimeField()),
                ("contacted_at", models.DateTimeField(null=True)),
                ("mql_at", models.DateTimeField(null=True)),
                ("sql_at", models.DateTimeField(null=True)),
                ("opportunity_at", models.DateTimeField(null=True)),
                ("customer_at", models.DateTimeField(null=True)),
                ("to_contact", models.DurationField(null=True)),
                ("mql_after", models.DurationField(null=True)),
                ("sql_after", models.DurationField(null=True)),
                ("opportunity_after", models.DurationField(null=True)),
                ("customer_after", models.DurationField(null=True)),
                (
                    "revenue",
                    models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=14),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["day"], name="analytics_l_day_fb7786_idx")],
            },
        ),
    ]
