"""Multi-touch attribution: which channels and campaigns earned the customers won in a period.

The period and the cut are the measure pages' own (kpis.Filters): a conversion is a lead whose
deal was won on one of the filters' UTC days, among the leads of the chosen source, campaign,
form and owner, cut as the dashboard cuts them.

A won lead's touchpoints are read from what tracking recorded: its page views that arrived with
UTM tags, a click id or an outside referrer, its first and last touch, the touch its capture
event carried, and the page views of its visitor not yet stitched onto the timeline. Each touch
is classified into a channel (core's Channel values) and a campaign (utm_campaign). Five models
share each conversion's one customer and its revenue out over its touches; every model's
weights sum to exactly one, and the revenue is split to the cent so the parts add up to the
deal.won revenue itself."""

import functools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from urllib.parse import parse_qsl, urlsplit

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.dateparse import parse_datetime

from leadloop.analytics.kpis import Filters
from leadloop.capture.models import PageView
from leadloop.core.models import WON, Channel, Event, Lead

NO_CAMPAIGN = "(none)"
# Views of one ad or link in one sitting are one touch, not several.
SESSION = timedelta(minutes=30)
DEFAULT_HALF_LIFE = timedelta(days=7)
CENT = Decimal("0.01")

SEARCH_ENGINES = {"google", "bing", "yahoo", "duckduckgo", "baidu", "yandex", "ecosia", "brave"}
SOCIAL_NETWORKS = {
    "facebook", "fb", "instagram", "linkedin", "lnkd", "twitter", "x", "t", "pinterest",
    "reddit", "youtube", "tiktok", "threads", "snapchat",
}  # fmt: skip
PAID_MEDIUMS = {"cpc", "ppc", "paid", "paidsearch", "paid_search", "sem", "cpm", "display"}
PAID_SOCIAL_MEDIUMS = {"paid_social", "paidsocial", "social_paid", "paid-social", "social-paid"}
EMAIL_MEDIUMS = {"email", "e-mail", "newsletter"}
AFFILIATE_MEDIUMS = {"affiliate", "affiliates", "partner", "publisher"}
SOCIAL_MEDIUMS = {"social", "social-media", "social_media", "organic_social", "sm"}
TAG_KEYS = ("utm_source", "utm_medium", "utm_campaign", "gclid", "msclkid", "fbclid")


@dataclass(frozen=True)
class Touch:
    at: datetime
    channel: str
    campaign: str


def _host_labels(url: str) -> set[str]:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return set()
    return set(host.split(".")) if host else set()


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def classify(tags: dict) -> str:
    """The channel a touch came through, from its UTM tags, click ids and referrer."""
    medium = str(tags.get("utm_medium") or "").strip().lower()
    source = str(tags.get("utm_source") or "").strip().lower()
    referrer = str(tags.get("referrer") or "")
    # A tagged source names a network ("google", "facebook"); a referrer names it in its host.
    names = {source} | _host_labels(referrer) if source else _host_labels(referrer)
    social = bool(names & SOCIAL_NETWORKS)
    if medium in PAID_SOCIAL_MEDIUMS or (medium in PAID_MEDIUMS and social):
        return Channel.PAID_SOCIAL
    if medium in PAID_MEDIUMS or tags.get("gclid") or tags.get("msclkid"):
        return Channel.PAID_SEARCH
    if medium in EMAIL_MEDIUMS or source in EMAIL_MEDIUMS:
        return Channel.EMAIL
    if medium in AFFILIATE_MEDIUMS:
        return Channel.AFFILIATE
    if medium in SOCIAL_MEDIUMS or social or tags.get("fbclid"):
        return Channel.SOCIAL
    if medium == "organic" or names & SEARCH_ENGINES:
        return Channel.ORGANIC
    if medium == "referral" or referrer or source:
        return Channel.REFERRAL
    return Channel.DIRECT


def _touch(tags: dict, at: datetime) -> Touch:
    campaign = str(tags.get("utm_campaign") or "").strip() or NO_CAMPAIGN
    return Touch(at, classify(tags), campaign)


def _is_external(referrer: str, page_url: str) -> bool:
    """A referrer from another site; a link inside the site itself is no touch."""
    host = _host(referrer)
    return bool(host) and host != _host(page_url)


def _view_touch(url: str, referrer: str, at: datetime) -> Touch | None:
    """A page view is a touch when it arrived tagged or from another site."""
    try:
        params = dict(parse_qsl(urlsplit(url).query))
    except ValueError:
        params = {}
    tags = {key: params[key] for key in TAG_KEYS if params.get(key)}
    if _is_external(referrer, url):
        tags["referrer"] = referrer
    return _touch(tags, at) if tags else None


def channel_of(touch: dict) -> str:
    """The channel of a touch as capture stores it (clean_touch); a referrer from the site
    itself (its landing page's host) says nothing about where the visitor came from."""
    tags = dict(touch)
    if not _is_external(str(touch.get("referrer") or ""), str(touch.get("landing_page") or "")):
        tags.pop("referrer", None)
    return classify(tags)


