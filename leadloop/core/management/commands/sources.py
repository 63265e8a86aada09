"""`leadloop sources add NAME` prints the new source's API key on its last line."""

from django.core.management.base import BaseCommand, CommandError

from leadloop.core import services
from leadloop.core.models import Channel, DuplicatePolicy, Source


class Command(BaseCommand):
    help = "Manage lead sources: add one (printing its API key), list them, or rotate a key."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="create a source and print its API key")
        add.add_argument("name")
        add.add_argument("--channel", default=Channel.API, choices=Channel.values)
        add.add_argument("--campaign", default="")
        add.add_argument(
            "--duplicates",
            default=DuplicatePolicy.UPDATE,
            choices=DuplicatePolicy.values,
            help="what a lead that is already a lead does: update it, link a new one, or reject",
        )
        actions.add_parser("list", help="list sources")
        rotate = actions.add_parser(
            "rotate-key", help="issue a new key for a source (the old one stops working)"
        )
        rotate.add_argument("name")

    def handle(self, *, action: str, **options) -> None:
        if action == "add":
            if Source.objects.filter(name=options["name"]).exists():
                raise CommandError(f"A source named {options['name']!r} exists already.")
            source, key = services.create_source(
                options["name"], options["channel"], options["campaign"], options["duplicates"]
            )
            self.stdout.write(
                f"Created source {source.name!r} (id {source.pk}). Its API key, shown once:"
            )
            self.stdout.write(key)
        elif action == "list":
            for source in Source.objects.all():
                self.stdout.write(
                    f"{source.pk}\t{source.name}\t{source.channel}\t{source.duplicate_policy}"
                    f"\t{source.api_key_hint}…"
                )
        else:
            source = Source.objects.filter(name=options["name"]).first()
            if source is None:
                raise CommandError(f"No source named {options['name']!r}.")
            self.stdout.write(source.issue_api_key())
