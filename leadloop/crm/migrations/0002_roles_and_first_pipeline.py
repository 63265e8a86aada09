"""The four roles as groups, and a pipeline to start from (seed 000's service business: a lead
is qualified, meets, gets a proposal, and is won or lost), with its onboarding tasks. Nothing is
added where a pipeline already exists."""

from django.db import migrations

ROLES = ["Admin", "Marketer", "Sales manager", "Sales rep"]
STAGES = [
    ("New", 10, "open"),
    ("Qualified", 25, "open"),
    ("Meeting booked", 40, "open"),
    ("Proposal sent", 60, "open"),
    ("Negotiation", 80, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
]
ONBOARDING = [
    ("Welcome call: confirm the first visit", 1),
    ("Schedule the first service", 2),
    ("Check in after the first service", 7),
    ("Ask for a review", 30),
]


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    Pipeline = apps.get_model("crm", "Pipeline")
    if Pipeline.objects.exists():
        return
    template = apps.get_model("crm", "OnboardingTemplate").objects.create(name="New customer")
    for position, (title, days) in enumerate(ONBOARDING):
        template.items.create(title=title, due_days=days, position=position)
    pipeline = Pipeline.objects.create(name="Sales", onboarding=template)
    for position, (name, probability, outcome) in enumerate(STAGES):
        pipeline.stages.create(
            name=name, probability=probability, outcome=outcome, position=position
        )


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
