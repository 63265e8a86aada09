"""Ad spend in: a day's figure typed by hand, or an ad platform's CSV export read, previewed
with an error per bad line, and committed in one transaction. A campaign is tied to the lead
source its leads arrive under, so the spend can be set against those leads' outcomes.

Both Google Ads ("Day, Campaign, Cost, Clicks, Impr.") and Meta ("Reporting starts, Campaign
name, Amount spent (USD), Link clicks, Impressions") exports are read as they come, title lines
and totals rows included."""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q

from leadloop.analytics.models import Spend
from leadloop.core.models import Channel, Lead, Source

# Each column the import needs, and the headings ad platforms give it. Headings are compared
# lower-cased with a trailing "(USD)"-like part removed, so "Amount spent (EUR)" is cost too.
HEADINGS = {
    "day": ("day", "date", "reporting starts", "reporting start", "date start", "start date"),
    "campaign": ("campaign", "campaign name"),
    "cost": ("cost", "amount spent", "spend", "amount"),
    "clicks": ("clicks", "link clicks", "clicks (all)"),
    "impressions": ("impressions", "impr.", "impr"),
}
REQUIRED = ("day", "campaign", "cost")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%b %d, %Y", "%d %b %Y", "%Y/%m/%d")
# A file bigger than this is not one account's daily export; it is refused, not half-read.
MAX_BYTES = 2_000_000
# How far either side of the file's dates leads are looked at to learn which source a campaign
# named only in UTM tags arrives under: enough to see its leads, without reading every lead.
UTM_WINDOW = timedelta(days=30)


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (no header, a required column missing, too big)."""


@dataclass(frozen=True)
class SpendLine:
    """One campaign's spend on one day, as it will be stored. `lines` are the file's line
    numbers it was read from: an ad-group level export has several lines per campaign and day,
    and they are added up."""

    day: date
    campaign: str
    channel: str
    source: Source | None
    cost: Decimal
    clicks: int
    impressions: int
    lines: tuple[int, ...]


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str


@dataclass
class Preview:
    """What an import would store, and the lines it would leave out and why."""

    file_name: str
    rows: list[SpendLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def total_cost(self) -> Decimal:
        return sum((row.cost for row in self.rows), Decimal("0.00"))


@dataclass(frozen=True)
class Committed:
    created: int
    updated: int


def record_spend(
    *,
    day: date,
    campaign: str,
    cost: Decimal,
    clicks: int = 0,
    impressions: int = 0,
    source: Source | None = None,
    channel: str = "",
) -> Spend:
    """A day's spend typed by hand. It replaces that campaign's figure for the day, if there is
    one, rather than adding to it: typing it again is a correction, not more money spent."""
    if cost < 0:
        raise ValueError("The cost cannot be negative.")
    campaign = campaign.strip() or (source.campaign or source.name if source else "")
    if not campaign:
        raise ValueError("Name the campaign, or pick the source it belongs to.")
    channel = source.channel if source else (channel or Channel.OTHER)
    spend, _ = Spend.objects.update_or_create(
        day=day,
        campaign=campaign,
        channel=channel,
        defaults={
            "cost": cost,
            "clicks": clicks,
            "impressions": impressions,
            "source": source,
            "imported_from": "",
        },
    )
    return spend


def preview_import(content: bytes, file_name: str, channel: str = Channel.OTHER) -> Preview:
    """Read an export without writing anything. Campaigns that match no source are stored under
    `channel` (what the person said the file is from)."""
    if len(content) > MAX_BYTES:
        raise UnreadableFile(f"The file is larger than {MAX_BYTES // 1_000_000} MB.")
    text = decoded(content)
    reader = csv.reader(io.StringIO(text), dialect=_dialect_of(text[:8192]))
    columns = _find_header(reader)
    preview = Preview(file_name=file_name[:200])
    read: list[tuple[int, date, str, Decimal, int, int]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells) or _is_total(cells):
            continue
        try:
            read.append((reader.line_num, *_parse_line(cells, columns)))
        except ValueError as problem:
            preview.errors.append(LineError(reader.line_num, str(problem)))
    preview.rows = _merged(read, _sources_for(read), channel)
    return preview


def commit_import(preview: Preview) -> Committed:
    """Store the previewed rows in one transaction: all of them or none. A row already stored
    for that campaign, day and channel is updated, so importing the same file twice does not
    count the money twice."""
    created = updated = 0
    with transaction.atomic():
        for row in preview.rows:
            _, made = Spend.objects.update_or_create(
                day=row.day,
                campaign=row.campaign,
                channel=row.channel,
                defaults={
                    "cost": row.cost,
                    "clicks": row.clicks,
                    "impressions": row.impressions,
                    "source": row.source,
                    "imported_from": preview.file_name,
                },
            )
            created += made
            updated += not made
    return Committed(created, updated)


def parse_money(text: str) -> Decimal:
    """ "$1,234.50", "1234.5", "USD 12", "(12.00)" is refused: spend is never negative."""
    cleaned = re.sub(r"[^\d.,\-()]", "", text)
    if not cleaned or cleaned.startswith(("-", "(")):
        raise ValueError(f"cost {text!r} is not an amount of money")
    if not re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d+)?|\d+(\.\d+)?", cleaned):
        raise ValueError(f"cost {text!r} is not an amount of money")
    return Decimal(cleaned.replace(",", "")).quantize(Decimal("0.01"))


def parse_day(text: str) -> date:
    """ISO (2026-03-01), US (03/01/2026 or 3/1/26), or "Mar 1, 2026"."""
    text = text.strip()
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"date {text!r} is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def parse_count(text: str, name: str) -> int:
    """Clicks and impressions: "1,204"; empty or "--" (no data that day) is zero."""
    cleaned = text.strip().replace(",", "")
    if cleaned in ("", "-", "--"):
        return 0
    if not cleaned.isdigit():
        raise ValueError(f"{name} {text!r} is not a whole number")
    return int(cleaned)


def decoded(content: bytes) -> str:
    """The file's text: the preview hands it back to the browser to be committed."""
    # Google Ads offers "CSV" in UTF-16 with a byte order mark; most others are UTF-8.
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _dialect_of(sample: str) -> type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _heading_key(heading: str) -> str:
    """ "Amount spent (USD)" -> "amount spent"; "Clicks (all)" stays as Meta names it."""
    name = heading.strip().lower()
    for column, names in HEADINGS.items():
        if name in names:
            return column
    bare = re.sub(r"\s*\([^)]*\)\s*$", "", name)
    return next((column for column, names in HEADINGS.items() if bare in names), "")


