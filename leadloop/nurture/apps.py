from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "leadloop.nurture"
    label = "nurture"
    verbose_name = "Nurture"

    def ready(self) -> None:
        from anymail.signals import inbound as email_received
        from anymail.signals import tracking as email_tracked
        from django.db.models.signals import post_save

        from leadloop.core import durable, reactions
        from leadloop.nurture import broadcasts, inbound, services
        from leadloop.nurture.models import Workflow, WorkflowVersion

        # Due steps are walked by journey.follow_up; these are the slower sweeps.
        reactions.react("nurture", services.watched_types, services.react)
        durable.register_sweep("nurture.states", services.enroll_by_state, every=60)
        durable.register_sweep("nurture.audiences", broadcasts.sweep, every=10)
        for model in (Workflow, WorkflowVersion):
            post_save.connect(_forget_watched_types, sender=model)
        # What the email providers report back through anymail's webhooks.
        email_tracked.connect(inbound.on_tracking, dispatch_uid="leadloop.nurture.tracking")
        email_received.connect(inbound.on_inbound, dispatch_uid="leadloop.nurture.inbound")


def _forget_watched_types(**kwargs) -> None:
    from leadloop.nurture import services

    services.forget_watched_types()
