"""A bot walking a multi-step funnel leaves one quarantined lead, not one per step, and never
touches the lead of the person whose address it typed."""

import pytest

from leadloop.core.models import Lead, Quality
from tests.capture.test_form_api import STEP_ONE, STEP_TWO, submit

pytestmark = pytest.mark.django_db
BOT = {"honeypot": "http://spam.example", "visitor_id": "bot1"}


def test_a_bots_funnel_steps_merge_into_its_one_quarantined_lead(client, quote_form):
    first = submit(client, {"answers": STEP_ONE, "step": 0, "partial": True, **BOT})
    final = submit(client, {"answers": STEP_TWO, "step": 1, **BOT})

    assert (first.status_code, final.status_code) == (201, 200)
    lead = Lead.objects.get()
    assert lead.quality == Quality.INVALID
    assert lead.capture_state == "complete"


def test_a_bot_reusing_a_persons_address_is_kept_apart_from_their_lead(client, quote_form):
    submit(client, {"answers": STEP_TWO, "visitor_id": "person"})
    person = Lead.objects.get()
    assert person.quality != Quality.INVALID

    submit(client, {"answers": {**STEP_TWO, "first_name": "Spam"}, **BOT})

    before = person.quality
    person.refresh_from_db()
    assert (person.first_name, person.quality) == ("Linus", before)
    bot = Lead.objects.exclude(pk=person.pk).get()
    assert (bot.duplicate_of, bot.quality) == (person, Quality.INVALID)
