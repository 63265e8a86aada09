"""Open, click and unsubscribe links for nurture emails, signed so nobody can forge one for
another message or turn the click redirect into an open redirect."""

import html as markup
import re

from django.conf import settings
from django.core import signing
from django.urls import reverse

OPEN, CLICK, UNSUBSCRIBE = "leadloop.open", "leadloop.click", "leadloop.unsubscribe"
LINK = re.compile(r"""href=(["'])(https?://[^"']+)\1""", re.IGNORECASE)


def open_url(key: str) -> str:
    token = signing.dumps(key, salt=OPEN, compress=True)
    return settings.SITE_URL + reverse("nurture:open", args=[token])


def click_url(key: str, url: str) -> str:
    token = signing.dumps({"k": key, "u": url}, salt=CLICK, compress=True)
    return settings.SITE_URL + reverse("nurture:click", args=[token])


def unsubscribe_url(lead_id: int, key: str) -> str:
    token = signing.dumps({"l": lead_id, "k": key}, salt=UNSUBSCRIBE, compress=True)
    return settings.SITE_URL + reverse("nurture:unsubscribe", args=[token])


def read(token: str, salt: str) -> object | None:
    try:
        return signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None


def tracked_html(html: str, key: str, unsubscribe: str) -> str:
    """Every http(s) link through the click redirect (but the unsubscribe link), and the
    open pixel at the end."""

    def through_redirect(match: re.Match) -> str:
        quote, url = match.group(1), markup.unescape(match.group(2))
        if url == unsubscribe:
            return match.group(0)
        return f"href={quote}{click_url(key, url)}{quote}"

    pixel = f'<img src="{open_url(key)}" width="1" height="1" alt="" style="display:none">'
    return LINK.sub(through_redirect, html) + pixel


def unsubscribe_headers(unsubscribe: str) -> dict[str, str]:
    """RFC 2369 and RFC 8058: mail clients show their own button, which POSTs one click."""
    return {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
