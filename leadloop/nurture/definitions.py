"""What a workflow is made of, checked by pydantic so a broken one is refused with its reason
when saved, imported or published: the trigger that enrolls a lead, and the ordered steps it
walks through. A step may have a `label`; `next`, `then`, `else` and `on_timeout` name the
label to go to (by default, the following step; past the last step the lead completes).

    {"on": "form_submitted", "form": "quote"}
    [{"do": "send_email", "template": "thanks"},
     {"do": "wait", "hours": 24},
     {"do": "branch", "if": {"event": "email.opened", "within_days": 1}, "then": "case", "else": "sms"},
     {"label": "sms", "do": "send_sms", "text": "Hi {{ lead.first_name }} …", "next": "end"},
     {"label": "case", "do": "send_email", "template": "case-study"},
     {"label": "end", "do": "exit", "reason": "done"}]
"""

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from leadloop.core.conditions import Condition
from leadloop.core.models import LifecycleStage

Stage = Literal[tuple(LifecycleStage.values)]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- triggers ------------------------------------------------------------------------------


class FormSubmitted(_Strict):
    on: Literal["form_submitted"]
    form: str = Field(default="", description="A form's slug; empty for any form")


class StageEntered(_Strict):
    on: Literal["stage_entered"]
    stage: Stage


class ScoreCrossed(_Strict):
    on: Literal["score_crossed"]
    at_least: int


class EventHappened(_Strict):
    on: Literal["event"]
    event: str
    where: dict[str, Any] = {}
    at_least: int = Field(default=1, ge=1, description="e.g. 2 page views of /pricing: a revisit")
    within_days: int | None = Field(default=None, ge=1, le=3650)


class SegmentJoined(_Strict):
    on: Literal["segment_joined"]
    segment: str


class TagAdded(_Strict):
    on: Literal["tag_added"]
    tag: str


class Inactive(_Strict):
    on: Literal["inactive"]
    days: int = Field(ge=1, le=3650)


class DateReached(_Strict):
    on: Literal["date"]
    field: str = Field(description="A fact holding a date, e.g. custom_fields.renewal_date")
    offset_days: int = Field(default=0, description="-7: a week before; 3: three days after")


Trigger = Annotated[
    FormSubmitted
    | StageEntered
    | ScoreCrossed
    | EventHappened
    | SegmentJoined
    | TagAdded
    | Inactive
    | DateReached,
    Field(discriminator="on"),
]
TRIGGER = TypeAdapter(Trigger)

# --- steps ---------------------------------------------------------------------------------


class Duration(_Strict):
    minutes: int = Field(default=0, ge=0)
    hours: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)

    def delta(self) -> timedelta:
        return timedelta(minutes=self.minutes, hours=self.hours, days=self.days)


class _Step(_Strict):
    label: str = Field(default="", max_length=50)
    next: str = Field(default="", max_length=50, description="The label to go to after this")


class SendEmail(_Step):
    do: Literal["send_email"]
    template: str = Field(default="", description="An email template's slug")
    subject: str = ""
    text: str = ""
    html: str = ""

    @model_validator(mode="after")
    def _has_content(self) -> "SendEmail":
        if not self.template and not (self.subject and self.text):
            raise ValueError("send_email needs a template, or a subject and a text")
        return self


class SendSms(_Step):
    do: Literal["send_sms"]
    text: str = Field(min_length=1, max_length=1600)


class Wait(_Step, Duration):
    do: Literal["wait"]


class WaitFor(_Step):
    do: Literal["wait_for"]
    event: str
    where: dict[str, Any] = {}
    timeout: Duration
    on_timeout: str = Field(default="", max_length=50)


class Branch(_Step):
    do: Literal["branch"]
    if_: Condition = Field(alias="if")
    then: str = Field(default="", max_length=50)
    else_: str = Field(default="", alias="else", max_length=50)


class SetField(_Step):
    do: Literal["set_field"]
    field: str = Field(description="custom_fields.<name>, or first_name, last_name, phone")
    value: Any


class SetStage(_Step):
    do: Literal["set_stage"]
    stage: Stage
    why: str = "set by a workflow"


class AdjustScore(_Step):
    do: Literal["adjust_score"]
    points: int
    group: Literal["fit", "engagement", "intent"] = "engagement"
    why: str = "a workflow step"


class CreateTask(_Step):
    do: Literal["create_task"]
    title: str = Field(min_length=1, max_length=200)
    due_in: Duration = Duration()


class NotifyOwner(_Step):
    do: Literal["notify_owner"]
    text: str = Field(min_length=1)


class CallWebhook(_Step):
    do: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")


class Tag(_Step):
    do: Literal["tag"]
    add: list[str] = []
    remove: list[str] = []


class SegmentMembership(_Step):
    do: Literal["segment"]
    add: list[str] = []
    remove: list[str] = []


class Goal(_Step):
    do: Literal["goal"]
    if_: Condition = Field(alias="if")


class Exit(_Step):
    do: Literal["exit"]
    reason: str = "exit step"


Step = Annotated[
    SendEmail
    | SendSms
    | Wait
    | WaitFor
    | Branch
    | SetField
    | SetStage
    | AdjustScore
    | CreateTask
    | NotifyOwner
    | CallWebhook
    | Tag
    | SegmentMembership
    | Goal
    | Exit,
    Field(discriminator="do"),
]
STEPS = TypeAdapter(list[Step])


def parse_trigger(data: object) -> Trigger:
    return TRIGGER.validate_python(data)


def parse_steps(data: object) -> list[Step]:
    """The steps, or ValueError naming what is wrong (pydantic's, or an unknown label)."""
    steps = STEPS.validate_python(data)
    labels = [step.label for step in steps if step.label]
    if len(labels) != len(set(labels)):
        raise ValueError("two steps have the same label")
    for step in steps:
        for target in targets(step):
            if target not in labels:
                raise ValueError(f"no step is labelled {target!r}")
    return steps


def targets(step: Step) -> list[str]:
    """The labels a step can jump to."""
    named = [step.next]
    if isinstance(step, Branch):
        named += [step.then, step.else_]
    if isinstance(step, WaitFor):
        named.append(step.on_timeout)
    return [label for label in named if label]
