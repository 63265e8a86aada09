"""Every table of the workspace and the measure pages downloads as CSV the same way: streamed,
with a dated file name, and with any text cell a spreadsheet would run as a formula quoted so it
is shown as text (CSV injection: a lead can type "=HYPERLINK(...)" into a form)."""

import csv
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


class _Echo:
    """A file-like object whose write hands the line back, for streaming csv.writer's output."""

    def write(self, line: str) -> str:
        return line


def csv_response(name: str, rows: Iterable[Sequence[object]]) -> StreamingHttpResponse:
    """`rows` (the header first) as the download `name-YYYY-MM-DD.csv`."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow([neutralised(cell) for cell in row]) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
