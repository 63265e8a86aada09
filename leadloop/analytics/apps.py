from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "leadloop.analytics"
    label = "analytics"
    verbose_name = "Measure"

    def ready(self) -> None:
        from leadloop.analytics import digest, rollups
        from leadloop.analytics import experiments as ab
        from leadloop.core import durable
        from leadloop.core import experiments as ab_hooks

        # Reports, seconds of work at scale: slow sweeps, in a loop of their own in the worker.
        durable.register_sweep("analytics.digest", digest.send_weekly_digest, every=3600, slow=True)
        # The dashboard's roll-ups, kept a minute fresh (rollups.py).
        durable.register_sweep("analytics.rollups", rollups.sweep, every=60, slow=True)
        # A/B tests answer capture's and nurture's questions, which cannot import analytics.
        ab_hooks.register(form_version=ab.form_version_to_show, email_subject=ab.subject_to_send)
