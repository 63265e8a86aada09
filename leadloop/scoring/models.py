"""What scoring owns: the rules that give points, and the shared definition of MQL and SQL."""

from django.core.exceptions import ValidationError
from django.db import models
from pydantic import ValidationError as SchemaError

from leadloop.core.conditions import EventCondition, parse_condition


class ScoreGroup(models.TextChoices):
    FIT = "fit", "Fit (who they are)"
    ENGAGEMENT = "engagement", "Engagement (what they did)"
    INTENT = "intent", "Intent (what they asked for)"


class ScoringRule(models.Model):
    """Points for a lead: once when `condition` holds, or for each event on its timeline that
    matches `per_event` (then capped, and decaying with the events' age if `decays`).
    Negative points mark what counts against a lead (students, competitors, bad quality)."""

    name = models.CharField(max_length=200, unique=True)
    group = models.CharField(max_length=12, choices=ScoreGroup.choices)
    points = models.IntegerField(help_text="Per match; negative for what counts against a lead")
    condition = models.JSONField(
        null=True, blank=True, help_text='Once when it holds, e.g. {"fact": "free_mail", ...}'
    )
    per_event = models.JSONField(
        null=True,
        blank=True,
        help_text='For each matching event, e.g. {"event": "page.viewed", "where": {"path": "/pricing"}}',
    )
    cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="The most points (either sign) this rule can give"
    )
    decays = models.BooleanField(
        default=True, help_text="Per-event points halve every half-life of the event's age"
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["group", "position", "name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if (self.condition is None) == (self.per_event is None):
            raise ValidationError("Give either a condition or a per-event match, not both.")
        try:
            if self.condition is not None:
                parse_condition(self.condition)
            else:
                EventCondition.model_validate(self.per_event)
        except SchemaError as error:
            raise ValidationError(f"This rule does not read: {error}") from None


DEFAULT_MQL = {
    "all": [
        {"fact": "score_fit", "op": "gte", "value": 40},
        {"fact": "score_intent", "op": "gte", "value": 10},
    ]
}
DEFAULT_SQL = {
    "all": [
        {"fact": "score", "op": "gte", "value": 80},
        {"fact": "custom_fields.budget", "op": "filled"},
        {"fact": "custom_fields.timeline", "op": "filled"},
    ]
}


class StageDefinitions(models.Model):
    """The one shared definition of "qualified" (a single row): when a lead becomes an MQL and
    an SQL, and how fast engagement and intent fade."""

    mql = models.JSONField(default=dict, help_text="When a lead is marketing qualified")
    sql = models.JSONField(default=dict, help_text="When a lead is sales qualified")
    half_life_days = models.PositiveIntegerField(
        default=30, help_text="Engagement and intent points halve every this many days"
    )

    class Meta:
        verbose_name = verbose_name_plural = "stage definitions"

    def __str__(self) -> str:
        return "MQL and SQL definitions"

    def save(self, *args, **kwargs) -> None:
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        for name in ("mql", "sql"):
            try:
                parse_condition(getattr(self, name))
            except SchemaError as error:
                raise ValidationError({name: f"This definition does not read: {error}"}) from None

    @classmethod
    def current(cls) -> "StageDefinitions":
        found = cls.objects.order_by("pk").first()
        return found or cls.objects.create(mql=DEFAULT_MQL, sql=DEFAULT_SQL)


class ScoringStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (gave up)"


class ScoringRequest(models.Model):
    """A lead to score again, written in the same transaction as what changed it (a capture, a
    rule change, an event). The task that scores it settles every pending request of the lead
    at once; the sweep finds them again if the task is lost."""

    lead = models.ForeignKey("core.Lead", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=100)
    status = models.CharField(
        max_length=10, choices=ScoringStatus.choices, default=ScoringStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"score lead {self.lead_id} ({self.reason}, {self.status})"


class RescoreStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RescoreJob(models.Model):
    """Scoring every lead again (after the rules or definitions change), in the background with
    its progress kept here; capture goes on meanwhile. Resumable from `last_lead_id`."""

    reason = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=RescoreStatus.choices, default=RescoreStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    last_lead_id = models.BigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"rescore ({self.reason}): {self.processed}/{self.total} {self.status}"


class ScoringModel(models.Model):
    """One trained predictive model: its version, what it was trained on, how it did on the
    hold-out, and the fitted estimator. One at most is active; without one, the rules decide."""

    version = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    trained_on = models.PositiveIntegerField(help_text="Leads with a known outcome")
    features = models.JSONField(default=list, help_text="The feature names, in order")
    metrics = models.JSONField(default=dict, help_text="Hold-out AUC, Brier score, lift table")
    estimator = models.BinaryField(help_text="The fitted, calibrated estimator (joblib)")
    is_active = models.BooleanField(default=False)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model"
            )
        ]

    def __str__(self) -> str:
        auc = self.metrics.get("auc")
        return f"model v{self.version}" + (f" (AUC {auc:.3f})" if auc is not None else "")
