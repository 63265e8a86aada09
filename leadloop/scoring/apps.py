from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "leadloop.scoring"
    label = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from leadloop.core import durable, reactions
        from leadloop.scoring import rescoring, services
        from leadloop.scoring.engine import ADJUSTED

        durable.register_sweep("scoring.rescore", rescoring.sweep)
        durable.register_sweep("scoring.retrain", retrain_if_due)
        reactions.react("scoring.adjusted", {ADJUSTED}, services.rescore_adjusted)


def retrain_if_due() -> int:
    # scikit-learn is loaded only in the worker that runs this, not in every web process.
    from leadloop.scoring import predictive

    return predictive.retrain_if_due()