def _recorded_touch(touch: object, fallback: datetime) -> Touch | None:
    if not isinstance(touch, dict) or not touch:
        return None
    at = parse_datetime(touch["at"]) if isinstance(touch.get("at"), str) else None
    campaign = str(touch.get("utm_campaign") or "").strip() or NO_CAMPAIGN
    return Touch(at or fallback, channel_of(touch), campaign)


def collapse(touches: Iterable[Touch]) -> list[Touch]:
    """In time order, with a repeat of the touch before it (same channel and campaign, within a
    session of it) dropped: one visit seen by page view, capture and first touch is one touch."""
    kept: list[Touch] = []
    previous_at: datetime | None = None
    for touch in sorted(touches, key=lambda t: t.at):
        repeat = (
            kept
            and (kept[-1].channel, kept[-1].campaign) == (touch.channel, touch.campaign)
            and touch.at - previous_at <= SESSION
        )
        if not repeat:
            kept.append(touch)
        previous_at = touch.at
    return kept


# --- models: each gives weights summing to exactly one --------------------------------------


def first_touch(touches: Sequence[Touch], converted_at: datetime) -> list[Fraction]:
    return [Fraction(1 if i == 0 else 0) for i in range(len(touches))]


def last_touch(touches: Sequence[Touch], converted_at: datetime) -> list[Fraction]:
    return [Fraction(1 if i == len(touches) - 1 else 0) for i in range(len(touches))]


def linear(touches: Sequence[Touch], converted_at: datetime) -> list[Fraction]:
    return [Fraction(1, len(touches))] * len(touches)


def position_based(touches: Sequence[Touch], converted_at: datetime) -> list[Fraction]:
    """40% to the first and the last, 20% shared by those between; one touch takes all, two
    halve it."""
    count = len(touches)
    if count <= 2:
        return linear(touches, converted_at)
    middle = Fraction(1, 5) / (count - 2)
    return [Fraction(2, 5), *[middle] * (count - 2), Fraction(2, 5)]


def time_decay(
    touches: Sequence[Touch], converted_at: datetime, half_life: timedelta = DEFAULT_HALF_LIFE
) -> list[Fraction]:
    """Each touch weighs half as much for every half-life it came before the conversion.
    Measured from the latest touch, which normalising cancels out, so the weights of touches
    years old never all round to zero."""
    latest = max(t.at for t in touches)
    raw = [Fraction(math.pow(2, -((latest - t.at) / half_life))) for t in touches]
    total = sum(raw)
    return [weight / total for weight in raw]


Model = Callable[[Sequence[Touch], datetime], list[Fraction]]
MODELS: dict[str, tuple[str, Model]] = {
    "first": ("First touch", first_touch),
    "last": ("Last touch", last_touch),
    "linear": ("Linear", linear),
    "position": ("Position-based 40/20/40", position_based),
    "decay": ("Time decay", time_decay),
}


def split_cents(amount: Decimal, weights: Sequence[Fraction]) -> list[Decimal]:
    """The amount in cents shared by the weights, by largest remainder, so the parts add up to
    the amount exactly; a tie goes to the later touch (the one nearer the sale)."""
    cents = int((amount / CENT).to_integral_value())
    exact = [cents * w for w in weights]
    parts = [math.floor(share) for share in exact]
    short = cents - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (exact[i] - parts[i], i), reverse=True)
    for i in by_remainder[:short]:
        parts[i] += 1
    return [Decimal(part) * CENT for part in parts]


# --- the report ------------------------------------------------------------------------------


@dataclass
class Credit:
    customers: Fraction = Fraction(0)
    revenue: Decimal = Decimal("0.00")

    @property
    def customers_shown(self) -> Decimal:
        """The exact share of customers, to two places."""
        exact = Decimal(self.customers.numerator) / Decimal(self.customers.denominator)
        return exact.quantize(CENT)


@dataclass
class Row:
    channel: str
    campaign: str | None  # None when the rows are channels
    credits: dict[str, Credit] = field(default_factory=lambda: {key: Credit() for key in MODELS})

    @property
    def label(self) -> str:
        name = Channel(self.channel).label if self.channel in Channel.values else self.channel
        return f"{name}: {self.campaign}" if self.campaign is not None else name


@dataclass
class Report:
    by: str
    conversions: int
    revenue: Decimal
    rows: list[Row]
    half_life_days: float

    @property
    def models(self) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in MODELS.items()]


@dataclass
class Conversion:
    lead_id: int
    converted_at: datetime
    revenue: Decimal
    touches: list[Touch]


def window(filters: Filters) -> tuple[datetime, datetime]:
    """The filters' inclusive UTC days as [first day 00:00, the day after the last 00:00)."""
    return (
        datetime.combine(filters.start, time(), UTC),
        datetime.combine(filters.end + timedelta(days=1), time(), UTC),
    )


