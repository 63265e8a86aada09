"""Reading back what a CSV download streamed."""

import csv
import io


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
