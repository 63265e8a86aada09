"""The synthetic history: reproducible, believable, and with outcomes its propensities explain."""

import itertools
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leadloop.core.keys import email_key
from leadloop.core.models import Channel, Company, Event, Lead, LifecycleStage, Source
from leadloop.demo import synthetic
from leadloop.quality.names import check_names

END = datetime(2026, 1, 1, tzinfo=UTC)
OUTCOMES = {"deal.won", "deal.lost"}
# RFC 2606 and 6761: names that can never be anyone's mailbox.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TLDS = (".example", ".test")


def is_reserved(domain: str) -> bool:
    return domain in RESERVED_DOMAINS or domain.endswith(
        tuple(f".{d}" for d in RESERVED_DOMAINS) + RESERVED_TLDS
    )


def auc(scores: list[float], labels: list[bool]) -> float:
    """Mann-Whitney: the chance a random positive outscores a random negative (ties count half),
    from the positives' mean rank, ties given their average rank."""
    ordered = sorted(zip(scores, labels, strict=True))
    rank_sum, i = 0.0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(1 for _, positive in ordered[i:j] if positive)
        i = j
    positives = sum(labels)
    negatives = len(labels) - positives
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@pytest.fixture(scope="module")
def history() -> list[synthetic.LeadRecord]:
    return list(synthetic.generate(6000, seed=7, end=END).leads())


def test_auc_formula() -> None:
    assert auc([0.1, 0.2, 0.3, 0.4], [False, False, True, True]) == 1.0
    assert auc([0.1, 0.2, 0.3, 0.4], [True, True, False, False]) == 0.0
    assert auc([0.5, 0.5], [True, False]) == 0.5


def test_same_seed_same_history() -> None:
    def fingerprint(seed: int) -> list[tuple]:
        return [
            (r.email, r.phone, r.captured_at, r.propensity, r.outcome, len(r.events))
            for r in synthetic.generate(300, seed=seed, end=END).leads()
        ]

    assert fingerprint(3) == fingerprint(3)
    assert fingerprint(3) != fingerprint(4)
    first, again = (
        synthetic.generate(300, seed=3, end=END),
        synthetic.generate(300, seed=3, end=END),
    )
    assert first.spend == again.spend


def test_sizes_and_shape(history: list[synthetic.LeadRecord]) -> None:
    dataset = synthetic.generate(6000, seed=7, months=12, end=END)
    assert len(history) == 6000
    assert len(list(dataset.chunks())) == 2  # made in chunks, so memory stays bounded
    assert dataset.start == datetime(2025, 1, 1, tzinfo=UTC)
    assert all(dataset.start <= r.captured_at < END for r in history)
    assert {s.channel for s in dataset.sources} == {
        Channel.ORGANIC, Channel.PAID_SEARCH, Channel.PAID_SOCIAL, Channel.EMAIL,
        Channel.REFERRAL, Channel.AFFILIATE,
    }  # fmt: skip
    # Spend per source per month, every month of the history.
    assert len(dataset.spend) == len(dataset.sources) * 12
    assert {s.month.month for s in dataset.spend} == set(range(1, 13))
    assert all(s.amount > 0 for s in dataset.spend)
    # Leads arrive in every month, more in spring than in autumn.
    by_month = Counter(r.captured_at.month for r in history)
    assert len(by_month) == 12 and by_month[4] > by_month[10]
    assert len(list(synthetic.generate(0, end=END).leads())) == 0


def test_leads_look_real(history: list[synthetic.LeadRecord]) -> None:
    assert len({email_key(r.email) for r in history}) == len(history)
    assert not any(check_names(r.first_name, r.last_name, r.email).reasons for r in history)
    domains = Counter(r.email.rpartition("@")[2] for r in history)
    assert domains["mail.example"] > 0  # personal addresses, and company ones
    assert len(domains) > 100
    phones = [r.phone for r in history if r.phone]
    assert len(phones) > len(history) / 2
    assert all(p.startswith("+") and p[1:].isdigit() and 11 <= len(p) <= 13 for p in phones)
    fields = history[0].custom_fields
    for name in ("budget", "authority", "need", "timeline", "industry", "company_size", "role"):
        assert fields[name]
    assert all(r.last_touch.get("landing_page") for r in history)
    assert any(r.last_touch.get("utm_source") == "google" for r in history)


def test_every_address_is_at_a_reserved_domain(history: list[synthetic.LeadRecord]) -> None:
    """Demo leads reach the nurture layer's lists: none may be a real mailbox."""
    assert is_reserved("mail.example") and is_reserved("a.example.org")
    assert not is_reserved("gmail.com") and not is_reserved("example.community")
    domains = {r.email.rpartition("@")[2] for r in history}
    assert [d for d in domains if not is_reserved(d)] == []
    assert all(is_reserved(r.company.domain) for r in history if r.company)


def test_personal_addresses_are_free_mail(history: list[synthetic.LeadRecord]) -> None:
    free = [r for r in history if r.free_mail]
    assert 0.2 * len(history) < len(free) < 0.6 * len(history)
    assert all(r.company is None or not r.email.endswith(r.company.domain) for r in free)
    assert all(
        r.company and r.email.endswith("@" + r.company.domain) for r in history if not r.free_mail
    )
    assert all(r.free_mail for r in history if r.company is None)  # homeowners have no company


