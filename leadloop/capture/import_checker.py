"""The second process of a large CSV import: it checks rows while the first one writes them.

Run as `python -m leadloop.capture.import_checker` by `importer._checked_in_child`: its orders
come pickled on stdin, checked batches go pickled to stdout. It never touches the database.
"""

import os
import signal
import sys


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the importing process handles it
    # and closes the pipe, which ends this one quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stdout carries the batches: keep it for them alone, so a stray print cannot corrupt it.
    batches = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadloop.settings")
    import django

    django.setup()
    from leadloop.capture import importer

    with batches:
        importer.send_checked_batches(sys.stdin.buffer, batches)


if __name__ == "__main__":
    main()