def leads_of(filters: Filters) -> QuerySet[Lead]:
    """The leads the filters keep, cut as the dashboard cuts them (kpis.cut): source and owner
    on the lead itself; campaign and form as the lead's journey in the roll-ups has them (the
    source's campaign, else the last touch's utm_campaign; the form of its first capture), so a
    campaign means the same here as on every other measure page, and is as fresh as the roll-ups
    (a minute). Quarantined and merged-away leads count nowhere, as in the roll-ups: a merged
    lead's history is in the lead it joined."""
    cuts = {
        "source_id": filters.source_id,
        "owner_id": filters.owner_id,
        "analytics_journey__campaign": filters.campaign,
        "analytics_journey__form": filters.form,
    }
    return Lead.objects.workable().filter(
        **{name: value for name, value in cuts.items() if value is not None}
    )


def conversions(filters: Filters) -> list[Conversion]:
    """Each lead of the filters with a deal won in their period: once, at its first win there,
    with the revenue of every win there and its touches up to that first win. Four queries
    whatever the count."""
    start, end = window(filters)
    won = Event.objects.filter(
        lead=OuterRef("pk"), type=WON, occurred_at__gte=start, occurred_at__lt=end
    )
    converted = leads_of(filters).filter(Exists(won))
    ids = converted.values("pk")
    wins: dict[int, Conversion] = {}
    for lead_id, at, data in (
        Event.objects.filter(lead__in=ids, type=WON, occurred_at__gte=start, occurred_at__lt=end)
        .order_by("occurred_at", "id")
        .values_list("lead_id", "occurred_at", "data")
    ):
        conversion = wins.setdefault(lead_id, Conversion(lead_id, at, Decimal("0.00"), []))
        conversion.revenue += _revenue(data)
    touches: dict[int, list[Touch]] = defaultdict(list)
    for lead_id, first, last, captured_at in converted.values_list(
        "pk", "first_touch", "last_touch", "captured_at"
    ):
        recorded = (_recorded_touch(first, captured_at), _recorded_touch(last, captured_at))
        touches[lead_id] += [touch for touch in recorded if touch]
    for lead_id, kind, at, data in Event.objects.filter(
        lead__in=ids, type__in=("page.viewed", "lead.captured"), occurred_at__lt=end
    ).values_list("lead_id", "type", "occurred_at", "data"):
        data = data if isinstance(data, dict) else {}
        if kind == "lead.captured":
            touch = _recorded_touch(data.get("touch"), at)
        else:
            touch = _view_touch(str(data.get("url") or ""), str(data.get("referrer") or ""), at)
        if touch:
            touches[lead_id].append(touch)
    for lead_id, url, referrer, at in PageView.objects.filter(
        visitor__lead__in=ids, stitched=False, occurred_at__lt=end
    ).values_list("visitor__lead_id", "url", "referrer", "occurred_at"):
        touch = _view_touch(url, referrer, at)
        if touch:
            touches[lead_id].append(touch)
    for conversion in wins.values():
        before = [t for t in touches[conversion.lead_id] if t.at <= conversion.converted_at]
        conversion.touches = collapse(before) or [
            Touch(conversion.converted_at, Channel.DIRECT, NO_CAMPAIGN)
        ]
    return list(wins.values())


def _revenue(data: object) -> Decimal:
    """A deal.won's revenue; a missing or unreadable one counts the customer, not money."""
    value = data.get("revenue") if isinstance(data, dict) else None
    try:
        revenue = Decimal(str(value)) if value not in (None, "") else Decimal("0.00")
    except InvalidOperation:
        return Decimal("0.00")
    return revenue.quantize(CENT) if revenue.is_finite() else Decimal("0.00")


def credit(
    found: Iterable[Conversion], by: str = "channel", half_life: timedelta = DEFAULT_HALF_LIFE
) -> Report:
    """Each conversion's customer and revenue shared over its touches under every model, summed
    per channel (or per channel and campaign), largest revenue under last touch first."""
    rows: dict[tuple[str, str | None], Row] = {}
    models = {key: model for key, (_, model) in MODELS.items()}
    models["decay"] = functools.partial(time_decay, half_life=half_life)
    count, total = 0, Decimal("0.00")
    for conversion in found:
        count += 1
        total += conversion.revenue
        for key, model in models.items():
            weights = model(conversion.touches, conversion.converted_at)
            revenues = split_cents(conversion.revenue, weights)
            for touch, weight, revenue in zip(conversion.touches, weights, revenues, strict=True):
                if not weight:
                    continue
                campaign = touch.campaign if by == "campaign" else None
                row = rows.setdefault((touch.channel, campaign), Row(touch.channel, campaign))
                row.credits[key].customers += weight
                row.credits[key].revenue += revenue
    ordered = sorted(
        rows.values(),
        key=lambda r: (-r.credits["last"].revenue, -r.credits["linear"].revenue, r.label),
    )
    return Report(by, count, total, ordered, half_life / timedelta(days=1))


def attribute(
    filters: Filters, by: str = "channel", half_life: timedelta = DEFAULT_HALF_LIFE
) -> Report:
    """The attribution report for the customers won in the filters' period and cut."""
    return credit(conversions(filters), by, half_life)
