"""`leadloop forms import FILE.json` / `leadloop forms export SLUG`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leadloop.capture import services
from leadloop.capture.definitions import DefinitionError
from leadloop.capture.models import Form


class Command(BaseCommand):
    help = "Import forms from JSON (one form or a list), or export a form as JSON."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        load = actions.add_parser("import", help="create or update forms from a JSON file")
        load.add_argument("file", type=Path)
        dump = actions.add_parser("export", help="print a form as JSON")
        dump.add_argument("slug")

    def handle(self, *, action: str, **options) -> None:
        if action == "export":
            form = Form.objects.filter(slug=options["slug"]).first()
            if form is None:
                raise CommandError(f"No form {options['slug']!r}.")
            self.stdout.write(json.dumps(services.export_form(form), indent=2, ensure_ascii=False))
            return
        try:
            data = json.loads(options["file"].read_text())
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {options['file']}: {error}") from None
        for item in data if isinstance(data, list) else [data]:
            try:
                form = services.import_form(item)
            except (DefinitionError, ValueError, AttributeError) as error:
                raise CommandError(
                    f"Form {item.get('slug', '?') if isinstance(item, dict) else '?'}: {error}"
                ) from None
            self.stdout.write(f"Form {form.slug!r} is at version {form.version}: /p/{form.slug}")
