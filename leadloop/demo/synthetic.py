"""A seeded, reproducible lead-generation history for CleanPro, a commercial cleaning company.

Every lead gets latent propensities: fit (industry, company size and role, plus a small part
nobody observes), intent (raised in spring, when offices re-tender their cleaning), and the
quality of the source it came through. Its true probability of converting is a known logistic
function of them (`propensity`), and its outcome, where one is due by the end of the history, is
drawn from that probability. What lands in the database is only what a real system would see:
the person, the company, BANT answers, attribution, the free-mail signal the quality layer
would have recorded, engagement events whose counts and kinds follow intent and fit, and deals
won or lost. The propensities stay in the `Dataset` (`propensities()`), so tests and benchmarks
can compare what a model learns with the best that anything could learn (the oracle AUC).
Intent shows only through behaviour, but strongly enough that a model of what is stored can
come within about 0.015 of that oracle.

Every address is at a reserved domain (RFC 2606 `.example`), so no demo lead can ever put a real
mailbox on the nurture layer's list.

Leads are made in fixed chunks, each from its own random stream, so the same seed gives the same
data whatever the batch size it is loaded with, and a million leads stream through in bounded
memory.
"""

import bisect
import functools
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from time import perf_counter

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from leadloop.core import keys
from leadloop.core.models import (
    Channel,
    Company,
    Event,
    Lead,
    LifecycleStage,
    Quality,
    Source,
)

CHUNK = 5000  # leads per generated chunk: part of the seed's meaning, so never tied to loading
SITE = "https://cleanpro.example"
DAY = 86400.0
# The logistic's intercept and weights: with them about a quarter of decided leads are won,
# and the true propensity ranks leads with an AUC near 0.8. Season moves intent (spring leads
# are keener), not the logit directly, so it shows in behaviour as it would for a real team.
INTERCEPT = -1.3
FIT_WEIGHT = 1.4
INTENT_WEIGHT = 0.75
SEASON_WEIGHT = 0.4


@dataclass(frozen=True)
class SourceSpec:
    name: str
    channel: str
    campaign: str
    share: float  # of all leads
    quality: float  # latent: how much better than average its leads convert (logit)
    intent_bias: float  # latent: how far along people who arrive this way already are
    cost_per_lead: float  # the spend that buys its volume
    residential: float  # share of homeowners rather than businesses among its leads
    utm_source: str = ""
    utm_medium: str = ""
    referrer: str = ""


SOURCES = (
    SourceSpec("Google Ads: office cleaning", Channel.PAID_SEARCH, "office-cleaning-search",
               0.22, 0.25, 0.35, 140.0, 0.08, "google", "cpc"),
    SourceSpec("Google Ads: deep clean", Channel.PAID_SEARCH, "deep-clean-search",
               0.10, 0.05, 0.25, 90.0, 0.55, "google", "cpc"),
    SourceSpec("Blog and SEO", Channel.ORGANIC, "commercial-cleaning-guides",
               0.20, 0.25, -0.1, 25.0, 0.25, referrer="https://www.google.com/"),
    SourceSpec("Facebook: spring clean", Channel.PAID_SOCIAL, "spring-clean",
               0.12, -0.45, -0.35, 55.0, 0.6, "facebook", "paid_social"),
    SourceSpec("LinkedIn: facilities managers", Channel.PAID_SOCIAL, "facilities-managers",
               0.06, 0.1, -0.1, 180.0, 0.0, "linkedin", "paid_social"),
    SourceSpec("Monthly newsletter", Channel.EMAIL, "newsletter",
               0.10, 0.0, 0.1, 6.0, 0.2, "newsletter", "email"),
    SourceSpec("Customer referrals", Channel.REFERRAL, "refer-a-business",
               0.08, 0.65, 0.45, 75.0, 0.15, referrer="https://www.yelp.example/cleanpro"),
    SourceSpec("Facility partner network", Channel.AFFILIATE, "partner-directory",
               0.12, -0.6, -0.4, 90.0, 0.1, "facilitydirectory", "affiliate"),
)  # fmt: skip

