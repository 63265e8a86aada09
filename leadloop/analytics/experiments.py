"""A/B tests of forms, landing pages and email subject lines: sticky random assignment, the
results on conversion and on what happened downstream, and declaring a winner.

Conversion is measured per visitor (or recipient) assigned, never per form fill alone: seed
003 warns that "a change that increases form fills but lowers sales acceptance isn't an
improvement", so every variant is also read on SQLs, deals won and revenue, and the page warns
when the lead rate and the sales outcomes disagree on the winner.

- a form or landing page test: a visitor is assigned when the widget or the hosted page asks
  for the form's definition with their visitor key, and served the variant's FormVersion; they
  converted when their visitor became a lead captured after the assignment;
- a subject line test: a lead is assigned when the workflow step renders its email; they
  "converted" when that email was opened;
- downstream, for both: the lead reached SQL or later (a stage.changed event), won a deal
  (deal.won) and the revenue of those wins, all after the assignment."""

import random
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from leadloop.analytics import experiment_stats as stats
from leadloop.analytics.models import (
    Experiment,
    ExperimentAssignment,
    ExperimentKind,
    ExperimentMetric,
    ExperimentStatus,
    Variant,
)
from leadloop.core.models import Event, LifecycleStage, Message, Visitor

SALES_STAGES = [LifecycleStage.SQL, LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER]
MONEY = DecimalField(max_digits=16, decimal_places=2)
CENT = Decimal("0.01")
_draw = random.SystemRandom()


class ExperimentError(ValueError):
    """A change the experiment's state does not allow; the message says why."""


# --- assignment ------------------------------------------------------------------------------


def assign(experiment: Experiment, visitor_key: str) -> Variant:
    """The visitor's variant: drawn by weight the first time and kept. A decided experiment
    gives everyone the winner and records nothing new."""
    return _sticky(experiment, {"visitor_key": visitor_key}, {})


def assign_recipient(experiment: Experiment, lead_id: int, message_key: str = "") -> Variant:
    """A lead's variant of a tested subject line, the email that first carried it kept."""
    return _sticky(experiment, {"lead_id": lead_id}, {"message_key": message_key})


def _sticky(experiment: Experiment, who: dict, extra: dict) -> Variant:
    if experiment.status == ExperimentStatus.DECIDED:
        return experiment.winner
    existing = (
        ExperimentAssignment.objects.filter(experiment=experiment, **who)
        .select_related("variant")
        .first()
    )
    if existing is not None:
        return existing.variant
    variants = list(experiment.variants.all())
    drawn = _draw.choices(variants, weights=[v.weight for v in variants])[0]
    # Two requests of one visitor at once: the unique constraint lets one row in, and
    # get_or_create hands the other request that row.
    assignment, _ = ExperimentAssignment.objects.select_related("variant").get_or_create(
        experiment=experiment, **who, defaults={"variant": drawn, **extra}
    )
    return assignment.variant


# Which forms and workflows have a test on: capture asks on every form request and nurture on
# every email step, so the answer is kept in the cache for a few seconds instead of asking the
# database each time (a change made here forgets it at once; one made elsewhere, within that).
TESTED_CACHE_KEY = "analytics:experiments:tested"
TESTED_SECONDS = 5


def _tested() -> tuple[frozenset[int], frozenset[int]]:
    """(form ids with a running test, workflow ids with a running or decided subject test)."""
    tested = cache.get(TESTED_CACHE_KEY)
    if tested is None:
        experiments = Experiment.objects.order_by()
        forms = experiments.filter(status=ExperimentStatus.RUNNING, form__isnull=False)
        workflows = experiments.filter(
            status__in=[ExperimentStatus.RUNNING, ExperimentStatus.DECIDED],
            workflow__isnull=False,
        )
        tested = (
            frozenset(forms.values_list("form_id", flat=True)),
            frozenset(workflows.values_list("workflow_id", flat=True)),
        )
        cache.set(TESTED_CACHE_KEY, tested, TESTED_SECONDS)
    return tested


def forget_tested() -> None:
    """Now, and again once the change commits (a request in between may have read the old)."""
    cache.delete(TESTED_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(TESTED_CACHE_KEY))