def _find_header(reader) -> dict[str, int]:
    """The first line that names a date, a campaign and a cost column; lines above it (a
    report's title and date range) are skipped."""
    for cells in reader:
        columns: dict[str, int] = {}
        for index, heading in enumerate(cells):
            key = _heading_key(heading)
            if key and key not in columns:
                columns[key] = index
        if all(key in columns for key in REQUIRED):
            return columns
        if reader.line_num >= 20:
            break
    wanted = "; ".join(f"{key}: {', '.join(HEADINGS[key][:3])}" for key in REQUIRED)
    raise UnreadableFile(f"No header line with the columns this needs ({wanted}).")


def _is_total(cells: list[str]) -> bool:
    # Google Ads ends its export with "Total: Account", "Total: Campaigns" lines.
    return cells[0].strip().lower().startswith("total")


def _parse_line(cells: list[str], columns: dict[str, int]) -> tuple[date, str, Decimal, int, int]:
    def cell(key: str) -> str:
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else ""

    campaign = cell("campaign").strip()
    if not campaign:
        raise ValueError("no campaign name")
    if len(campaign) > 200:
        raise ValueError("the campaign name is longer than 200 characters")
    return (
        parse_day(cell("day")),
        campaign,
        parse_money(cell("cost")),
        parse_count(cell("clicks"), "clicks"),
        parse_count(cell("impressions"), "impressions"),
    )


def _sources_for(read: list[tuple]) -> dict[str, Source]:
    """Each campaign's lead source: the source whose campaign it is (compared without case),
    or else the source most of the leads tagged utm_campaign=<it> arrived under, around the
    file's dates."""
    campaigns = {row[2] for row in read}
    if not campaigns:
        return {}
    found: dict[str, Source] = {}
    by_lower = {c.lower(): c for c in campaigns}
    for source in Source.objects.exclude(campaign=""):
        campaign = by_lower.get(source.campaign.lower())
        if campaign and campaign not in found:
            found[campaign] = source
    days = [row[1] for row in read]
    window = Q(captured_at__date__gte=min(days) - UTM_WINDOW) & Q(
        captured_at__date__lte=max(days) + UTM_WINDOW
    )
    for campaign in campaigns - found.keys():
        tagged = Q(first_touch__utm_campaign=campaign) | Q(last_touch__utm_campaign=campaign)
        commonest = (
            Lead.objects.filter(window, tagged, source__isnull=False)
            .values("source")
            .annotate(leads=Count("pk"))
            .order_by("-leads", "source")
            .first()
        )
        if commonest:
            found[campaign] = Source.objects.get(pk=commonest["source"])
    return found


def _merged(read: list[tuple], sources: dict[str, Source], channel: str) -> list[SpendLine]:
    """One row per campaign and day, ad-group lines added together."""
    totals: dict[tuple[date, str], list] = {}
    for line, day, campaign, cost, clicks, impressions in read:
        total = totals.setdefault((day, campaign), [Decimal("0.00"), 0, 0, []])
        total[0] += cost
        total[1] += clicks
        total[2] += impressions
        total[3].append(line)
    rows = []
    for (day, campaign), (cost, clicks, impressions, lines) in sorted(totals.items()):
        source = sources.get(campaign)
        rows.append(
            SpendLine(
                day=day,
                campaign=campaign,
                channel=source.channel if source else channel,
                source=source,
                cost=cost,
                clicks=clicks,
                impressions=impressions,
                lines=tuple(lines),
            )
        )
    return rows
