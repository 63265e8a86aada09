from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "leadloop.capture"
    label = "capture"
    verbose_name = "Capture"

    def ready(self) -> None:
        from leadloop import journey
        from leadloop.capture import importer, services
        from leadloop.core import durable

        durable.register_sweep("capture.submissions", services.retry_due_submissions)
        durable.register_sweep("capture.imports", importer.sweep)
        durable.register_sweep("journey.follow_up", journey.follow_up, every=journey.POLL_SECONDS)