# (value, fit in logit points, share). Property managers and clinics buy contract cleaning;
# restaurants mostly clean their own kitchens.
INDUSTRIES = (
    ("office", 0.5, 0.25), ("healthcare", 0.8, 0.12), ("property_management", 0.9, 0.10),
    ("hospitality", 0.3, 0.12), ("retail", 0.0, 0.12), ("education", 0.4, 0.09),
    ("manufacturing", 0.2, 0.08), ("fitness", 0.1, 0.06), ("restaurant", -0.5, 0.06),
)  # fmt: skip
SIZES = (
    ("1-10", -0.6, 0.30), ("11-50", -0.1, 0.30), ("51-200", 0.3, 0.22),
    ("201-1000", 0.6, 0.12), ("1000+", 1.0, 0.06),
)  # fmt: skip
ROLES = (
    ("owner", 0.3, 0.22), ("office_manager", 0.4, 0.22), ("facilities_manager", 0.9, 0.16),
    ("operations_director", 0.6, 0.12), ("procurement", 0.5, 0.08), ("assistant", -0.5, 0.12),
    ("other", -0.6, 0.08),
)  # fmt: skip
RESIDENTIAL_FIT = -0.4  # homes buy small, occasional jobs
AUTHORITY = {
    "owner": "decision_maker", "operations_director": "decision_maker",
    "facilities_manager": "decision_maker", "office_manager": "influencer",
    "procurement": "influencer", "assistant": "researcher", "other": "researcher",
    "homeowner": "decision_maker",
}  # fmt: skip
SQUARE_FEET = {
    "household": (900, 3500), "1-10": (800, 3000), "11-50": (2500, 12000),
    "51-200": (8000, 40000), "201-1000": (25000, 100000), "1000+": (60000, 100000),
}  # fmt: skip
# A first year's contract value, typically; each deal varies around it.
CONTRACT_VALUE = {
    "household": 900, "1-10": 2400, "11-50": 6000, "51-200": 14000, "201-1000": 32000,
    "1000+": 60000,
}  # fmt: skip
SIZE_RANK = {"household": 0, "1-10": 0, "11-50": 1, "51-200": 2, "201-1000": 3, "1000+": 4}

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mateo", "Amelia", "Benjamin", "Harper", "Theo", "Evelyn", "Henry", "Abigail", "Jack",
    "Emily", "Sebastian", "Ella", "Daniel", "Chloe", "Samuel", "Grace", "Owen", "Priya", "Arjun",
    "Aisha", "Omar", "Fatima", "Yusuf", "Mei", "Wei", "Hiroshi", "Yuki", "Sofia", "Diego", "Lucia",
    "Carlos", "Valentina", "Javier", "Camila", "Andres", "Chiara", "Marco", "Ingrid", "Lars",
    "Freya", "Mikkel", "Zoë", "José", "Chloé", "Siobhan", "Declan", "Aoife", "Ngozi", "Chidi",
    "Amara", "Kwame", "Thandiwe", "Rahul", "Ananya", "Vikram", "Leila", "Reza", "Nadia", "Dmitri",
    "Katya", "Tomasz", "Agnieszka", "Hannah", "Rachel", "David", "Michael", "Sarah", "Laura",
    "Kevin", "Brian", "Karen", "Linda", "Robert", "Patricia", "Jennifer", "Thomas", "Nancy",
    "Steven", "Lisa", "Anthony", "Margaret", "Mark", "Sandra", "Paul", "Ashley", "Andrew"
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Shah", "Kumar", "Singh", "Chen", "Wang",
    "Li", "Zhang", "Kim", "Park", "Tanaka", "Suzuki", "Okafor", "Mensah", "Mwangi", "Dlamini",
    "O'Brien", "Murphy", "Kelly", "Byrne", "Novak", "Kowalski", "Nowak", "Müller", "Schmidt",
    "Schneider", "Fischer", "Rossi", "Russo", "Bianchi", "Dubois", "Moreau", "Lefebvre", "Jensen",
    "Nielsen", "Hansen", "Larsen", "Johansson", "Eriksson", "Silva", "Santos", "Oliveira", "Costa",
    "Fernandes", "Haddad", "Khalil", "Cohen", "Levi", "Ivanova", "Petrov"
)  # fmt: skip
# Personal mailboxes, at reserved names (RFC 2606) rather than the real providers': demo data
# must never address a real person. The loader marks them free mail, as quality would gmail.com.
FREE_MAIL = (
    ("mail.example", 0.55), ("inbox.example", 0.2), ("post.example", 0.15),
    ("webmail.example", 0.1),
)  # fmt: skip
# Compound place-like words (Harborview, Oakridge) make 900 company stems; with four nouns
# each, 3,600 company names come before any needs a number to stay unique.
STEM_HEADS = (
    "Harbor", "Maple", "North", "River", "Summit", "Oak", "Blue", "Cedar", "Lake", "Granite",
    "Willow", "Beacon", "Iron", "Pine", "Red", "Silver", "Brook", "Fair", "Golden", "Stone", "Elm",
    "Bright", "Clear", "High", "West", "East", "Ash", "Birch", "Copper", "Sun"
)  # fmt: skip
STEM_TAILS = (
    "view", "field", "gate", "side", "wood", "ridge", "water", "brook", "stone", "crest", "haven",
    "point", "vale", "well", "ford", "mont", "line", "bridge", "dale", "hill", "port", "way",
    "land", "worth", "by", "ton", "wick", "mere", "shore", "glen"
)  # fmt: skip
STEMS = len(STEM_HEADS) * len(STEM_TAILS)
NOUN_SLOTS = 4  # every industry has at least four nouns
NAMES = STEMS * NOUN_SLOTS
NAME_STRIDE = 367  # prime, so k -> (k * stride) mod NAMES visits every name in a scrambled order
NOUNS = {
    "office": ("Partners", "Group", "Consulting", "Associates", "Advisory", "Law"),
    "healthcare": ("Dental", "Family Clinic", "Physio", "Medical Centre", "Vet Clinic"),
    "property_management": ("Property Management", "Estates", "Realty", "Lettings"),
    "hospitality": ("Hotel", "Inn", "Suites", "Guest House"),
    "retail": ("Boutique", "Outfitters", "Home Store", "Market"),
    "education": ("Academy", "Montessori", "Learning Centre", "Prep School"),
    "manufacturing": ("Fabrication", "Components", "Plastics", "Tooling"),
    "fitness": ("Fitness", "Yoga Studio", "Climbing Gym", "Athletic Club"),
    "restaurant": ("Bistro", "Kitchen", "Trattoria", "Coffee House"),
}
LEGAL = (("", 0.5), (" LLC", 0.25), (" Inc.", 0.15), (" Ltd", 0.1))
# (country, area codes with the number of digits that follow each, share)
PHONES = (
    ("US", tuple((a, 7) for a in ("212", "312", "415", "617", "206", "303", "512", "404")), 0.78),
    ("CA", (("416", 7), ("604", 7), ("514", 7), ("403", 7)), 0.10),
    ("GB", (("20", 8), ("161", 7), ("121", 7), ("131", 7)), 0.12),
)
CALLING_CODE = {"US": "1", "CA": "1", "GB": "44"}
PAGES = (
    ("/", "CleanPro: commercial cleaning", 3.0, 0.0),
    ("/services/office-cleaning", "Office cleaning", 1.5, 0.3),
    ("/services/deep-clean", "Deep cleaning", 1.0, 0.2),
    ("/blog/office-cleaning-checklist", "The office cleaning checklist", 1.5, -0.3),
    ("/blog/commercial-cleaning-prices", "What commercial cleaning costs", 1.0, 0.2),
    ("/case-studies/harborview-dental", "Case study: Harborview Dental", 0.6, 0.6),
    ("/pricing", "Pricing", 1.0, 1.0),
    ("/quote", "Get a free quote", 0.6, 1.2),
)  # (path, title, base weight, how much more intent draws people to it)
EMAILS = (
    ("welcome", "Your quote is on its way"),
    ("pricing-guide", "How we price a cleaning contract"),
    ("case-study", "How Harborview Dental cut cleaning complaints to zero"),
    ("testimonial", "Two minutes with one of our customers"),
    ("check-in", "Still looking for a cleaner?"),
)
WEBINARS = ("Cleaning audits for facilities managers", "Healthy offices: what cleaning changes")
LOST_REASONS = ("no_response", "price", "competitor", "timing", "not_a_fit")


