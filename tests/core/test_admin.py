"""The back office lists and filters every record of the spine."""

import pytest

from leadloop.capture.models import Submission

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "core/lead",
    "core/company",
    "core/source",
    "core/visitor",
    "core/event",
    "capture/form",
    "capture/submission",
    "capture/pageview",
    "capture/importjob",
    "compliance/consent",
    "quality/quarantinedlead",
    "quality/enrichmentrequest",
    "scoring/scoringrule",
    "scoring/stagedefinitions",
    "scoring/scoringrequest",
    "scoring/scoringmodel",
]


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_every_record_has_an_admin_list(admin_client, api, changelist):
    api({"email": "ada@example.com", "first_name": "<b>Ada</b>", "consent": {"email": True}})

    response = admin_client.get(f"/admin/{changelist}/")

    assert response.status_code == 200
    assert "<b>Ada</b>" not in response.content.decode()


def test_leads_filter_by_stage_and_source(admin_client, api):
    api({"email": "ada@example.com"})

    response = admin_client.get(
        "/admin/core/lead/?lifecycle_stage__exact=lead&capture_state__exact=complete"
    )

    assert "ada@example.com" in response.content.decode()


def test_a_submission_shows_its_raw_body_escaped(admin_client, api):
    api('{"email": "<script>x</script>"}')

    response = admin_client.get(f"/admin/capture/submission/{Submission.objects.get().pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html


def test_a_form_with_a_broken_definition_is_refused_in_the_admin(admin_client, quote_form):
    response = admin_client.post(
        f"/admin/capture/form/{quote_form.pk}/change/",
        {
            "name": "Quote",
            "slug": "cleanpro-quote",
            "definition": '{"steps": [{"fields": [{"name": "x", "type": "select"}]}]}',
            "is_active": "on",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "needs options" in response.content.decode()
    quote_form.refresh_from_db()
    assert quote_form.version == 1
