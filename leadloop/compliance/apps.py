from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "leadloop.compliance"
    label = "compliance"
    verbose_name = "Consent and compliance"

    def ready(self) -> None:
        from leadloop.compliance import services
        from leadloop.core import outbox

        outbox.register_gate(services.may_not_send)
