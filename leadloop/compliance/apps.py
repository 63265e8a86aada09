from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "leadloop.compliance"
    label = "compliance"
    verbose_name = "Consent and compliance"
