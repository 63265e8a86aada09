from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "leadloop.scoring"
    label = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from leadloop.core import durable
        from leadloop.scoring import rescoring, services

        durable.register_sweep("scoring.requests", services.sweep)
        durable.register_sweep("scoring.rescore", rescoring.sweep)