@dataclass
class CompanyRecord:
    key: int
    name: str
    domain: str
    industry: str
    size: str


@dataclass
class EventRecord:
    type: str
    occurred_at: datetime
    data: dict
    actor: str


@dataclass
class LeadRecord:
    key: int
    first_name: str
    last_name: str
    email: str
    free_mail: bool  # a personal address, not the company's: what quality would have flagged
    phone: str
    company: CompanyRecord | None
    source: int  # index into Dataset.sources
    custom_fields: dict
    lifecycle_stage: str
    captured_at: datetime
    first_touch: dict
    last_touch: dict
    events: list[EventRecord]
    fit: float
    intent: float
    propensity: float  # the true probability of converting: never stored in the database
    outcome: str | None  # "won", "lost", or None while the deal is still open
    contact: "ContactTimes"


@dataclass(frozen=True)
class ContactTimes:
    """When the loop answered: the acknowledgement, the owner, the first call (None: not yet)."""

    acknowledged_at: datetime
    assigned_at: datetime
    first_contact_at: datetime | None


@dataclass
class Chunk:
    index: int
    companies: list[CompanyRecord]
    leads: list[LeadRecord]


@dataclass(frozen=True)
class Spend:
    source: str
    month: date
    amount: Decimal


@dataclass(frozen=True)
class Dataset:
    """A history of `size` leads over `months` months ending at `end`. The leads are made on
    demand, chunk by chunk, and are the same every time they are asked for."""

    size: int
    seed: int
    months: int
    end: datetime
    sources: tuple[SourceSpec, ...]
    spend: tuple[Spend, ...]

    @property
    def start(self) -> datetime:
        return _month_start(self.end, -self.months)

    def chunks(self) -> Iterator[Chunk]:
        for index in range(math.ceil(self.size / CHUNK)):
            yield _chunk(self, index, min(CHUNK, self.size - index * CHUNK))

    def leads(self) -> Iterator[LeadRecord]:
        for chunk in self.chunks():
            yield from chunk.leads


@dataclass
class LoadStats:
    sources: int = 0
    companies: int = 0
    leads: int = 0
    events: int = 0
    seconds: float = 0.0
    won: int = 0
    lost: int = 0
    revenue: Decimal = field(default_factory=Decimal)

    @property
    def leads_per_second(self) -> float:
        return self.leads / self.seconds if self.seconds else 0.0


def generate(size: int, seed: int = 1, months: int = 12, end: datetime | None = None) -> Dataset:
    """The history of `size` leads. Timestamps are anchored at `end` (default: the start of the
    current UTC month), so the same seed and end always give the same data."""
    if size < 0 or months < 1:
        raise ValueError("size must be at least 0 and months at least 1")
    end = end or _month_start(datetime.now(UTC), 0)
    spec = Dataset(size, seed, months, end, SOURCES, ())
    return Dataset(size, seed, months, end, SOURCES, tuple(_spend(spec)))


def propensities(dataset: Dataset) -> dict[str, float]:
    """Each lead's true probability of converting, by its email address (unique in a history):
    what the oracle AUC is scored with. It makes the leads again, so it costs a generation."""
    return {record.email: record.propensity for record in dataset.leads()}


