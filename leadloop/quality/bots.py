"""Is a person filling this in? Layered signals (seed 002): a honeypot, time to complete, how the
form was typed in, an optional proof-of-work, rate limits, and known bot user agents. A bot is
answered like a person; only its lead is marked."""

import base64
import datetime
import functools
import json
import time

import altcha
import ua_parser
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils import timezone

from leadloop.quality.reasons import INVALID, SUSPECT, Findings

OPENED_SALT = "leadloop.quality.form-opened"
PROOF_SALT = "leadloop.quality.proof-of-work"
PROOF_MAX_NUMBER = 50_000
PROOF_LIFETIME = datetime.timedelta(minutes=20)
MIN_SECONDS = 3
HUMAN_LIKENESS_FLOOR = 0.5
AUTOMATION_AGENTS = {
    "curl", "wget", "python requests", "python-urllib", "python-httpx", "go-http-client",
    "okhttp", "java", "libwww-perl", "axios", "node-fetch", "headlesschrome", "phantomjs",
    "scrapy", "apache-httpclient", "aiohttp",
}  # fmt: skip


def form_opened_token() -> str:
    """Handed out with a form, returned with its submission: the server's own clock on how long
    the visitor took, which a script cannot shorten by lying about it."""
    return signing.dumps(time.time(), salt=OPENED_SALT, compress=False)


def seconds_since_opened(token: str) -> float | None:
    if not token:
        return None
    try:
        opened = signing.loads(token, salt=OPENED_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        return None
    return max(0.0, time.time() - float(opened))


def proof_challenge() -> dict:
    challenge = altcha.create_challenge_v1(
        hmac_key=_proof_key(), max_number=PROOF_MAX_NUMBER, expires=timezone.now() + PROOF_LIFETIME
    )
    return challenge.to_dict()


def _proof_key() -> str:
    return signing.salted_hmac(PROOF_SALT, "altcha", secret=settings.SECRET_KEY).hexdigest()


def proof_is_good(payload: str) -> tuple[bool, str]:
    """(passed, why not). A solution is good once: a replayed one fails. "Once" is per solved
    challenge, not per payload text: the same solution re-encoded (a trailing newline, other JSON
    spacing) is still a replay."""
    try:
        solution = json.loads(base64.b64decode(payload))
        verified, error = altcha.verify_solution_v1(solution, _proof_key(), check_expires=True)
    except Exception:  # the library raises on shapes it does not expect; all mean "no"
        return False, "the proof-of-work could not be read"
    if not verified:
        return False, error or "the proof-of-work is wrong or expired"
    used = f"leadloop:pow:{solution['challenge']}"
    if not cache.add(used, 1, int(PROOF_LIFETIME.total_seconds())):
        return False, "the proof-of-work was used before"
    return True, ""


@functools.lru_cache(maxsize=2048)
def describe_agent(user_agent: str) -> dict:
    parsed = ua_parser.parse(user_agent)
    agent = parsed.user_agent.family if parsed.user_agent else ""
    device = parsed.device.family if parsed.device else ""
    # ua-parser names some clients differently ("Python aiohttp") or not at all (python-httpx,
    # node-fetch): their own product token ("aiohttp/3.9") says what they are.
    products = {token.partition("/")[0].lower() for token in user_agent.split()}
    return {
        "browser": agent or "",
        "os": parsed.os.family if parsed.os else "",
        "device": device or "",
        "is_bot": device == "Spider"
        or (agent or "").lower() in AUTOMATION_AGENTS
        or bool(products & AUTOMATION_AGENTS),
    }


def check_browser(signals: dict) -> Findings:
    """The bot layers for something a browser sent (hosted page, widget, popup, chat)."""
    found = Findings()
    if signals.get("honeypot"):
        found.add("bot_honeypot", INVALID, "Filled in a field people cannot see.")
    agent = describe_agent(signals.get("user_agent") or "")
    for name in ("browser", "os", "device"):
        found.enrich(name, agent[name], "user_agent")
    if not signals.get("user_agent"):
        found.add("bot_no_user_agent", SUSPECT, "Sent without a browser user agent.")
    elif agent["is_bot"]:
        found.add("bot_user_agent", INVALID, f"Sent by {agent['browser'] or 'a crawler'}.")
    _check_timing_and_typing(signals, found)
    _check_proof(signals, found)
    return found


def _check_timing_and_typing(signals: dict, found: Findings) -> None:
    opened = seconds_since_opened(signals.get("opened") or "")
    seconds = opened if opened is not None else signals.get("client_seconds")
    found.signals["seconds_to_submit"] = None if seconds is None else round(seconds, 1)
    minimum = signals.get("min_seconds", MIN_SECONDS)
    likeness = 1.0
    if seconds is not None and seconds < minimum:
        likeness -= 0.6
        found.add("bot_too_fast", SUSPECT, f"Completed in {seconds:.1f} s (under {minimum} s).")
    typing = signals.get("typing")
    if typing is not None:  # only what ran our script reports how it was typed in
        if not typing.get("keystrokes") and not typing.get("pastes"):
            likeness -= 0.3  # browser autofill types nothing either, so this alone is mild
        if not typing.get("focus_order"):
            likeness -= 0.3
    found.signals["human_likeness"] = round(max(0.0, likeness), 2)
    if likeness < HUMAN_LIKENESS_FLOOR and "bot_too_fast" not in {r.code for r in found.reasons}:
        found.add("bot_like_typing", SUSPECT, "Filled in without typing or moving between fields.")


def _check_proof(signals: dict, found: Findings) -> None:
    if not signals.get("proof_required"):
        return
    payload = signals.get("proof_of_work")
    if not payload:
        found.add("bot_no_proof_of_work", SUSPECT, "Sent without solving the form's challenge.")
        return
    passed, why = proof_is_good(payload)
    found.signals["proof_of_work"] = passed
    if not passed:
        found.add("bot_proof_of_work_failed", INVALID, f"The challenge failed: {why}.")


def check_rate(ip_address: str | None, email_key: str) -> Findings:
    """Submissions in the current hour from one IP and for one email, counted in Django's cache
    (Redis when REDIS_URL is set, so every web process shares the count)."""
    found = Findings()
    hour = int(time.time() // 3600)
    limits = [
        ("ip", ip_address, settings.LEADLOOP_RATE_LIMIT_PER_IP),
        ("email", email_key, settings.LEADLOOP_RATE_LIMIT_PER_EMAIL),
    ]
    for kind, value, limit in limits:
        if not value or limit <= 0:
            continue
        count = _count(f"leadloop:rate:{kind}:{hour}:{value}")
        if count > limit:
            found.add(
                f"rate_limit_{kind}", SUSPECT, f"{count} submissions this hour from one {kind}."
            )
    return found


def _count(key: str) -> int:
    if cache.add(key, 1, 3600):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, 3600)
        return 1