def form_version_to_show(form_id: int, visitor_key: str, on_landing_page: bool) -> int | None:
    """core.experiments' question from capture: the FormVersion id of the visitor's variant
    while a test runs on the form. A decided test's winner is the form's own definition by
    then (declare_winner), so only running tests answer."""
    if form_id not in _tested()[0]:
        return None
    kind = ExperimentKind.LANDING_PAGE if on_landing_page else ExperimentKind.FORM
    experiment = Experiment.objects.filter(
        form_id=form_id, kind=kind, status=ExperimentStatus.RUNNING
    ).first()
    if experiment is None:
        return None
    return assign(experiment, visitor_key).form_version_id


def subject_to_send(workflow_id: int, step_label: str, lead_id: int, message_key: str) -> str:
    """core.experiments' question from nurture: the subject of the lead's variant, while a test
    runs on the step or after it was decided (the winner's); "" for the step's own."""
    if workflow_id not in _tested()[1]:
        return ""
    experiment = (
        Experiment.objects.filter(
            workflow_id=workflow_id,
            step_label=step_label,
            status__in=[ExperimentStatus.RUNNING, ExperimentStatus.DECIDED],
        )
        .select_related("winner")
        .order_by("-started_at")
        .first()
    )
    if experiment is None:
        return ""
    return assign_recipient(experiment, lead_id, message_key).subject


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A variant's rate against the control's: the difference with its 95% interval, the
    z-test's p-value, and the probability that the variant's true rate is the higher."""

    difference: float
    low: float
    high: float
    p_value: float
    probability_to_beat: float

    @property
    def shown(self) -> str:
        return f"{self.difference * 100:+.1f} pts"

    @property
    def interval_shown(self) -> str:
        return f"{self.low * 100:+.1f} to {self.high * 100:+.1f} pts"

    @property
    def probability_shown(self) -> str:
        return f"{self.probability_to_beat:.0%}"


@dataclass(frozen=True)
class Rate:
    count: int
    of: int
    rate: float
    low: float
    high: float
    against_control: Comparison | None

    @property
    def shown(self) -> str:
        return f"{self.rate:.1%}"

    @property
    def interval_shown(self) -> str:
        return f"{self.low:.1%} to {self.high:.1%}"


@dataclass(frozen=True)
class VariantResult:
    variant: Variant
    assigned: int
    converted: Rate
    sql: Rate
    won: Rate
    revenue: Decimal
    revenue_per_assigned: Decimal
    revenue_difference: Decimal | None

    @property
    def rates(self) -> tuple[Rate, Rate, Rate]:
        return self.converted, self.sql, self.won


@dataclass(frozen=True)
class Results:
    experiment: Experiment
    variants: list[VariantResult]
    warnings: list[str]
    leader: Variant | None


RATES = {"converted": "lead rate", "sql": "SQL rate", "won": "win rate"}


def results(experiment: Experiment) -> list[VariantResult]:
    """Each variant's figures, the control first; one query whatever the number assigned."""
    counts = _counts(experiment)
    variants = list(experiment.variants.all())
    control = next((v for v in variants if v.is_control), variants[0] if variants else None)
    base = counts.get(control.pk, {}) if control else {}
    return [_variant_result(v, counts.get(v.pk, {}), base, v == control) for v in variants]


def report(experiment: Experiment) -> Results:
    rows = results(experiment)
    return Results(experiment, rows, warnings(experiment, rows), leader(experiment, rows))


