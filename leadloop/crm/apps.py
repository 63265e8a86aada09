from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "leadloop.crm"
    label = "crm"
    verbose_name = "Sales workspace"

    def ready(self) -> None:
        from leadloop.core import durable, reactions
        from leadloop.crm import booking, reminders, services

        reactions.react("crm.activity", services.OUTSIDE_ACTIVITY, services.note_outside_activity)
        durable.register_sweep("crm.task_reminders", reminders.remind_due_tasks, every=30)
        durable.register_sweep("crm.meeting_reminders", booking.remind_due_meetings, every=60)
        reactions.react("crm.booking_link", {"owner.assigned"}, booking.set_booking_links)
