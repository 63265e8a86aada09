"""Enrichment, end to end: what the checks learn (company from the email, phone region and time
zone, device from the user agent, place from the IP with a MaxMind-format database), and the HTTP
provider as durable work. Every value says where it came from; none replaces what was typed."""

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from werkzeug import Request, Response

from leadloop.capture.models import Submission
from leadloop.core import durable
from leadloop.core.models import Event, Lead
from leadloop.quality import providers
from leadloop.quality.models import ENRICHMENT_BACKOFF, EnrichmentRequest
from leadloop.quality.tasks import enrich_lead

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
TYPED = {"ms_to_submit": 9000, "keystrokes": 42, "pastes": 0, "focus_order": ["email", "name"]}
QUOTE = {
    "email": "linus@cleaners.example",
    "first_name": "Linus",
    "service": "office",
    "company": "Linus Cleaning Supplies",
    "email_consent": True,
}
ADA = {
    "email": "ada@analytical-engines.co.uk",
    "phone": "+14155550134",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Babbage & Co",
}
LONDON = "81.2.69.160"  # MaxMind's own test range, 81.2.69.0/24


def submit_form(body: dict = QUOTE, ip: str = "127.0.0.1", agent: str = IPHONE):
    return Client().post(
        "/api/v1/forms/cleanpro-quote/submissions",
        json.dumps({"answers": body, "signals": TYPED}),
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:8001",
        HTTP_USER_AGENT=agent,
        REMOTE_ADDR=ip,
    )


def enriched(lead_id: int) -> dict:
    return Lead.objects.get(pk=lead_id).enrichment


# What the checks learn ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_business_email_names_the_company_and_the_typed_company_stays(api):
    lead = Lead.objects.get(pk=api(ADA).json()["id"])

    assert lead.enrichment["company_domain"] == {
        "value": "analytical-engines.co.uk",
        "source": "email",
    }
    assert lead.enrichment["company_name"] == {"value": "Analytical Engines", "source": "email"}
    assert lead.company.name == "Babbage & Co"  # what the person typed


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["ada.lovelace@gmail.com", "ada@yahoo.com", "ada@mailinator.com"])
def test_free_mail_and_throwaway_domains_name_no_company(api, email):
    lead = Lead.objects.get(pk=api({**ADA, "email": email}).json()["id"])

    assert "company_domain" not in lead.enrichment
    assert "company_name" not in lead.enrichment


@pytest.mark.django_db
def test_a_phone_gives_its_region_and_time_zone(api):
    london = api({**ADA, "email": "ada@one.example", "phone": "+44 20 7946 0018"}).json()["id"]
    san_francisco = api({**ADA, "email": "ada@two.example"}).json()["id"]

    assert enriched(london)["phone_region"] == {"value": "GB", "source": "phone"}
    assert enriched(london)["time_zone"] == {"value": "Europe/London", "source": "phone"}
    assert enriched(san_francisco)["phone_region"] == {"value": "US", "source": "phone"}
    assert enriched(san_francisco)["time_zone"] == {
        "value": "America/Los_Angeles",
        "source": "phone",
    }
    assert Lead.objects.get(pk=london).phone == "+442079460018"


@pytest.mark.django_db
def test_a_browser_submission_gives_device_browser_and_os(quote_form):
    lead_id = submit_form().json()["id"]

    enrichment = enriched(lead_id)
    assert enrichment["device"] == {"value": "iPhone", "source": "user_agent"}
    assert enrichment["browser"] == {"value": "Mobile Safari", "source": "user_agent"}
    assert enrichment["os"] == {"value": "iOS", "source": "user_agent"}
    assert enrichment["company_domain"]["value"] == "cleaners.example"
    assert Lead.objects.get(pk=lead_id).company.name == "Linus Cleaning Supplies"


