"""`leadloop nurture templates list` / `install NAME [--copy]` / `install --all`: the
ready-made workflows (nurture/library.py), installed as drafts to edit, publish and activate."""

from django.core.management.base import BaseCommand, CommandError

from leadloop.nurture import library


class Command(BaseCommand):
    help = "The ready-made nurture workflows: list them, or install one (or all) as drafts."

    def add_arguments(self, parser) -> None:
        topics = parser.add_subparsers(dest="topic", required=True)
        templates = topics.add_parser("templates", help="the ready-made workflows")
        actions = templates.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="list the ready-made workflows and whether installed")
        install = actions.add_parser("install", help="install one by its name, or --all")
        install.add_argument("name", nargs="?", help="e.g. cleanpro-quote")
        install.add_argument("--all", action="store_true", help="install every one not installed")
        install.add_argument(
            "--copy", action="store_true", help="install again under a numbered name if it exists"
        )

    def handle(self, *, topic: str, action: str, **options) -> None:
        if action == "list":
            return self.list()
        if options["all"] == bool(options["name"]):
            raise CommandError("Name one ready-made workflow, or say --all.")
        if options["all"]:
            for key, ready in library.READY_MADE.items():
                if library.Workflow.objects.filter(name=ready.name).exists():
                    self.stdout.write(f"{key}: already installed as {ready.name!r}, left alone.")
                else:
                    self.install(key, copy=False)
            return None
        return self.install(options["name"], copy=options["copy"])

    def list(self) -> None:
        installed = set(
            library.Workflow.objects.filter(
                name__in=[r.name for r in library.READY_MADE.values()]
            ).values_list("name", flat=True)
        )
        for key, ready in library.READY_MADE.items():
            mark = "installed" if ready.name in installed else "not installed"
            self.stdout.write(f"{key:22} {ready.name} ({mark})\n    {ready.description}")

    def install(self, key: str, *, copy: bool) -> None:
        try:
            workflow, templates = library.install(key, copy=copy)
        except KeyError as error:
            raise CommandError(error.args[0]) from None
        except library.AlreadyInstalled as error:
            raise CommandError(f"{error} (--copy installs it again)") from None
        made = f", with {len(templates)} new email template(s)" if templates else ""
        self.stdout.write(
            f"{key}: installed {workflow.name!r} as an inactive draft{made}. Edit it in the "
            f"admin, publish it, then activate it: /admin/nurture/workflow/{workflow.pk}/change/"
        )