def test_events_and_outcomes(history: list[synthetic.LeadRecord]) -> None:
    kinds = Counter(e.type for r in history for e in r.events)
    for kind in (
        "page.viewed", "email.opened", "email.clicked", "email.replied", "webinar.attended",
        "form.submitted", "deal.won", "deal.lost",
    ):  # fmt: skip
        assert kinds[kind] > 0, kind
    for r in history:
        assert r.events == sorted(r.events, key=lambda e: e.occurred_at)
        outcomes = [e for e in r.events if e.type in OUTCOMES]
        if r.outcome is None:
            assert not outcomes and r.lifecycle_stage != LifecycleStage.CUSTOMER
            continue
        (outcome,) = outcomes
        assert outcome is r.events[-1]  # nothing happens after the deal closes
        assert datetime.fromisoformat(outcome.data["closed_at"]) == outcome.occurred_at
        if r.outcome == "won":
            assert outcome.type == "deal.won" and r.lifecycle_stage == LifecycleStage.CUSTOMER
            assert Decimal(outcome.data["revenue"]) > 0
        else:
            assert outcome.type == "deal.lost" and outcome.data["reason"]
    forms = Counter(e.data["kind"] for r in history for e in r.events if e.type == "form.submitted")
    assert set(forms) == {"demo_request", "quote_request", "question"}
    assert any(e.data["path"] == "/pricing" for r in history for e in r.events if "path" in e.data)
    decided = [r for r in history if r.outcome]
    assert 0.6 * len(history) < len(decided) < len(history)  # some deals are still open


def test_outcomes_follow_propensity(history: list[synthetic.LeadRecord]) -> None:
    decided = [r for r in history if r.outcome]
    won = [r.outcome == "won" for r in decided]
    assert 0.1 < sum(won) / len(won) < 0.4
    oracle = auc([r.propensity for r in decided], won)
    assert oracle > 0.75
    engagement = auc([sum(e.type not in OUTCOMES for e in r.events) for r in decided], won)
    assert 0.6 < engagement < oracle


def test_each_lead_walks_the_funnel_to_the_stage_it_is_in(
    history: list[synthetic.LeadRecord],
) -> None:
    for record in history:
        moves = [e for e in record.events if e.type == "stage.changed"]
        path = [(m.data["from"], m.data["to"]) for m in moves]
        assert [to for _, to in path][-1:] == [record.lifecycle_stage] or (
            record.lifecycle_stage == LifecycleStage.LEAD and not path
        )
        assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(path))
        times = [m.occurred_at for m in moves]
        assert times == sorted(times) and all(t >= record.captured_at for t in times)
    customers = [r for r in history if r.outcome == "won"]
    assert all([e.type for e in r.events][-2:] == ["stage.changed", "deal.won"] for r in customers)


def test_most_leads_are_called_within_minutes_and_a_few_never(
    history: list[synthetic.LeadRecord],
) -> None:
    delays = [
        (r.contact.first_contact_at - r.captured_at).total_seconds() / 60
        for r in history
        if r.contact.first_contact_at
    ]
    assert 0.9 * len(history) < len(delays) < len(history)
    assert 0.5 < sum(d < 5 for d in delays) / len(delays) < 0.7
    assert all(r.contact.assigned_at >= r.captured_at for r in history)


@pytest.mark.django_db
def test_load_writes_everything() -> None:
    dataset = synthetic.generate(400, seed=5, end=END)
    records = list(dataset.leads())
    stats = synthetic.load(dataset, batch_size=150)
    assert stats.leads == Lead.objects.count() == 400
    assert stats.events == Event.objects.count() == sum(len(r.events) for r in records)
    assert stats.companies == Company.objects.count() > 0
    assert stats.sources == Source.objects.count() == len(dataset.sources)
    assert stats.won == Event.objects.filter(type="deal.won").count()
    assert stats.won == Lead.objects.filter(lifecycle_stage=LifecycleStage.CUSTOMER).count()
    assert stats.leads_per_second > 0
    record = records[0]
    lead = Lead.objects.get(email=record.email)
    assert lead.quality == "valid"
    assert lead.quality_signals["email"]["free_mail"] is record.free_mail
    free = Lead.objects.filter(quality_signals__email__free_mail=True).count()
    assert free == sum(r.free_mail for r in records) > 0
    assert lead.email_key == email_key(record.email)
    assert lead.source.name == dataset.sources[record.source].name
    assert lead.captured_at == record.captured_at
    assert lead.first_contact_at == record.contact.first_contact_at
    assert lead.custom_fields == record.custom_fields
    assert "propensity" not in str(lead.custom_fields)  # the truth stays out of the database
    assert [(e.type, e.occurred_at, e.data) for e in lead.events.all()] == [
        (e.type, e.occurred_at, e.data) for e in record.events
    ]
    if record.company:
        assert lead.company.domain == record.company.domain
        assert lead.name_key


@pytest.mark.django_db
def test_demo_command_loads_once() -> None:
    call_command("demo", leads=300, stdout=(out := StringIO()))
    assert Lead.objects.count() == 300
    assert "300 leads" in out.getvalue()
    with pytest.raises(CommandError, match="already"):
        call_command("demo", leads=300, stdout=StringIO())
    call_command("demo", leads=200, force=True, stdout=StringIO())
    assert Lead.objects.count() == 200
