from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "leadloop.quality"
    label = "quality"
    verbose_name = "Quality"

    def ready(self) -> None:
        from leadloop.core import durable
        from leadloop.quality import providers

        durable.register_sweep("quality.enrichment", providers.sweep)
