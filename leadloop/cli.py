"""The `leadloop` command: Django's management commands, plus leadloop's own (serve, worker,
sources, forms, import, bench). `leadloop help` lists them all."""

import os
import sys

# Command words that are not valid Python module names map to their management command.
ALIASES = {"import": "import_data"}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadloop.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    if len(args) > 1:
        args[1] = ALIASES.get(args[1], args[1])
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
