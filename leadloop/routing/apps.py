from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "leadloop.routing"
    label = "routing"
    verbose_name = "Routing and speed to lead"

    def ready(self) -> None:
        from leadloop.core import durable, reactions
        from leadloop.routing import services

        # The assignment requests are worked by journey.follow_up.
        durable.register_sweep("routing.timers", services.fire_due_timers, every=5)
        reactions.react("routing.takeover", {"stage.changed"}, services.take_over)
