"""SMS providers behind one interface, chosen by SMS_BACKEND: `console` (printed to the
worker's log, for development), `file` (appended as JSON lines to SMS_FILE, for development
and tests), `twilio` (the twilio package; TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM)."""

import json
import logging
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The provider did not take the message (it was not sent)."""


class SmsBackend(Protocol):
    def send(self, to: str, body: str, key: str) -> str:
        """Hand the message over; return the provider's id for it."""


class ConsoleSms:
    def send(self, to: str, body: str, key: str) -> str:
        logger.info("SMS to %s: %s", to, body)
        return key


class FileSms:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def send(self, to: str, body: str, key: str) -> str:
        line = {"to": to, "body": body, "key": key, "at": timezone.now().isoformat()}
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as error:
            raise SmsError(str(error)) from error
        return key


class TwilioSms:
    # twilio's HTTP client waits forever by default: a stalled API would hold the worker.
    TIMEOUT_SECONDS = 15

    def __init__(self, account_sid: str, auth_token: str, sender: str, base_url: str = "") -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        http = TwilioHttpClient(timeout=self.TIMEOUT_SECONDS)
        self.client = Client(account_sid, auth_token, http_client=http)
        if base_url:  # a stand-in for api.twilio.com (tests, a regional edge)
            self.client.api.base_url = base_url
        self.sender = sender

    def send(self, to: str, body: str, key: str) -> str:
        from requests import ConnectionError as Unreachable
        from twilio.base.exceptions import TwilioException

        # A 4xx/5xx or a connection never made (refused, no route, connect timeout): Twilio
        # did not take it. A read timeout is not caught here: it may have been sent.
        try:
            return self.client.messages.create(to=to, from_=self.sender, body=body).sid or ""
        except (TwilioException, Unreachable) as error:
            raise SmsError(str(error)) from error


def backend() -> SmsBackend:
    chosen = settings.SMS_BACKEND
    if chosen == "twilio":
        return TwilioSms(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            settings.TWILIO_FROM,
            settings.TWILIO_BASE_URL,
        )
    if chosen == "file":
        return FileSms(settings.SMS_FILE)
    return ConsoleSms()
