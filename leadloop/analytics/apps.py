from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "leadloop.analytics"
    label = "analytics"
    verbose_name = "Measure"
