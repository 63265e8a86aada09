from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "leadloop.crm"
    label = "crm"
    verbose_name = "Sales workspace"

    def ready(self) -> None:
        from leadloop.core import reactions
        from leadloop.crm import services

        reactions.react("crm.activity", services.OUTSIDE_ACTIVITY, services.note_outside_activity)
