"""The funnel and its leaks on conftest's hand-made CleanPro."""

from dataclasses import replace

import pytest

from leadloop.analytics import funnel

pytestmark = pytest.mark.django_db


def rows(steps) -> list[tuple]:
    return [(s.key, s.count, s.conversion, s.median_days, s.dropped) for s in steps]


def test_each_step_counts_the_leads_that_reached_it_or_a_later_one(cleanpro, march):
    result = funnel.funnel(march)
    # Medians are read from day buckets and interpolated inside the median's bucket:
    # to MQL 0.5, 1, 1, 1, 2 days -> 1.5; MQL to SQL 1, 2, 2.5, 4 -> 2.5;
    # SQL to opportunity 2, 4, 7 -> 4.0 (L1 became an opportunity when its proposal was sent
    # on 9 March, the day before its stage moved); opportunity to customer 9, 11 -> 10.0.
    assert rows(result.steps) == [
        ("visitors", 20, None, None, 12),
        ("lead", 8, 40.0, None, 2),
        ("mql", 6, 75.0, 1.5, 2),
        ("sql", 4, 66.67, 2.5, 1),
        ("opportunity", 3, 75.0, 4.0, 1),
        ("customer", 2, 66.67, 10.0, 0),
    ]
    assert result.mql_to_sql == 66.67
    assert result.rows == []


def test_leads_not_contacted_past_their_sla_are_stuck(cleanpro, march):
    # L5 was assigned on 10 March and never contacted; L7 was never assigned.
    assert funnel.funnel(march).stuck_past_sla == 1
    assert funnel.funnel(replace(march, owner_id=cleanpro.mark.pk)).stuck_past_sla == 0


def test_by_source_each_source_has_its_own_funnel_and_visitors_cannot_be_split(cleanpro, march):
    result = funnel.funnel(march, by="source")
    (google, google_steps), (news, news_steps) = result.rows
    assert (google, news) == ("Google Ads", "Newsletter")
    assert [s.count for s in google_steps] == [None, 5, 4, 2, 2, 1]
    assert [s.count for s in news_steps] == [None, 3, 2, 2, 1, 1]
    assert google_steps[0].dropped is None and google_steps[1].conversion is None


def test_by_campaign_and_with_a_filter(cleanpro, march):
    result = funnel.funnel(replace(march, form="contact"), by="campaign")
    assert [name for name, _ in result.rows] == ["spring-search", "newsletter"]
    assert result.steps[0].count is None  # visitors have no form
    assert [s.count for s in result.steps[1:]] == [2, 1, 0, 0, 0]
    with pytest.raises(ValueError):
        funnel.funnel(march, by="form")
