"""The Attract layer's data: first-party visitor ids, page views, and touches (UTM, click ids)."""

from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from django.db import transaction
from django.utils import timezone

from leadloop import journey
from leadloop.capture.cleaning import clean_text
from leadloop.capture.models import PageView
from leadloop.core import services as core
from leadloop.core.models import Lead, Visitor
from leadloop.core.types import TOUCH_KEYS

URL_KEYS = {"referrer", "landing_page"}


def clean_touch(raw: object, *, page_url: str = "", at: datetime | None = None) -> dict:
    """Keep the attribution keys only, each as bounded plain text. UTM and click ids found on the
    landing page's URL count too, so a form needs no hidden fields to carry them."""
    given = raw if isinstance(raw, dict) else {}
    landing = given.get("landing_page") or page_url
    from_url = _query_params(landing) if isinstance(landing, str) else {}
    touch = {}
    for key in TOUCH_KEYS:
        value = given.get(key) or (landing if key == "landing_page" else from_url.get(key))
        try:
            text = clean_text(value, max_length=2000 if key in URL_KEYS else 500)
        except ValueError:
            continue
        if text:
            touch[key] = text
    if touch:
        touch["at"] = (at or timezone.now()).isoformat()
    return touch


def _query_params(url: str) -> dict:
    try:
        return dict(parse_qsl(urlsplit(url).query))
    except ValueError:
        return {}


def record_page_view(visitor_key: str, url: str, title: str = "", referrer: str = "") -> PageView:
    now = timezone.now()
    visitor, created = Visitor.objects.get_or_create(key=visitor_key)
    if not created:
        Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=now)
    view = PageView.objects.create(
        visitor=visitor,
        url=url,
        title=title,
        referrer=referrer,
        tracking=clean_touch({"referrer": referrer}, page_url=url, at=now),
        occurred_at=now,
    )
    # Read the visitor's lead only after the view is stored: a submission identifying the
    # visitor in between then either sees this view or has set the lead we read here.
    visitor.refresh_from_db(fields=["lead"])
    if visitor.lead_id:
        stitch_page_views(visitor)
    return view


def first_touch_of(visitor_key: str) -> dict:
    """The touch of the visitor's first recorded page view: where the journey really began."""
    if not visitor_key:
        return {}
    first = PageView.objects.filter(visitor__key=visitor_key).order_by("occurred_at", "id").first()
    return first.tracking if first else {}


def identify(visitor_key: str, lead: Lead) -> None:
    """Tie the anonymous visitor to the lead and put its earlier page views on the timeline."""
    if not visitor_key:
        return
    visitor, created = core.identify_visitor(visitor_key, lead)
    # A visitor first seen just now has no page views to stitch; a view recorded after this
    # reads the visitor's lead and stitches itself (record_page_view).
    if not created:
        stitch_page_views(visitor)


def stitch_page_views(visitor: Visitor) -> int:
    with transaction.atomic():
        views = list(visitor.page_views.select_for_update().filter(stitched=False))
        core.record_events(
            core.NewEvent(
                visitor.lead,
                "page.viewed",
                {
                    "url": v.url,
                    "path": urlsplit(v.url).path,
                    "title": v.title,
                    "referrer": v.referrer,
                    "visitor": visitor.key,
                },
                "visitor",
                v.occurred_at,
            )
            for v in views
        )
        PageView.objects.filter(pk__in=[v.pk for v in views]).update(stitched=True)
        if views:
            journey.engaged(visitor.lead, "page.viewed")
    return len(views)
