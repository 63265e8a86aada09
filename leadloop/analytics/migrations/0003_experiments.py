"""The A/B tests' records: experiments, their variants, and who was given which variant."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_rollups"),
        ("capture", "0004_importjob_kind"),
        ("core", "0009_lead_stage_visitor_seen_indexes"),
        ("nurture", "0002_broadcast"),
    ]

    operations = [
        migrations.CreateModel(
            name="Experiment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("form", "Form (widget, popup, chat)"),
                            ("landing_page", "Landing page (the hosted page)"),
                            ("email_subject", "Email subject line"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "step_label",
                    models.CharField(
                        blank=True,
                        help_text="The label of the workflow's send_email step",
                        max_length=50,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("running", "Running"),
                            ("decided", "Decided: everyone gets the winner"),
                            ("stopped", "Stopped"),
                        ],
                        default="draft",
                        max_length=10,
                    ),
                ),
                (
                    "metric",
                    models.CharField(
                        choices=[
                            ("lead", "Conversion to lead (opens, for a subject line)"),
                            ("sql", "Reached sales-qualified"),
                            ("won", "Won a deal"),
                            ("revenue", "Revenue per visitor or recipient"),
                        ],
                        default="sql",
                        help_text="What decides the winner",
                        max_length=10,
                    ),
                ),
                (
                    "min_sample",
                    models.PositiveIntegerField(
                        default=200,
                        help_text="Visitors or recipients each variant needs before reading it",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decided_by", models.CharField(blank=True, max_length=150)),
                (
                    "form",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="capture.form",
                    ),
                ),
                (
                    "workflow",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="nurture.workflow",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="Variant",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(help_text='"A", "B", ...', max_length=10)),
                ("name", models.CharField(blank=True, max_length=100)),
                ("is_control", models.BooleanField(default=False)),
                (
                    "weight",
                    models.PositiveSmallIntegerField(
                        default=1,
                        help_text="Share of the traffic, relative to the other variants' weights",
                    ),
                ),
                (
                    "subject",
                    models.CharField(
                        blank=True,
                        help_text="Empty for the control: the step's own subject",
                        max_length=200,
                    ),
                ),
                (
                    "experiment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="variants",
                        to="analytics.experiment",
                    ),
                ),
                (
                    "form_version",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="capture.formversion",
                    ),
                ),
            ],
            options={
                "ordering": ["experiment", "-is_control", "key"],
            },
        ),
        migrations.CreateModel(
            name="ExperimentAssignment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("visitor_key", models.CharField(blank=True, max_length=64)),
                ("message_key", models.CharField(blank=True, max_length=100)),
                ("assigned_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "experiment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="analytics.experiment",
                    ),
                ),
                (
                    "lead",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="core.lead",
                    ),
                ),
                (
                    "variant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="analytics.variant",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="experiment",
            name="winner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="analytics.variant",
            ),
        ),
        migrations.AddConstraint(
            model_name="variant",
            constraint=models.UniqueConstraint(
                fields=("experiment", "key"), name="one_variant_key_per_experiment"
            ),
        ),
        migrations.AddConstraint(
            model_name="variant",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_control", True)),
                fields=("experiment",),
                name="one_control_per_experiment",
            ),
        ),
        migrations.AddIndex(
            model_name="experimentassignment",
            index=models.Index(fields=["experiment", "variant"], name="assignment_by_variant"),
        ),
        migrations.AddConstraint(
            model_name="experimentassignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("visitor_key", ""), _negated=True),
                fields=("experiment", "visitor_key"),
                name="one_assignment_per_visitor",
            ),
        ),
        migrations.AddConstraint(
            model_name="experimentassignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("lead__isnull", False)),
                fields=("experiment", "lead"),
                name="one_assignment_per_lead",
            ),
        ),
        migrations.AddConstraint(
            model_name="experiment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("form__isnull", False), ("status", "running")),
                fields=("form", "kind"),
                name="one_running_experiment_per_form",
            ),
        ),
        migrations.AddConstraint(
            model_name="experiment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "running"), ("workflow__isnull", False)),
                fields=("workflow", "step_label"),
                name="one_running_experiment_per_step",
            ),
        ),
    ]
