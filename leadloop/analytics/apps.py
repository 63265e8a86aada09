from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "leadloop.analytics"
    label = "analytics"
    verbose_name = "Measure"

    def ready(self) -> None:
        from leadloop.analytics import digest
        from leadloop.core import durable

        durable.register_sweep("analytics.digest", digest.send_weekly_digest, every=3600)
