"""The hosted landing page /p/<slug>: rendering, errors, thank-you, redirect and gated download."""

import re

import pytest
from django.core.files.base import ContentFile

from leadloop.capture import services
from leadloop.capture.models import Submission
from leadloop.compliance.models import Consent
from leadloop.core.models import Lead

pytestmark = pytest.mark.django_db

COMPLETE = {
    "email": "grace@example.com",
    "first_name": "Grace",
    "service": "office",
    "square_feet": "2400",
    "company": "Hopper Labs",
    "frequency": "Weekly",
    "phone": "+1 212 555 0199",
    "email_consent": "1",
}


def test_the_page_renders_every_step_with_accessible_labels(client, quote_form):
    response = client.get("/p/cleanpro-quote")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="ll-email">Email' in html
    assert 'id="ll-email" name="email"' in html
    assert html.count("data-ll-step=") == 2
    assert 'name="viewport"' in html
    assert response.cookies["ll_vid"].value


def test_a_valid_submission_creates_the_lead_and_shows_thanks(client, quote_form):
    response = client.post("/p/cleanpro-quote", COMPLETE, follow=True)

    assert response.status_code == 200
    assert "Your quote is on its way" in response.content.decode()
    lead = Lead.objects.get()
    assert lead.company.name == "Hopper Labs"
    assert lead.custom_fields == {
        "service": "office",
        "square_feet": "2400",
        "frequency": "Weekly",
        "campaign_variant": "spring",
    }
    submission = Submission.objects.get()
    assert (submission.channel, submission.form_version.number) == ("landing_page", 1)
    consent = Consent.objects.get()
    assert consent.wording.startswith("I agree that CleanPro may email me")
    assert consent.page_url.endswith("/p/cleanpro-quote")


def test_errors_are_shown_next_to_their_fields_and_answers_are_kept(client, quote_form):
    response = client.post("/p/cleanpro-quote", {**COMPLETE, "phone": "123", "email_consent": ""})

    html = response.content.decode()
    assert response.status_code == 422
    assert re.search(r'id="ll-phone-error"[^>]*>This phone number is not valid', html)
    assert 'aria-describedby="ll-email_consent-error"' in html
    assert 'value="grace@example.com"' in html
    assert Lead.objects.count() == 0
    assert Submission.objects.get().status == "rejected"


def test_hostile_answers_are_shown_escaped(client, quote_form):
    hostile = '"><script>alert(1)</script>'
    response = client.post("/p/cleanpro-quote", {**COMPLETE, "email": "bad", "first_name": hostile})

    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_fields_hidden_by_their_condition_are_ignored(client, quote_form):
    client.post("/p/cleanpro-quote", {**COMPLETE, "service": "regular"})

    assert Lead.objects.get().custom_fields.keys() == {"service", "frequency", "campaign_variant"}
    assert Lead.objects.get().company is None


def test_a_configured_redirect_replaces_the_thank_you_page(client, quote_form):
    quote_form.definition["settings"]["thank_you"]["redirect_url"] = (
        "https://cleanpro.example/thanks"
    )
    quote_form.save()

    response = client.post("/p/cleanpro-quote", COMPLETE)

    assert response.status_code == 302
    assert response["Location"] == "https://cleanpro.example/thanks"


def test_the_lead_magnet_is_delivered_after_submit_and_only_then(
    client, quote_form, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    quote_form.download.save("cleaning-checklist.pdf", ContentFile(b"%PDF-1.4 checklist"))

    thanks = client.post("/p/cleanpro-quote", COMPLETE, follow=True).content.decode()
    link = re.search(r'href="(/p/cleanpro-quote/download/[^"]+)"', thanks).group(1)

    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 checklist"
    assert client.get("/p/cleanpro-quote/download/forged-token").status_code == 404


def test_an_unknown_or_inactive_form_is_404(client, quote_form):
    quote_form.is_active = False
    quote_form.save()

    assert client.get("/p/cleanpro-quote").status_code == 404
    assert client.get("/p/no-such-form").status_code == 404


def test_editing_a_form_makes_a_new_version_and_old_submissions_keep_theirs(client, quote_form):
    client.post("/p/cleanpro-quote", COMPLETE)
    quote_form.definition["title"] = "Spring offer: 20% off your first clean"
    quote_form.save()
    quote_form.save()
    client.post("/p/cleanpro-quote", {**COMPLETE, "email": "other@example.com"})

    versions = list(
        Submission.objects.order_by("id").values_list("form_version__number", flat=True)
    )
    assert versions == [1, 2]
    assert quote_form.versions.count() == 2


def test_forms_export_and_import_round_trip(quote_form):
    exported = services.export_form(quote_form)
    exported["definition"]["description"] = "Changed"

    form = services.import_form(exported)

    assert form.pk == quote_form.pk
    assert form.version == 2
    assert form.definition["description"] == "Changed"