def load(dataset: Dataset, batch_size: int = 5000) -> LoadStats:
    """Write the dataset with bulk inserts, one transaction per generated chunk, so memory stays
    bounded however many leads there are. Leads are written as the quality layer's "valid":
    they are made to pass it, and running a million through it would take hours."""
    began = perf_counter()
    stats = LoadStats()
    names = [s.name for s in dataset.sources]
    existing = {s.name: s for s in Source.objects.filter(name__in=names)}
    missing = [
        Source(name=s.name, channel=s.channel, campaign=s.campaign, created_at=dataset.start)
        for s in dataset.sources
        if s.name not in existing
    ]
    # Source.save() would make the slug; bulk_create skips save(), so make it here.
    for source in missing:
        source.slug = slugify(source.name)
    Source.objects.bulk_create(missing)
    stats.sources = len(missing)
    by_name = existing | {s.name: s for s in missing}
    sources = [by_name[s.name] for s in dataset.sources]
    for chunk in dataset.chunks():
        with transaction.atomic():
            _load_chunk(chunk, sources, batch_size, stats)
    stats.seconds = perf_counter() - began
    return stats


def _load_chunk(chunk: Chunk, sources: list[Source], batch_size: int, stats: LoadStats) -> None:
    first_seen: dict[int, datetime] = {}
    for record in chunk.leads:
        if record.company:
            key = record.company.key
            first_seen[key] = min(first_seen.get(key, record.captured_at), record.captured_at)
    when, js = _datetime_adapter(), _json_adapter()
    companies = _Table(Company, ("name", "domain", "created_at"))
    company_ids = dict(
        zip(
            [c.key for c in chunk.companies],
            companies.insert(
                [(c.name, c.domain, when(first_seen[c.key])) for c in chunk.companies],
                batch_size,
            ),
            strict=True,
        )
    )
    leads = _Table(Lead, LEAD_COLUMNS)
    lead_ids = leads.insert(
        [
            (
                r.first_name,
                r.last_name,
                r.email,
                keys.email_key(r.email),
                r.phone,
                keys.name_key(r.first_name, r.last_name, r.company.name if r.company else ""),
                company_ids[r.company.key] if r.company else None,
                js(r.custom_fields),
                r.lifecycle_stage,
                sources[r.source].pk,
                js(r.first_touch),
                js(r.last_touch),
                js(_quality_signals(r.email, r.free_mail)),
                Quality.VALID.value,
                when(r.captured_at),
                when(r.contact.acknowledged_at),
                when(r.contact.assigned_at),
                when(r.contact.first_contact_at) if r.contact.first_contact_at else None,
            )
            for r in chunk.leads
        ],
        batch_size,
    )
    events = [
        (lead_id, e.type, when(e.occurred_at), js(e.data), e.actor)
        for lead_id, record in zip(lead_ids, chunk.leads, strict=True)
        for e in record.events
    ]
    _Table(Event, ("lead", "type", "occurred_at", "data", "actor")).insert(
        events, batch_size, returning=False
    )
    stats.companies += len(company_ids)
    stats.leads += len(lead_ids)
    stats.events += len(events)
    for record in chunk.leads:
        if record.outcome == "won":
            stats.won += 1
            stats.revenue += Decimal(record.events[-1].data["revenue"])
        elif record.outcome == "lost":
            stats.lost += 1


LEAD_COLUMNS = (
    "first_name", "last_name", "email", "email_key", "phone", "name_key", "company",
    "custom_fields", "lifecycle_stage", "source", "first_touch", "last_touch", "quality_signals",
    "quality", "captured_at", "acknowledged_at", "assigned_at", "first_contact_at",
)  # fmt: skip


def _quality_signals(email: str, free_mail: bool) -> dict:
    """The email signals quality's check_email records, which rules and the model read free mail
    from: quality would not know the reserved personal domains, so the generator says it."""
    return {"email": {"domain": email.rpartition("@")[2], "free_mail": free_mail}}


class _Table:
    """Rows of one model inserted with their values already adapted for the database, every
    column not named taking its field's default.

    What bulk_create does, for a fraction of its cost: it builds a model instance per row and
    prepares every value of every field through the query compiler, which took most of a
    100,000-lead load. Here the loader adapts only its JSON and datetime values, and each
    default is prepared once."""

    def __init__(self, model: type[models.Model], names: tuple[str, ...]) -> None:
        meta = model._meta
        named = [meta.get_field(name) for name in names]
        rest = [
            f
            for f in meta.concrete_fields
            if f not in named and not isinstance(f, models.AutoField)
        ]
        now = timezone.now()
        self.defaults = tuple(
            f.get_db_prep_save(
                now if getattr(f, "auto_now", False) else f.get_default(), connection
            )
            for f in rest
        )
        self.columns = [f.column for f in named + rest]
        self.model = model

    def insert(self, rows: list[tuple], batch_size: int, returning: bool = True) -> list[int]:
        """Insert the rows; return their primary keys in order unless `returning` is False."""
        if not rows:
            return []
        quote = connection.ops.quote_name
        # Only the model's own table and column names, quoted, go into the statement's text.
        head = (
            f"INSERT INTO {quote(self.model._meta.db_table)} "  # noqa: S608
            f"({', '.join(map(quote, self.columns))}) VALUES "
        )
        one = f"({', '.join(['%s'] * len(self.columns))})"
        defaults, ids = self.defaults, []
        with connection.cursor() as cursor:
            if not returning:
                for start in range(0, len(rows), batch_size):
                    batch = [row + defaults for row in rows[start : start + batch_size]]
                    cursor.executemany(head + one, batch)
                return ids
            if not connection.features.can_return_rows_from_bulk_insert:
                raise NotImplementedError("loading needs INSERT … RETURNING (SQLite 3.35+)")
            # As many rows a statement as the backend takes parameters.
            # (PostgreSQL's backend sets no limit of its own, but the protocol has one.)
            limit = min(
                connection.ops.bulk_batch_size(self.columns, rows), 65535 // len(self.columns)
            )
            per_statement = max(1, limit)
            returning_sql = f" RETURNING {quote(self.model._meta.pk.column)}"
            for start in range(0, len(rows), per_statement):
                batch = rows[start : start + per_statement]
                cursor.execute(
                    head + ", ".join([one] * len(batch)) + returning_sql,
                    [value for row in batch for value in row + defaults],
                )
                ids.extend(key for (key,) in cursor.fetchall())
        return ids


