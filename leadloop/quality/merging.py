"""Merging two leads that are one person: a person picks each field; everything that hangs off
the other lead (timeline, consents, submissions, deals, visitors) moves to the one kept. The
other lead stays, marked as merged into it, so nothing is deleted."""

from django.db import models, transaction
from django.utils import timezone

from leadloop.core import services as core
from leadloop.core.keys import email_key, name_key
from leadloop.core.models import Lead

CHOOSABLE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "lifecycle_stage",
                    "owner", "source")  # fmt: skip
KEEP, TAKE = "keep", "take"


class MergeRefused(ValueError):
    pass


def differing_fields(kept: Lead, other: Lead) -> list[str]:
    return [f for f in CHOOSABLE_FIELDS if _value(kept, f) != _value(other, f)]


def _value(lead: Lead, name: str) -> object:
    return (
        getattr(lead, f"{name}_id")
        if name in {"company", "owner", "source"}
        else getattr(lead, name)
    )


def merge_leads(kept: Lead, other: Lead, take: set[str], *, by: str) -> Lead:
    """Fold `other` into `kept`, taking `other`'s value for the fields named in `take`."""
    if kept.pk == other.pk:
        raise MergeRefused("A lead cannot be merged into itself.")
    unknown = take - set(CHOOSABLE_FIELDS)
    if unknown:
        raise MergeRefused(f"Unknown fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        kept = Lead.objects.select_for_update().get(pk=kept.pk)
        other = Lead.objects.select_for_update().get(pk=other.pk)
        if other.merged_at or kept.merged_at:
            raise MergeRefused("One of these leads was already merged.")
        taken = {name: [str(_value(kept, name)), str(_value(other, name))] for name in sorted(take)}
        for name in take:
            setattr(kept, name, getattr(other, name))
        _fold_history(kept, other)
        moved = _move_related(other, kept)
        # The other lead gives up its place as a primary first: the kept one may take its email.
        other.duplicate_of, other.merged_at = kept, timezone.now()
        other.save(update_fields=["duplicate_of", "merged_at", "updated_at"])
        kept.email_key = email_key(kept.email)
        kept.name_key = name_key(
            kept.first_name, kept.last_name, kept.company.name if kept.company else ""
        )
        kept.duplicate_of_id = _repeats(kept, other)
        kept.save()
        core.record_event(
            kept, "lead.merged", {"merged_lead": other.pk, "taken": taken, "moved": moved}, actor=by
        )
        core.record_event(other, "lead.merged_into", {"lead": kept.pk}, actor=by)
    return kept


def _repeats(kept: Lead, other: Lead) -> int | None:
    """The lead the kept one is a linked duplicate of after the merge, or None for a primary.

    One primary per mailbox: a kept lead whose mailbox has another primary stays linked to it
    (two linked duplicates merged, or a third lead merged into a linked duplicate); otherwise it
    is its mailbox's primary, the other lead having given up its place."""
    if not kept.email_key:
        return None if kept.duplicate_of_id == other.pk else kept.duplicate_of_id
    return (
        Lead.objects.filter(email_key=kept.email_key, duplicate_of__isnull=True)
        .exclude(pk__in=[kept.pk, other.pk])
        .values_list("pk", flat=True)
        .first()
    )


def _fold_history(kept: Lead, other: Lead) -> None:
    """The older capture is the first touch; answers the kept lead lacks come from the other."""
    if other.captured_at < kept.captured_at:
        kept.captured_at, kept.first_touch = (
            other.captured_at,
            other.first_touch or kept.first_touch,
        )
    kept.custom_fields = {**other.custom_fields, **kept.custom_fields}
    kept.enrichment = {**other.enrichment, **kept.enrichment}


def _move_related(source: Lead, target: Lead) -> dict[str, int]:
    """Point every row that refers to `source` at `target`, whichever app owns it: a later app
    (deals, tasks) is moved without this function knowing it."""
    moved = {}
    for relation in Lead._meta.related_objects:
        if not isinstance(relation.field, models.ForeignKey) or relation.related_model is Lead:
            continue
        rows = relation.related_model._base_manager.filter(**{relation.field.name: source})
        count = rows.update(**{relation.field.name: target})
        if count:
            moved[relation.related_model._meta.label_lower] = count
    Lead.objects.filter(duplicate_of=source).update(duplicate_of=target)
    return moved
