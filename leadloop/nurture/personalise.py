"""What a workflow's messages can say about the lead: Django's template language over plain
values (never the model objects, so a template cannot reach beyond them)."""

from django.template import Context, Template

from leadloop.core.models import Lead


def context_of(lead: Lead, **extra: object) -> dict:
    owner = lead.owner
    return {
        "lead": {
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "email": lead.email,
            "phone": lead.phone,
            "company": lead.company.name if lead.company_id else "",
            "stage": lead.get_lifecycle_stage_display(),
            "score": lead.score,
            **{name: value for name, value in lead.custom_fields.items()},
        },
        "owner": {
            "name": (owner.get_full_name() or owner.get_username()) if owner else "",
            "email": owner.email if owner else "",
        },
        **extra,
    }


def render(template: str, context: dict, *, html: bool = False) -> str:
    """Text is rendered as typed; HTML escapes every value (what a lead typed included)."""
    return Template(template).render(Context(context, autoescape=html)).strip()
