"""Assignment rules: the first active rule, by position, that the lead meets and that has an
available owner decides; territory, source, campaign, score and stage are facts a rule can ask
about; a lead no rule places goes to the fallback owner."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from leadloop.core.models import Lead, LifecycleStage
from leadloop.core.services import create_source
from leadloop.routing import services
from leadloop.routing.models import AssignmentRule, RoutingSettings
from tests.routing.conftest import MONDAY_10, a_lead, make_rule, make_team

pytestmark = pytest.mark.django_db

US_OR_CANADA = {"fact": "country", "op": "in", "value": ["US", "CA"]}
BAY_AREA = {"fact": "postal_code", "op": "between", "value": ["94000", "94999"]}


def owner_of(lead: Lead) -> str:
    return services.decide(lead, now=MONDAY_10).owner.get_username()


def test_the_first_rule_the_lead_meets_wins_by_position_not_by_creation(rep, boss):
    make_rule("Everyone", rep("gina"), {}, position=2)
    make_rule("North America", rep("nora"), US_OR_CANADA, position=1)

    assert owner_of(a_lead(custom_fields={"country": "CA"})) == "nora"
    assert owner_of(a_lead(custom_fields={"country": "FR"})) == "gina"


def test_an_empty_condition_matches_every_lead(rep, boss):
    make_rule("Everyone", rep("gina"), {})

    assert owner_of(a_lead()) == "gina"
    assert owner_of(a_lead(email="", phone="+14155550134", first_name="")) == "gina"


def test_the_country_comes_from_the_phone_when_the_lead_did_not_type_it(api, rep, boss):
    make_rule("UK", rep("uma"), {"fact": "country", "op": "equals", "value": "GB"})
    make_rule("Everyone else", rep("gina"), {})

    london = api({"email": "pat@customers.example", "phone": "+44 20 7946 0958"}).json()["id"]
    typed = a_lead(phone="+442079460958", custom_fields={"country": "US"})

    assert Lead.objects.get(pk=london).enrichment["phone_region"]["value"] == "GB"
    assert owner_of(Lead.objects.get(pk=london)) == "uma"
    assert owner_of(typed) == "gina"  # what the person typed comes first


def test_a_postal_code_range_takes_zip_plus_four_and_leaves_others_out(rep, boss):
    make_rule("Bay Area", rep("bea"), BAY_AREA)
    make_rule("Everyone else", rep("gina"), {})

    assert owner_of(a_lead(custom_fields={"zip": "94016-1234"})) == "bea"
    assert owner_of(a_lead(custom_fields={"postal_code": "94999"})) == "bea"
    assert owner_of(a_lead(custom_fields={"postal_code": "10001"})) == "gina"
    assert owner_of(a_lead()) == "gina"  # no postal code: the range does not hold


def test_source_channel_and_campaign_choose_the_rule(rep, boss):
    spring, _ = create_source("Spring ads", channel="paid_search", campaign="spring-2026")
    partner, _ = create_source("Partner", channel="affiliate")
    make_rule(
        "Spring", rep("sam"), {"fact": "source.campaign", "op": "equals", "value": "spring-2026"}
    )
    make_rule(
        "Affiliates", rep("alf"), {"fact": "source.channel", "op": "equals", "value": "affiliate"}
    )
    make_rule("Everyone else", rep("gina"), {})

    assert owner_of(a_lead(source=spring)) == "sam"
    assert owner_of(a_lead(source=partner)) == "alf"
    assert owner_of(a_lead()) == "gina"


def test_score_and_stage_choose_the_rule(rep, boss):
    make_rule("Hot", rep("hank"), {"fact": "score", "op": "gte", "value": 50})
    make_rule(
        "Sales qualified", rep("sue"), {"fact": "lifecycle_stage", "op": "equals", "value": "sql"}
    )
    make_rule("Everyone else", rep("gina"), {})

    assert owner_of(a_lead(score=80)) == "hank"
    assert owner_of(a_lead(score=49, lifecycle_stage=LifecycleStage.SQL)) == "sue"
    assert owner_of(a_lead(score=49)) == "gina"


def test_a_rule_whose_team_has_nobody_at_work_falls_through_to_the_next(rep, boss):
    tokyo = rep("taro", time_zone="Asia/Tokyo")  # 19:00 in Tokyo: gone home
    away = rep("olga", away_from=MONDAY_10 - timedelta(days=1))
    make_rule("Asia desk", make_team("Asia", tokyo, away), {})
    make_rule("Everyone", make_team("Berlin", rep("bernd")), {})

    decision = services.decide(a_lead(), now=MONDAY_10)

    assert decision.owner.get_username() == "bernd"
    assert decision.rule.name == "Everyone" and decision.team.name == "Berlin"


def test_a_rule_to_one_rep_who_is_off_falls_through(rep, boss):
    make_rule("Vip", rep("vic", work_days="Sat,Sun"), {})
    make_rule("Everyone", rep("gina"), {})

    assert owner_of(a_lead()) == "gina"


def test_an_inactive_rule_or_user_is_passed_over(rep, boss):
    make_rule("Retired", rep("rob"), {}, is_active=False)
    left = rep("lea")
    left.user.is_active = False
    left.user.save()
    make_rule("Left the company", left, {})
    make_rule("Everyone", rep("gina"), {})

    assert owner_of(a_lead()) == "gina"


def test_a_lead_no_rule_places_goes_to_the_configured_fallback_owner(rep, boss):
    make_rule("Canada", rep("cal"), {"fact": "country", "op": "equals", "value": "CA"})
    chosen = rep("fay").user
    RoutingSettings.objects.update_or_create(
        pk=RoutingSettings.current().pk, defaults={"fallback_owner": chosen}
    )

    decision = services.decide(a_lead(custom_fields={"country": "MX"}), now=MONDAY_10)

    assert decision.owner == chosen and decision.rule is None
    assert "fallback" in decision.why


def test_without_a_configured_fallback_the_first_active_superuser_takes_the_lead(
    rep, django_user_model
):
    django_user_model.objects.create_superuser(
        "gone", "gone@leadloop.example", None, is_active=False
    )
    first = django_user_model.objects.create_superuser("first", "first@leadloop.example", None)
    django_user_model.objects.create_superuser("second", "second@leadloop.example", None)

    assert services.decide(a_lead(), now=MONDAY_10).owner == first


def test_with_no_fallback_at_all_deciding_says_what_to_set(db):
    with pytest.raises(LookupError, match="routing settings"):
        services.decide(a_lead(), now=MONDAY_10)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "one of the two"),
        ({"condition": {"fact": "country", "op": "between", "value": "US"}}, "low, high"),
    ],
)
def test_a_rule_without_one_target_or_with_a_broken_condition_is_refused(rep, fields, message):
    target = {"rep": rep("gina")} if "condition" in fields else {}
    rule = AssignmentRule(name="Broken", **target, **fields)

    with pytest.raises(ValidationError, match=message):
        rule.full_clean()