def _counts(experiment: Experiment) -> dict[int, dict]:
    """Per variant: assigned, converted, reached SQL, won, and revenue, aggregated by the
    database over the assignments."""
    assignments = ExperimentAssignment.objects.filter(experiment=experiment)
    if experiment.tests_email:
        assignments = assignments.annotate(
            outcome_lead=F("lead_id"),
            converted=Exists(
                Message.objects.filter(key=OuterRef("message_key"), opened_at__isnull=False)
            ),
        )
    else:
        new_lead = Visitor.objects.filter(
            key=OuterRef("visitor_key"), lead__captured_at__gte=OuterRef("assigned_at")
        ).values("lead_id")[:1]
        assignments = assignments.annotate(outcome_lead=Subquery(new_lead)).annotate(
            converted=Q(outcome_lead__isnull=False)
        )
    after = {"lead": OuterRef("outcome_lead"), "occurred_at__gte": OuterRef("assigned_at")}
    wins = Event.objects.filter(type="deal.won", **after)
    won_revenue = (
        wins.values("lead")
        .annotate(total=Sum(Cast(KeyTextTransform("revenue", "data"), MONEY)))
        .values("total")
    )
    rows = (
        assignments.annotate(
            reached_sql=Exists(
                Event.objects.filter(type="stage.changed", data__to__in=SALES_STAGES, **after)
            ),
            has_won=Exists(wins),
            revenue=Coalesce(Subquery(won_revenue, output_field=MONEY), Value(Decimal("0"))),
        )
        .values("variant_id")
        .annotate(
            assigned=Count("pk"),
            converted_count=Count("pk", filter=Q(converted=True)),
            sql_count=Count("pk", filter=Q(reached_sql=True)),
            won_count=Count("pk", filter=Q(has_won=True)),
            revenue_total=Sum("revenue"),
        )
        .order_by()
    )
    return {row.pop("variant_id"): row for row in rows}


def _variant_result(variant: Variant, counts: dict, base: dict, is_control: bool) -> VariantResult:
    assigned = counts.get("assigned", 0)
    revenue = Decimal(counts.get("revenue_total") or 0).quantize(CENT)
    per_assigned = (revenue / assigned).quantize(CENT) if assigned else Decimal("0.00")
    base_assigned = base.get("assigned", 0)
    base_revenue = Decimal(base.get("revenue_total") or 0)
    base_per = base_revenue / base_assigned if base_assigned else Decimal("0")
    return VariantResult(
        variant=variant,
        assigned=assigned,
        converted=_rate(counts, base, "converted_count", is_control),
        sql=_rate(counts, base, "sql_count", is_control),
        won=_rate(counts, base, "won_count", is_control),
        revenue=revenue,
        revenue_per_assigned=per_assigned,
        revenue_difference=None if is_control else (per_assigned - base_per).quantize(CENT),
    )


def _rate(counts: dict, base: dict, name: str, is_control: bool) -> Rate:
    x, n = counts.get(name, 0), counts.get("assigned", 0)
    interval = stats.wilson(x, n)
    comparison = None
    if not is_control:
        comparison = _compare(base.get(name, 0), base.get("assigned", 0), x, n)
    return Rate(x, n, x / n if n else 0.0, interval.low, interval.high, comparison)


def _compare(x1: int, n1: int, x2: int, n2: int) -> Comparison:
    interval = stats.difference_interval(x1, n1, x2, n2)
    return Comparison(
        difference=(x2 / n2 if n2 else 0.0) - (x1 / n1 if n1 else 0.0),
        low=interval.low,
        high=interval.high,
        p_value=stats.z_test_p_value(x1, n1, x2, n2),
        probability_to_beat=stats.probability_to_beat(x1, n1, x2, n2),
    )


def warnings(experiment: Experiment, rows: list[VariantResult]) -> list[str]:
    """Too few assigned to read the result yet; and the lead rate crowning a different
    variant than the sales outcomes do (seed 003's reporting trick)."""
    found = [
        f"Variant {row.variant.key} has {row.assigned} of the {experiment.min_sample} "
        f"{_people(experiment)} it needs: {experiment.min_sample - row.assigned} more before "
        "its figures mean much."
        for row in rows
        if row.assigned < experiment.min_sample
    ]
    by_leads = _best(rows, "converted")
    for name in ("sql", "won"):
        by_outcome = _best(rows, name)
        if by_leads and by_outcome and by_leads != by_outcome:
            found.append(
                f"Variant {by_leads.key} leads on the {RATES['converted']} but variant "
                f"{by_outcome.key} on the {RATES[name]}: more form fills that sales accept "
                "less often are not an improvement."
            )
    return found


def _people(experiment: Experiment) -> str:
    return "recipients" if experiment.tests_email else "visitors"