def _datetime_adapter() -> Callable[[datetime], object]:
    ops = connection.ops
    if connection.vendor == "sqlite" and settings.USE_TZ:
        # What the SQLite backend stores (naive text in the connection's time zone), without
        # its per-value checks: a fifth of the load's time went to them.
        zone = connection.timezone
        return lambda value: str(value.astimezone(zone).replace(tzinfo=None))
    return ops.adapt_datetimefield_value


def _json_adapter() -> Callable[[object], object]:
    return functools.partial(connection.ops.adapt_json_value, encoder=None)


def _month_start(moment: datetime, months_later: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months_later
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _season(month: int) -> float:
    """Spring is when offices re-tender cleaning contracts; autumn is quiet."""
    return math.cos(2 * math.pi * (month - 4) / 12)


def _month_weights(dataset: Dataset) -> list[tuple[datetime, float]]:
    """How many leads each month brings: seasonal, and growing as the marketing matures."""
    weights = []
    for m in range(dataset.months):
        begins = _month_start(dataset.start, m)
        weights.append((begins, (1 + 0.25 * _season(begins.month)) * (1 + 0.03 * m)))
    return weights


def _spend(dataset: Dataset) -> Iterator[Spend]:
    """Each source's monthly spend is what buys the leads it is expected to bring that month,
    give or take what any month's media prices do."""
    rng = random.Random(f"{dataset.seed}:spend")
    weights = _month_weights(dataset)
    total = sum(w for _, w in weights)
    for source in dataset.sources:
        for begins, weight in weights:
            expected = dataset.size * source.share * weight / total
            amount = expected * source.cost_per_lead * rng.lognormvariate(0, 0.12)
            yield Spend(source.name, begins.date(), Decimal(f"{amount:.2f}"))


def _chunk(dataset: Dataset, index: int, count: int) -> Chunk:
    rng = random.Random(f"{dataset.seed}:leads:{index}")
    maker = _LeadMaker(dataset, index, rng)
    leads = [maker.lead(index * CHUNK + i) for i in range(count)]
    return Chunk(index, list(maker.companies.values()), leads)


def _pick(rng: random.Random, options: tuple) -> tuple:
    """One of (value, ..., share) options, by its share (the last item)."""
    return options[_index(rng, _cumulative(options))]


@functools.cache
def _cumulative(options: tuple) -> tuple[float, ...]:
    # random.choices adds the weights up on every call: a tenth of generating a lead.
    return tuple(itertools.accumulate(o[-1] for o in options))


def _index(rng: random.Random, cumulative: tuple[float, ...] | list[float]) -> int:
    return bisect.bisect(cumulative, rng.random() * cumulative[-1], 0, len(cumulative) - 1)


FUNNEL = (
    LifecycleStage.LEAD,
    LifecycleStage.MQL,
    LifecycleStage.SQL,
    LifecycleStage.OPPORTUNITY,
    LifecycleStage.CUSTOMER,
)
NEVER_CALLED = 0.06  # leads nobody got to
MEDIAN_MINUTES_TO_CALL = 4.0


def _stage_moves(
    rng: random.Random, captured: float, until: float, reached: str, final: str
) -> list[EventRecord]:
    """The stage.changed events of a lead's way through the funnel, as scoring and sales
    record them: up to the stage it reached (a customer all the way), each step a while after
    the one before, then, for a lost deal, the move out at the close."""
    last = LifecycleStage.CUSTOMER if final == LifecycleStage.CUSTOMER else reached
    steps = FUNNEL[: FUNNEL.index(last) + 1] if last in FUNNEL else FUNNEL[:1]
    moves, at = [], captured
    for earlier, later in itertools.pairwise(steps):
        if later == LifecycleStage.CUSTOMER:
            at = until
        else:
            at = min(until, at + rng.expovariate(1 / (2 * DAY if at == captured else 6 * DAY)))
        actor = "scoring" if later in (LifecycleStage.MQL, LifecycleStage.SQL) else "sales"
        moves.append(
            EventRecord("stage.changed", _moment(at), {"from": earlier, "to": later}, actor)
        )
    if final not in FUNNEL:
        moves.append(
            EventRecord("stage.changed", _moment(until), {"from": last, "to": final}, "sales")
        )
    return moves


def _contact_times(rng: random.Random, captured: float, end: float) -> ContactTimes:
    """Acknowledged and assigned within seconds; called a few minutes later (about six in ten
    inside five minutes), a few never, and nothing after the history's end."""
    called = None
    if rng.random() >= NEVER_CALLED:
        minutes = rng.lognormvariate(math.log(MEDIAN_MINUTES_TO_CALL), 1.1)
        called = captured + minutes * 60
    return ContactTimes(
        acknowledged_at=_moment(min(end, captured + rng.uniform(1, 20))),
        assigned_at=_moment(min(end, captured + rng.uniform(2, 40))),
        first_contact_at=_moment(called) if called is not None and called < end else None,
    )


def _moment(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _bucket(reading: float, thresholds: tuple[float, ...], labels: tuple[str, ...]) -> str:
    """The first label whose threshold the reading exceeds (thresholds descending), else the
    last."""
    for threshold, label in zip(thresholds, labels, strict=False):
        if reading > threshold:
            return label
    return labels[-1]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: the means here stay small."""
    limit, count, product = math.exp(-min(mean, 30.0)), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _LeadMaker:
    def __init__(self, dataset: Dataset, chunk: int, rng: random.Random) -> None:
        self.dataset, self.rng = dataset, rng
        self.start = dataset.start.timestamp()
        self.end = dataset.end.timestamp()
        months = _month_weights(dataset)
        self.months = [begins.timestamp() for begins, _ in months] + [self.end]
        self.month_weights = list(itertools.accumulate(w for _, w in months))
        self.source_weights = list(itertools.accumulate(s.share for s in dataset.sources))
        # About 1.6 leads per company: most firms send one person, some send several.
        self.company_slots = max(1, int(CHUNK / 1.6))
        self.search = next(s for s in dataset.sources if s.channel == Channel.ORGANIC)
        self.chunk = chunk
        self.companies: dict[int, CompanyRecord] = {}
        self.company_emails: set[str] = set()

    def lead(self, key: int) -> LeadRecord:
        rng, dataset = self.rng, self.dataset
        source_index = _index(rng, self.source_weights)
        source = dataset.sources[source_index]
        month = _index(rng, self.month_weights)
        captured = rng.uniform(self.months[month], self.months[month + 1])
        captured_at = datetime.fromtimestamp(captured, UTC)

        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = None if rng.random() < source.residential else self._company()
        if company:
            industry, size = company.industry, company.size
            role, role_fit, _ = _pick(rng, ROLES)
            industry_fit = next(f for i, f, _ in INDUSTRIES if i == industry)
            size_fit = next(f for s, f, _ in SIZES if s == size)
            observed_fit = industry_fit + size_fit + role_fit - 0.9  # centred near zero
        else:
            industry, size, role = "residential", "household", "homeowner"
            observed_fit = RESIDENTIAL_FIT
        # Part of fit is nothing the form asks: the state of the building, the incumbent's
        # contract. It keeps any model honest about what the fields can tell; kept small, so
        # the oracle stays a bar a model of the fields can nearly reach.
        fit = observed_fit + rng.gauss(0, 0.15)
        intent = rng.gauss(source.intent_bias + SEASON_WEIGHT * _season(captured_at.month), 1.0)
        logit = INTERCEPT + FIT_WEIGHT * fit + INTENT_WEIGHT * intent + source.quality
        propensity = _sigmoid(logit)

        country, areas, _ = _pick(rng, PHONES)
        phone = ""
        if rng.random() < 0.7:
            area, digits = rng.choice(areas)
            subscriber = str(rng.randrange(2, 10)) + "".join(
                str(rng.randrange(10)) for _ in range(digits - 1)
            )
            phone = f"+{CALLING_CODE[country]}{area}{subscriber}"
        email, free_mail = self._email(key, first, last, company)

        # Sales cycles run longer for bigger buyers; a deal not closed by the end is still open.
        cycle_days = rng.lognormvariate(math.log(30) + 0.3 * SIZE_RANK[size], 0.8)
        closes = captured + cycle_days * DAY
        outcome = None
        if closes <= self.end:
            outcome = "won" if rng.random() < propensity else "lost"
        active_until = min(closes, self.end)

        events, forms = self._events(captured, active_until, intent, fit, company is not None)
        custom = self._custom_fields(industry, size, role, country, intent, fit)
        stage = reached = self._stage(intent, forms)
        closing = None
        if outcome == "won":
            value = CONTRACT_VALUE[size] * rng.lognormvariate(0, 0.35)
            closing = self._outcome("deal.won", closes, {"revenue": f"{value:.2f}"})
            stage = LifecycleStage.CUSTOMER
        elif outcome == "lost":
            reason = self._lost_reason(intent, fit)
            closing = self._outcome("deal.lost", closes, {"reason": reason})
            stage = (
                LifecycleStage.DISQUALIFIED if reason == "not_a_fit" else LifecycleStage.RECYCLED
            )
        # The sales side (stage moves, first contact) draws from its own generator, so adding
        # it left every earlier figure of a seed as it was.
        sales = random.Random(f"{dataset.seed}:{key}")
        path = _stage_moves(sales, captured, active_until, reached, stage)
        events = sorted(events + path, key=lambda e: e.occurred_at)
        if closing:
            events.append(closing)  # last: what the deal came to

        last_touch = self._touch(source, captured)
        first_touch = last_touch
        if events[0].occurred_at < captured_at:
            # Their first visit came earlier, often another way: through search, mostly.
            first_seen = events[0].occurred_at.timestamp()
            first_source = source if rng.random() < 0.6 else self.search
            first_touch = self._touch(first_source, first_seen)
        return LeadRecord(
            key=key,
            first_name=first,
            last_name=last,
            email=email,
            free_mail=free_mail,
            phone=phone,
            company=company,
            source=source_index,
            custom_fields=custom,
            lifecycle_stage=str(stage),
            captured_at=captured_at,
            first_touch=first_touch,
            last_touch=last_touch,
            events=events,
            fit=fit,
            intent=intent,
            propensity=propensity,
            outcome=outcome,
            contact=_contact_times(sales, captured, self.end),
        )

    def _company(self) -> CompanyRecord:
        slot = self.rng.randrange(self.company_slots)
        if slot in self.companies:
            return self.companies[slot]
        # Unique across the whole history without remembering earlier chunks: the global key
        # picks a stem and noun, and the round through all of them numbers the repeats.
        key = self.chunk * CHUNK + slot
        stem, noun_slot = divmod(key * NAME_STRIDE % NAMES, NOUN_SLOTS)
        head, tail = STEM_HEADS[stem // len(STEM_TAILS)], STEM_TAILS[stem % len(STEM_TAILS)]
        industry = _pick(self.rng, INDUSTRIES)[0]
        size = _pick(self.rng, SIZES)[0]
        noun = NOUNS[industry][noun_slot]
        legal = _pick(self.rng, LEGAL)[0]
        round_ = key // NAMES
        domain = f"{head}{tail}{keys.plain(noun)}{round_ or ''}.example".lower()
        record = CompanyRecord(key, f"{head}{tail} {noun}{legal}", domain, industry, size)
        self.companies[slot] = record
        return record

    def _email(
        self, key: int, first: str, last: str, company: CompanyRecord | None
    ) -> tuple[str, bool]:
        """The lead's address, and whether it is a personal (free-mail) one."""
        first_part, last_part = keys.plain(first), keys.plain(last)
        if company and self.rng.random() < 0.75:
            # Companies are made per chunk, so this chunk's set is enough to keep them unique.
            local = self.rng.choice(
                (f"{first_part}.{last_part}", f"{first_part[0]}{last_part}", first_part)
            )
            candidate, n = local, 1
            while f"{candidate}@{company.domain}" in self.company_emails:
                n += 1
                candidate = f"{local}{n}"
            email = f"{candidate}@{company.domain}"
            self.company_emails.add(email)
            return email, False
        # The lead's key as the number makes free-mail addresses unique with no lookups: names
        # hold no digits, so two addresses can only meet with the same key.
        domain = _pick(self.rng, FREE_MAIL)[0]
        local = self.rng.choice((f"{first_part}.{last_part}", f"{first_part}{last_part[0]}"))
        return f"{local}{key}@{domain}", True

    def _events(
        self, captured: float, until: float, intent: float, fit: float, business: bool
    ) -> tuple[list[EventRecord], list[str]]:
        """The timeline up to the deal's close: visits before the form, the form, then the
        nurture emails, return visits, webinars and further forms that intent and fit bring."""
        rng = self.rng
        stamped: list[tuple[float, str, dict, str]] = []

        def add(at: float, kind: str, data: dict, actor: str) -> None:
            stamped.append((at, kind, data, actor))

        # The keener the visitor, the likelier the pricing and quote pages.
        pages = list(
            itertools.accumulate(base * math.exp(1.5 * pull * intent) for _, _, base, pull in PAGES)
        )
        for _ in range(_poisson(rng, min(8.0, 1.2 * math.exp(0.8 * intent)))):
            add(max(captured - rng.uniform(0.02, 14) * DAY, self.start), *self._page_view(pages))
        forms = [self._form_kind(intent, business)]
        add(captured, "form.submitted", {"kind": forms[0], "form": "cleanpro-quote"}, "visitor")
        # Nurture runs for eight weeks at most, and nothing is recorded past the deal's close.
        weeks = max(0.0, min(8.0, (until - captured) / DAY / 7))
        # Most of what a lead does comes in the fortnight after the form; a deal that closes
        # sooner cuts it short. Within it, the counts grow steeply with intent: behaviour is
        # the only place intent shows.
        engaged = min(1.0, weeks / 2)
        for _ in range(_poisson(rng, 3.0 * engaged * math.exp(1.2 * intent + 0.25 * fit))):
            add(rng.uniform(captured, until), *self._page_view(pages))
        for _ in range(_poisson(rng, 2.0 * engaged * math.exp(0.8 * intent))):
            opened = rng.uniform(captured, until)
            campaign, subject = rng.choice(EMAILS)
            add(opened, "email.opened", {"campaign": campaign, "subject": subject}, "email")
            if rng.random() < _sigmoid(1.5 * intent - 1.0):
                clicked = min(opened + rng.uniform(10, 600), until)
                url = f"{SITE}/case-studies/harborview-dental?utm_medium=email&utm_campaign={campaign}"
                add(clicked, "email.clicked", {"campaign": campaign, "url": url}, "email")
                if rng.random() < 0.5 * _sigmoid(2 * intent + fit - 1.5):
                    replied = min(clicked + rng.uniform(600, 2 * DAY), until)
                    add(replied, "email.replied", {"campaign": campaign}, "email")
        if business and weeks > 0.5 and rng.random() < 0.4 * _sigmoid(1.5 * intent + fit - 1):
            webinar = {"webinar": rng.choice(WEBINARS), "minutes": rng.randrange(12, 55)}
            add(rng.uniform(captured, until), "webinar.attended", webinar, "system")
        if weeks > 0.3 and rng.random() < 0.5 * _sigmoid(2 * intent - 1):
            forms.append("demo_request" if business and rng.random() < 0.5 else "quote_request")
            data = {"kind": forms[-1], "form": "cleanpro-quote"}
            add(rng.uniform(captured, until), "form.submitted", data, "visitor")
        stamped.sort(key=lambda e: e[0])
        events = [
            EventRecord(kind, datetime.fromtimestamp(at, UTC), data, actor)
            for at, kind, data, actor in stamped
        ]
        return events, forms

    def _touch(self, source: SourceSpec, at: float) -> dict:
        """Attribution as capture records it: UTM tags for paid and email, a referrer otherwise."""
        landing = SITE + self.rng.choice(("/", "/quote", "/services/office-cleaning"))
        touch: dict = {}
        if source.utm_source:
            touch = {
                "utm_source": source.utm_source,
                "utm_medium": source.utm_medium,
                "utm_campaign": source.campaign,
            }
            landing += f"?utm_source={source.utm_source}&utm_medium={source.utm_medium}"
            landing += f"&utm_campaign={source.campaign}"
        if source.referrer:
            touch["referrer"] = source.referrer
        touch["landing_page"] = landing
        touch["at"] = datetime.fromtimestamp(at, UTC).isoformat()
        return touch

    def _page_view(self, pages: list[float]) -> tuple[str, dict, str]:
        path, title, _, _ = PAGES[_index(self.rng, pages)]
        return "page.viewed", {"url": SITE + path, "path": path, "title": title}, "visitor"

    def _form_kind(self, intent: float, business: bool) -> str:
        roll = self.rng.random()
        if roll < 0.5 * _sigmoid(-intent - 0.5):
            return "question"
        if business and roll > 1 - 0.3 * _sigmoid(intent):
            return "demo_request"  # a site walk-through before the quote
        return "quote_request"

    def _custom_fields(
        self, industry: str, size: str, role: str, country: str, intent: float, fit: float
    ) -> dict:
        """What the forms asked, answered honestly but loosely: each answer is a noisy reading of
        a latent the form cannot see directly."""
        rng = self.rng
        need_reading = intent + rng.gauss(0, 0.8)
        timeline_reading = intent + rng.gauss(0, 0.9)
        budget_reading = SIZE_RANK[size] + 0.5 * fit + rng.gauss(0, 0.8)
        authority = AUTHORITY[role]
        if rng.random() < 0.1:
            authority = rng.choice(("decision_maker", "influencer", "researcher"))
        low, high = SQUARE_FEET[size]
        fields = {
            "budget": ("under_500", "500_2000", "2000_10000", "10000_plus")[
                max(0, min(3, int(budget_reading)))
            ],
            "authority": authority,
            "need": _bucket(need_reading, (1.0, -0.3), ("urgent", "planned", "exploring")),
            "timeline": _bucket(
                timeline_reading,
                (1.1, 0.1, -0.8),
                ("this_month", "this_quarter", "this_year", "not_sure"),
            ),
            "industry": industry,
            "company_size": size,
            "role": role,
            "country": country,
            "service": "office" if industry != "residential" else rng.choice(("regular", "deep")),
            "square_feet": int(round(rng.uniform(low, high), -2)),
            "frequency": rng.choice(("Weekly", "Fortnightly", "Monthly")),
        }
        return fields

    def _stage(self, intent: float, forms: list[str]) -> str:
        """Where an open deal stands: further along the keener the lead."""
        if "demo_request" in forms and intent > 0.3:
            return LifecycleStage.OPPORTUNITY
        if intent > 0.4:
            return LifecycleStage.SQL
        if intent > -0.6:
            return LifecycleStage.MQL
        return LifecycleStage.LEAD

    def _lost_reason(self, intent: float, fit: float) -> str:
        weights = [
            1.5 * _sigmoid(-intent),  # no_response
            1.0,  # price
            0.7,  # competitor
            0.6,  # timing
            1.5 * _sigmoid(-fit - 0.5),  # not_a_fit
        ]
        return self.rng.choices(LOST_REASONS, weights)[0]

    def _outcome(self, kind: str, closes: float, data: dict) -> EventRecord:
        at = datetime.fromtimestamp(closes, UTC)
        return EventRecord(kind, at, {**data, "closed_at": at.isoformat()}, "sales")