@pytest.mark.django_db
def test_a_lead_source_posting_from_a_server_gets_no_device(api):
    enrichment = enriched(api(ADA, HTTP_USER_AGENT=IPHONE).json()["id"])

    assert not {"device", "browser", "os"} & enrichment.keys()


@pytest.mark.django_db
def test_a_repeat_adds_what_it_learned_without_losing_the_rest(api):
    lead_id = api({**ADA, "phone": ""}).json()["id"]
    assert "time_zone" not in enriched(lead_id)

    api(ADA)

    assert enriched(lead_id)["time_zone"]["value"] == "America/Los_Angeles"
    assert enriched(lead_id)["company_domain"]["value"] == "analytical-engines.co.uk"


# Place from the IP (a MaxMind-format database) -------------------------------------------------


def geoip_database(path: Path, kind: str = "City") -> Path:
    """A tiny database in MaxMind's format, as geoip2 reads GeoLite2-City or -Country."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=f"GeoLite2-{kind}")
    place: dict = {"country": {"iso_code": "GB", "names": {"en": "United Kingdom"}}}
    if kind == "City":
        place |= {
            "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
            "city": {"names": {"en": "London"}},
        }
    writer.insert_network(IPSet(["81.2.69.0/24"]), place)
    writer.insert_network(
        IPSet(["2001:218::/32"]), {"country": {"iso_code": "JP", "names": {"en": "Japan"}}}
    )
    writer.to_db_file(str(path))
    return path


@pytest.mark.django_db
def test_an_ip_gives_country_region_and_city_with_a_city_database(quote_form, tmp_path):
    with override_settings(LEADLOOP_GEOIP_DB=str(geoip_database(tmp_path / "city.mmdb"))):
        lead_id = submit_form(ip=LONDON).json()["id"]

    enrichment = enriched(lead_id)
    assert enrichment["ip_country"] == {"value": "GB", "source": "ip"}
    assert enrichment["ip_region"] == {"value": "England", "source": "ip"}
    assert enrichment["ip_city"] == {"value": "London", "source": "ip"}


@pytest.mark.django_db
def test_a_country_database_gives_the_country_only(quote_form, tmp_path):
    database = geoip_database(tmp_path / "country.mmdb", kind="Country")
    with override_settings(LEADLOOP_GEOIP_DB=str(database)):
        lead_id = submit_form(ip=LONDON).json()["id"]

    enrichment = enriched(lead_id)
    assert enrichment["ip_country"] == {"value": "GB", "source": "ip"}
    assert not {"ip_region", "ip_city"} & enrichment.keys()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",  # loopback
        "10.1.2.3",  # private
        "8.8.8.8",  # public, not in the database
    ],
)
def test_an_ip_the_database_cannot_place_gives_nothing(quote_form, tmp_path, ip):
    with override_settings(LEADLOOP_GEOIP_DB=str(geoip_database(tmp_path / "city.mmdb"))):
        response = submit_form(ip=ip)

    assert response.status_code == 201
    assert not any(name.startswith("ip_") for name in enriched(response.json()["id"]))


@pytest.mark.django_db
def test_an_ipv6_address_is_placed_too(quote_form, tmp_path):
    with override_settings(LEADLOOP_GEOIP_DB=str(geoip_database(tmp_path / "city.mmdb"))):
        lead_id = submit_form(ip="2001:218:1::1").json()["id"]

    assert enriched(lead_id)["ip_country"] == {"value": "JP", "source": "ip"}


@pytest.mark.django_db
def test_without_a_database_the_ip_is_not_looked_up(quote_form, settings):
    settings.LEADLOOP_GEOIP_DB = ""

    lead_id = submit_form(ip=LONDON).json()["id"]

    assert not any(name.startswith("ip_") for name in enriched(lead_id))


# The HTTP provider, as durable work --------------------------------------------------------------

ANSWER = {
    "company_size": "11-50",
    "industry": "Mechanical computing",
    "founded": 1842,
    "first_name": "Augusta",  # never replaces what the person typed
    "email": "someone.else@example.com",
    "offices": ["London"],  # not a plain value: left out
    "bio": "x" * 600,  # too long: left out
}


@pytest.fixture
def provider(httpserver, settings):
    """pytest-httpserver standing in for the enrichment provider."""
    settings.LEADLOOP_ENRICHMENT_URL = httpserver.url_for("/enrich")
    settings.LEADLOOP_ENRICHMENT_TOKEN = "provider-token"
    settings.LEADLOOP_ENRICHMENT_TIMEOUT_MS = 300
    return httpserver


def run_worker() -> None:
    call_command("worker", batch=True, verbosity=0)


def later(**delta) -> time_machine.travel:
    return time_machine.travel(timezone.now() + timedelta(**delta), tick=True)


def lead_with_request(api) -> tuple[Lead, EnrichmentRequest]:
    lead = Lead.objects.get(pk=api(ADA).json()["id"])
    return lead, EnrichmentRequest.objects.get(lead=lead)


@pytest.mark.django_db(transaction=True)
def test_the_provider_is_asked_later_and_its_answer_kept_with_its_source(api, provider):
    provider.expect_oneshot_request(
        "/enrich", method="POST", headers={"Authorization": "Bearer provider-token"}
    ).respond_with_json(ANSWER)

    lead, request = lead_with_request(api)

    # Captured and answered without waiting for the provider: a pending row and a nudge.
    assert (request.status, request.attempts, request.provider) == ("pending", 0, "localhost")
    assert "company_size" not in lead.enrichment
    task = DBTaskResult.objects.get(task_path__endswith="enrich_lead")
    assert task.args_kwargs["args"] == [request.pk]

    run_worker()

    provider.check_assertions()
    asked = json.loads(provider.log[0][0].get_data())
    assert asked["lead_id"] == lead.pk
    assert asked["email"] == "ada@analytical-engines.co.uk"
    assert asked["company"] == "Babbage & Co"
    assert asked["company_domain"] == "analytical-engines.co.uk"
    request.refresh_from_db()
    assert (request.status, request.attempts, request.response) == ("done", 1, ANSWER)
    assert request.finished_at is not None and request.next_attempt_at is None
    lead.refresh_from_db()
    assert lead.enrichment["company_size"]["value"] == "11-50"
    assert lead.enrichment["company_size"]["source"] == "localhost"
    assert lead.enrichment["founded"]["value"] == 1842
    assert "offices" not in lead.enrichment and "bio" not in lead.enrichment
    # What the person typed stays; the local findings stay beside the provider's.
    assert (lead.first_name, lead.email) == ("Ada", "ada@analytical-engines.co.uk")
    assert lead.company.name == "Babbage & Co"
    assert lead.enrichment["company_domain"] == {
        "value": "analytical-engines.co.uk",
        "source": "email",
    }
    event = lead.events.get(type="lead.enriched")
    assert event.data == {
        "provider": "localhost",
        "fields": ["company_size", "email", "first_name", "founded", "industry"],
    }

    run_worker()  # a stray nudge for a finished request does nothing
    assert len(provider.log) == 1


@pytest.mark.django_db(transaction=True)
def test_the_request_is_written_in_the_leads_transaction(provider, source_key):
    with pytest.raises(RuntimeError), transaction.atomic():
        response = Client().post(
            "/api/v1/leads",
            json.dumps(ADA),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {source_key}",
        )
        assert response.status_code == 201
        assert EnrichmentRequest.objects.filter(lead_id=response.json()["id"]).exists()
        raise RuntimeError("the caller's transaction fails after the capture")

    assert not Lead.objects.exists()
    assert not Submission.objects.exists()
    assert not EnrichmentRequest.objects.exists()
    assert not DBTaskResult.objects.exists()  # nudged only once committed


@pytest.mark.django_db(transaction=True)
def test_without_a_provider_nothing_is_requested(api, settings):
    settings.LEADLOOP_ENRICHMENT_URL = ""

    api(ADA)

    assert not EnrichmentRequest.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_only_a_new_lead_is_sent_to_the_provider(api, provider):
    provider.expect_request("/enrich").respond_with_json({})
    api(ADA)

    assert api({**ADA, "last_name": "King"}).status_code == 200

    assert EnrichmentRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_provider_is_retried_with_backoff_by_the_sweep(api, provider):
    provider.expect_request("/enrich").respond_with_data("overloaded", status=500)
    lead, request = lead_with_request(api)

    run_worker()

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("pending", 1)
    assert "500" in request.last_error
    due = request.next_attempt_at
    assert due - timezone.now() == pytest.approx(ENRICHMENT_BACKOFF[0], abs=timedelta(seconds=5))
    assert not Event.objects.filter(type="lead.enriched").exists()
    assert providers.sweep() == 0  # not due yet

    provider.clear()
    provider.expect_request("/enrich").respond_with_json({"industry": "Computing"})
    with later(seconds=61):
        assert durable.run_sweeps()["quality.enrichment"] == 1
        run_worker()

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("done", 2)
    lead.refresh_from_db()
    assert lead.enrichment["industry"]["value"] == "Computing"


@pytest.mark.django_db(transaction=True)
def test_a_provider_that_does_not_answer_in_time_is_retried(api, provider):
    answered = threading.Event()

    def too_slow(request: Request) -> Response:
        time.sleep(0.6)
        answered.set()
        return Response(json.dumps({"industry": "late"}), content_type="application/json")

    provider.expect_request("/enrich").respond_with_handler(too_slow)
    lead, request = lead_with_request(api)

    started = time.monotonic()
    providers.enrich_claimed(request.pk)

    assert time.monotonic() - started < 0.6
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("pending", 1)
    assert "Timeout" in request.last_error
    assert request.next_attempt_at > timezone.now() + timedelta(seconds=50)
    lead.refresh_from_db()
    assert "industry" not in lead.enrichment
    answered.wait(5)  # the server answers no one: let it finish before the next test
    time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_the_provider_is_given_up_on_after_the_last_attempt(api, provider):
    provider.expect_request("/enrich").respond_with_data("no", status=503)
    _, request = lead_with_request(api)
    tried = timezone.now()
    run_worker()

    waits = []
    request.refresh_from_db()
    while request.status == "pending":
        waits.append(request.next_attempt_at - tried)
        with time_machine.travel(request.next_attempt_at + timedelta(seconds=1), tick=True):
            tried = timezone.now()
            assert providers.sweep() == 1
            run_worker()
        request.refresh_from_db()

    assert [round(wait / timedelta(minutes=1)) for wait in waits] == [1, 10, 60]
    assert request.attempts == providers.MAX_ATTEMPTS == 4
    assert request.status == "failed"
    assert request.next_attempt_at is None
    assert "503" in request.last_error
    assert [answer.status_code for _, answer in provider.log] == [503] * providers.MAX_ATTEMPTS
    with later(days=2):
        assert providers.sweep() == 0


@pytest.mark.django_db(transaction=True)
def test_an_answer_that_is_not_an_object_is_a_failure(api, provider):
    provider.expect_request("/enrich").respond_with_json(["not", "an", "object"])
    _, request = lead_with_request(api)

    run_worker()

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("pending", 1)
    assert "JSON object" in request.last_error


@pytest.mark.django_db(transaction=True)
def test_a_stale_nudge_waits_for_the_backoff(api, provider):
    provider.expect_request("/enrich").respond_with_data("overloaded", status=500)
    _, request = lead_with_request(api)
    run_worker()

    enrich_lead.enqueue(request.pk)  # a second nudge, as a slow worker or a sweep may leave
    run_worker()

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("pending", 1)
    assert len(provider.log) == 1