def _best(rows: list[VariantResult], name: str) -> Variant | None:
    """The variant with the highest rate, if one is strictly highest and above zero."""
    ranked = sorted(rows, key=lambda row: getattr(row, name).rate, reverse=True)
    if not ranked or getattr(ranked[0], name).rate == 0:
        return None
    if len(ranked) > 1 and getattr(ranked[1], name).rate == getattr(ranked[0], name).rate:
        return None
    return ranked[0].variant


def leader(experiment: Experiment, rows: list[VariantResult]) -> Variant | None:
    """The variant ahead on the experiment's primary metric (no verdict on significance)."""
    if experiment.metric == ExperimentMetric.REVENUE:
        ranked = sorted(rows, key=lambda row: row.revenue_per_assigned, reverse=True)
        if ranked and ranked[0].revenue_per_assigned > 0:
            return ranked[0].variant
        return None
    name = {"lead": "converted", "sql": "sql", "won": "won"}[experiment.metric]
    return _best(rows, name)


# --- the experiment's life -------------------------------------------------------------------


def start(experiment: Experiment) -> None:
    """From draft (or stopped) to running: two variants or more, one control, each complete."""
    if experiment.status not in (ExperimentStatus.DRAFT, ExperimentStatus.STOPPED):
        raise ExperimentError(f"A {experiment.get_status_display().lower()} test cannot start.")
    variants = list(experiment.variants.all())
    if len(variants) < 2 or sum(v.is_control for v in variants) != 1:
        raise ExperimentError("A test needs two variants or more, one of them the control.")
    if not all(v.weight for v in variants):
        raise ExperimentError("Every variant needs a weight above zero.")
    for variant in variants:
        try:
            variant.clean()
        except ValidationError as error:
            raise ExperimentError(f"Variant {variant.key}: {error.messages[0]}") from None
    others = Experiment.objects.filter(status=ExperimentStatus.RUNNING).exclude(pk=experiment.pk)
    if experiment.tests_email:
        others = others.filter(workflow=experiment.workflow_id, step_label=experiment.step_label)
    else:
        others = others.filter(form=experiment.form_id, kind=experiment.kind)
    if others.exists():
        raise ExperimentError(f"Another test runs there already: {others.first()}.")
    experiment.status = ExperimentStatus.RUNNING
    experiment.started_at = experiment.started_at or timezone.now()
    experiment.save(update_fields=["status", "started_at"])
    forget_tested()


def stop(experiment: Experiment) -> None:
    """Everyone gets the form's own version or the step's own subject again; the assignments
    are kept, so a restart goes on with them."""
    if experiment.status not in (ExperimentStatus.RUNNING, ExperimentStatus.DECIDED):
        raise ExperimentError("Only a running or decided test can be stopped.")
    experiment.status = ExperimentStatus.STOPPED
    experiment.save(update_fields=["status"])
    forget_tested()


def declare_winner(experiment: Experiment, variant: Variant, by: str) -> None:
    """Route everyone to the winner from now on.

    For a form or landing page, the winner's version becomes the form's working definition
    through capture's own versioning (Form.save): the form then serves it to every visitor
    on every channel, a later edit of the form is served as any edit is, and the form's
    version history shows the switch. A winner that is already the latest version adds none;
    an older one comes back as a new version with its definition. For a subject line the step
    keeps its own text, and the decided test answers every render with the winner's."""
    if experiment.status not in (ExperimentStatus.RUNNING, ExperimentStatus.STOPPED):
        raise ExperimentError("Only a running or stopped test can be decided.")
    if variant.experiment_id != experiment.pk:
        raise ExperimentError("That variant is not one of this test's.")
    with transaction.atomic():
        if not experiment.tests_email:
            form = experiment.form
            form.definition = variant.form_version.definition
            form.save()
        experiment.status = ExperimentStatus.DECIDED
        experiment.winner = variant
        experiment.decided_at = timezone.now()
        experiment.decided_by = by[:150]
        experiment.save(update_fields=["status", "winner", "decided_at", "decided_by"])
        forget_tested()


def experiments_listed() -> QuerySet[Experiment]:
    return Experiment.objects.select_related("form", "workflow", "winner").prefetch_related(
        "variants"
    )
