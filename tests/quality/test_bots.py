"""The bot layers, each with real parts: ua-parser on real user agents, signed `opened` tokens on
a travelled clock (time-machine), ALTCHA challenges solved here by brute force, and rate limits
counted in Django's cache."""

import base64
import hashlib
import json
from datetime import timedelta

import altcha
import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from leadloop.core.types import LeadIntake
from leadloop.quality import bots
from leadloop.quality.bots import check_browser, check_rate, describe_agent, form_opened_token
from leadloop.quality.reasons import verdict_of
from leadloop.quality.services import assess_one

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

BOT_AGENTS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Googlebot smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)"
    ),
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "YandexBot": "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "AhrefsBot": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "GPTBot": (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
        "+https://openai.com/gptbot)"
    ),
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "curl": "curl/8.5.0",
    "Wget": "Wget/1.21.4",
    "python-requests": "python-requests/2.31.0",
    "Python-urllib": "Python-urllib/3.11",
    "python-httpx": "python-httpx/0.27.0",
    "aiohttp": "Python/3.11 aiohttp/3.9.1",
    "Go-http-client": "Go-http-client/1.1",
    "okhttp": "okhttp/4.12.0",
    "Java": "Java/17.0.2",
    "axios": "axios/1.6.2",
    "node-fetch": "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "Apache-HttpClient": "Apache-HttpClient/4.5.14 (Java/17.0.8)",
    "libwww-perl": "libwww-perl/6.72",
    "Scrapy": "Scrapy/2.11.0 (+https://scrapy.org)",
    "HeadlessChrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.109 Safari/537.36"
    ),
    "PhantomJS": (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
        "PhantomJS/2.1.1 Safari/538.1"
    ),
}

# (user agent, browser, OS)
PEOPLE_AGENTS = [
    (CHROME, "Chrome", "Windows"),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox",
        "Ubuntu",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "Safari",
        "Mac OS X",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        "Samsung Internet",
        "Android",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        "Edge",
        "Windows",
    ),
    # In-app browsers: people tapping an ad.
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/458.0.0.38.108;]",
        "Facebook",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 Instagram 326.0.3.21.108",
        "Instagram",
        "iOS",
    ),
]


def codes(found) -> list[str]:
    return [r.code for r in found.reasons]


# --- Honeypot and user agents.


@pytest.mark.parametrize("value", ["x", "https://spam.example", "1", True])
def test_honeypot_filled_is_invalid(value):
    found = check_browser({"honeypot": value, "user_agent": CHROME})
    assert codes(found) == ["bot_honeypot"]
    assert verdict_of(found.reasons) == "invalid"


@pytest.mark.parametrize("value", ["", None, False])
def test_honeypot_left_empty_is_fine(value):
    assert codes(check_browser({"honeypot": value, "user_agent": CHROME})) == []


@pytest.mark.parametrize("agent", BOT_AGENTS.values(), ids=BOT_AGENTS.keys())
def test_bot_user_agents_are_invalid(agent):
    assert describe_agent(agent)["is_bot"] is True
    found = check_browser({"user_agent": agent})
    assert codes(found) == ["bot_user_agent"]
    assert verdict_of(found.reasons) == "invalid"


@pytest.mark.parametrize(("agent", "browser", "os"), PEOPLE_AGENTS)
def test_people_user_agents_pass_and_are_described(agent, browser, os):
    described = describe_agent(agent)
    assert (described["browser"], described["os"], described["is_bot"]) == (browser, os, False)
    found = check_browser({"user_agent": agent})
    assert codes(found) == []
    assert found.enrichment["browser"] == {"value": browser, "source": "user_agent"}
    assert found.enrichment["os"] == {"value": os, "source": "user_agent"}


@pytest.mark.parametrize("agent", ["", None])
def test_no_user_agent_is_suspect(agent):
    found = check_browser({"user_agent": agent})
    assert codes(found) == ["bot_no_user_agent"]
    assert verdict_of(found.reasons) == "suspect"


@pytest.mark.parametrize("agent", ["x", "' OR 1=1 --", "<script>alert(1)</script>", "Mozilla/5.0"])
def test_odd_user_agents_are_not_called_bots(agent):
    assert codes(check_browser({"user_agent": agent})) == []


# --- Time to complete: the server's own clock through the signed `opened` token.


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


@pytest.mark.parametrize(
    ("seconds", "too_fast"), [(0, True), (1.5, True), (2.9, True), (3, False), (45, False)]
)
def test_opened_token_times_the_visit(clock, seconds, too_fast):
    token = form_opened_token()
    clock.shift(seconds)
    found = check_browser({"user_agent": CHROME, "opened": token})
    assert found.signals["seconds_to_submit"] == seconds
    assert codes(found) == (["bot_too_fast"] if too_fast else [])
    assert found.signals["human_likeness"] == (0.4 if too_fast else 1.0)


def test_the_token_outranks_what_the_browser_claims(clock):
    token = form_opened_token()
    clock.shift(1)
    found = check_browser({"user_agent": CHROME, "opened": token, "client_seconds": 60})
    assert codes(found) == ["bot_too_fast"]  # a script cannot lengthen its visit by saying so


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "1700000000.0:forged-signature", None],
)
def test_a_bad_token_falls_back_to_the_client_seconds(token):
    assert bots.seconds_since_opened(token or "") is None
    found = check_browser({"user_agent": CHROME, "opened": token, "client_seconds": 1})
    assert codes(found) == ["bot_too_fast"]
    found = check_browser({"user_agent": CHROME, "opened": token, "client_seconds": 20})
    assert codes(found) == []


def test_a_token_older_than_a_day_is_ignored(clock):
    token = form_opened_token()
    clock.shift(timedelta(days=1, seconds=1))
    assert bots.seconds_since_opened(token) is None


def test_a_form_may_ask_for_a_longer_minimum(clock):
    token = form_opened_token()
    clock.shift(8)
    assert codes(check_browser({"user_agent": CHROME, "opened": token})) == []
    found = check_browser({"user_agent": CHROME, "opened": token, "min_seconds": 10})
    assert codes(found) == ["bot_too_fast"]


def test_no_timing_at_all_is_no_reason():
    found = check_browser({"user_agent": CHROME})
    assert found.signals["seconds_to_submit"] is None
    assert codes(found) == []


# --- How the form was typed in.


@pytest.mark.parametrize(
    ("typing", "likeness", "reasons"),
    [
        (None, 1.0, []),  # nothing ran our script (a plain HTML form): no judgement
        ({"keystrokes": 42, "pastes": 0, "focus_order": ["email", "name"]}, 1.0, []),
        ({"keystrokes": 0, "pastes": 1, "focus_order": ["email"]}, 1.0, []),
        ({"keystrokes": 0, "pastes": 0, "focus_order": ["email", "name"]}, 0.7, []),  # autofill
        ({"keystrokes": 30, "focus_order": []}, 0.7, []),
        ({"keystrokes": 0, "pastes": 0, "focus_order": []}, 0.4, ["bot_like_typing"]),
        ({}, 0.4, ["bot_like_typing"]),
    ],
)
def test_typing_signals_make_human_likeness(typing, likeness, reasons):
    signals = {"user_agent": CHROME, "client_seconds": 30}
    if typing is not None:
        signals["typing"] = typing
    found = check_browser(signals)
    assert found.signals["human_likeness"] == likeness
    assert codes(found) == reasons


def test_too_fast_and_not_typed_is_one_reason_and_no_likeness():
    found = check_browser({"user_agent": CHROME, "client_seconds": 0.4, "typing": {}})
    assert found.signals["human_likeness"] == 0.0
    assert codes(found) == ["bot_too_fast"]


# --- Proof of work (ALTCHA), solved here the way the widget does it.


def solve(challenge: dict) -> str:
    """Brute force: the number n in 0..maxNumber whose SHA-256 of salt + n is the challenge."""
    assert challenge["algorithm"] == "SHA-256"
    for number in range(challenge["maxNumber"] + 1):
        digest = hashlib.sha256(f"{challenge['salt']}{number}".encode()).hexdigest()
        if digest == challenge["challenge"]:
            return encode({**without(challenge, "maxNumber"), "number": number})
    raise AssertionError("no number solves the challenge")


def without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


def encode(solution: dict, **dumps) -> str:
    return base64.b64encode(json.dumps(solution, **dumps).encode()).decode()


def decode(payload: str) -> dict:
    return json.loads(base64.b64decode(payload))


def proof(payload: str | None, *, required: bool = True) -> list[str]:
    signals = {"user_agent": CHROME, "proof_required": required, "proof_of_work": payload}
    return codes(check_browser(signals))


def test_a_challenge_is_a_real_altcha_v1_challenge():
    challenge = bots.proof_challenge()
    assert set(challenge) == {"algorithm", "challenge", "maxNumber", "salt", "signature"}
    assert challenge["maxNumber"] == bots.PROOF_MAX_NUMBER
    assert "expires=" in challenge["salt"]
    assert bots.proof_challenge()["salt"] != challenge["salt"]


def test_a_solved_challenge_passes_once():
    payload = solve(bots.proof_challenge())
    found = check_browser({"user_agent": CHROME, "proof_required": True, "proof_of_work": payload})
    assert codes(found) == []
    assert found.signals["proof_of_work"] is True
    again = check_browser({"user_agent": CHROME, "proof_required": True, "proof_of_work": payload})
    assert codes(again) == ["bot_proof_of_work_failed"]
    assert again.signals["proof_of_work"] is False
    assert verdict_of(again.reasons) == "invalid"
    assert "used before" in again.reasons[0].message


@pytest.mark.parametrize(
    "reencode",
    [
        lambda p: p + "\n",
        lambda p: " " + p,
        lambda p: encode(decode(p), separators=(",", ":")),
        lambda p: encode(dict(reversed(decode(p).items()))),
        lambda p: encode(decode(p), indent=2),
    ],
    ids=["trailing-newline", "leading-space", "compact-json", "keys-reversed", "indented"],
)
def test_a_replay_fails_however_it_is_reencoded(reencode):
    payload = solve(bots.proof_challenge())
    assert proof(payload) == []
    assert proof(reencode(payload)) == ["bot_proof_of_work_failed"]


def test_two_solved_challenges_both_pass():
    assert proof(solve(bots.proof_challenge())) == []
    assert proof(solve(bots.proof_challenge())) == []


def wrong_number(payload: str) -> str:
    solution = decode(payload)
    return encode({**solution, "number": solution["number"] + 1})


def other_key(payload: str) -> str:
    forged = altcha.create_challenge_v1(hmac_key="not-our-key", max_number=1000).to_dict()
    return solve(forged)


def without_signature(payload: str) -> str:
    return encode(without(decode(payload), "signature"))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: "garbage",
        lambda p: "%%%not base64%%%",
        lambda p: base64.b64encode(b"[1, 2, 3]").decode(),
        lambda p: base64.b64encode(b"null").decode(),
        lambda p: base64.b64encode(b'{"algorithm": "SHA-256"}').decode(),
        lambda p: encode({**decode(p), "algorithm": "MD5"}),
        wrong_number,
        other_key,
        without_signature,
        lambda p: "A" * 10_000,
    ],
    ids=[
        "garbage",
        "not-base64",
        "json-list",
        "json-null",
        "missing-fields",
        "md5",
        "wrong-number",
        "other-key",
        "no-signature",
        "huge",
    ],
)
def test_a_bad_proof_is_rejected(tamper):
    payload = solve(bots.proof_challenge())
    assert proof(tamper(payload)) == ["bot_proof_of_work_failed"]
    assert proof(payload) == []  # the tampering did not use up the real solution


def test_an_expired_challenge_is_rejected(clock):
    payload = solve(bots.proof_challenge())
    clock.shift(bots.PROOF_LIFETIME + timedelta(seconds=1))
    found = check_browser({"user_agent": CHROME, "proof_required": True, "proof_of_work": payload})
    assert codes(found) == ["bot_proof_of_work_failed"]
    assert "expired" in found.reasons[0].message


@pytest.mark.parametrize("payload", [None, ""])
def test_a_missing_proof_is_suspect_when_the_form_asks_for_one(payload):
    assert proof(payload) == ["bot_no_proof_of_work"]
    assert verdict_of(check_browser({"proof_required": True, "user_agent": CHROME}).reasons) == (
        "suspect"
    )


def test_no_proof_is_checked_when_the_form_does_not_ask():
    assert proof(None, required=False) == []
    assert proof("garbage", required=False) == []


# --- Rate limits per IP and per email, in Django's cache.


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=3, LEADLOOP_RATE_LIMIT_PER_EMAIL=100)
def test_the_fourth_submission_from_one_ip_in_the_hour_is_suspect():
    seen = [codes(check_rate("203.0.113.7", f"p{n}@acme.com")) for n in range(5)]
    assert seen == [[], [], [], ["rate_limit_ip"], ["rate_limit_ip"]]
    assert codes(check_rate("203.0.113.8", "someone@acme.com")) == []  # another IP
    sixth = check_rate("203.0.113.7", "x@acme.com").reasons[0]
    assert (sixth.severity, sixth.message) == ("suspect", "6 submissions this hour from one ip.")


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=100, LEADLOOP_RATE_LIMIT_PER_EMAIL=2)
def test_the_third_submission_for_one_email_in_the_hour_is_suspect():
    seen = [codes(check_rate(f"198.51.100.{n}", "ada@acme.com")) for n in range(4)]
    assert seen == [[], [], ["rate_limit_email"], ["rate_limit_email"]]
    assert codes(check_rate("198.51.100.9", "grace@acme.com")) == []


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=3)
def test_the_count_starts_again_the_next_hour():
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(3):
            check_rate("203.0.113.7", "")
        assert codes(check_rate("203.0.113.7", "")) == ["rate_limit_ip"]
        traveller.shift(timedelta(hours=1))
        assert codes(check_rate("203.0.113.7", "")) == []


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=0, LEADLOOP_RATE_LIMIT_PER_EMAIL=0)
def test_a_limit_of_zero_is_off():
    assert all(codes(check_rate("203.0.113.7", "ada@acme.com")) == [] for _ in range(50))


def browser_intake(email: str, ip: str = "203.0.113.7", **signals) -> LeadIntake:
    return LeadIntake(
        channel="widget",
        first_name="Ada",
        last_name="Lovelace",
        email=email,
        signals={"browser": True, "ip_address": ip, "user_agent": CHROME, **signals},
    )


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=3, LEADLOOP_RATE_LIMIT_PER_EMAIL=100)
def test_rate_limit_per_ip_on_whole_intakes():
    verdicts = [assess_one(browser_intake(f"person{n}@acme.com")).quality for n in range(4)]
    assert verdicts == ["valid", "valid", "valid", "suspect"]
    last = assess_one(browser_intake("person9@acme.com"))
    assert [r["code"] for r in last.reasons] == ["rate_limit_ip"]


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=100, LEADLOOP_RATE_LIMIT_PER_EMAIL=2)
def test_rate_limit_per_email_counts_one_mailbox_however_it_is_written():
    addresses = ["ada.lovelace@gmail.com", "AdaLovelace+news@gmail.com", "a.d.a.lovelace@gmail.com"]
    assessments = [
        assess_one(browser_intake(a, ip=f"198.51.100.{n}")) for n, a in enumerate(addresses)
    ]
    assert [a.quality for a in assessments] == ["valid", "valid", "suspect"]
    assert "rate_limit_email" in [r["code"] for r in assessments[-1].reasons]


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=1, LEADLOOP_RATE_LIMIT_PER_EMAIL=1)
def test_an_import_is_not_rate_limited():
    intakes = [
        LeadIntake(channel="import", email="ada@acme.com", signals={"bulk": True}) for _ in range(5)
    ]
    assert [assess_one(i).quality for i in intakes] == ["valid"] * 5
    # ... and did not count towards a later submission's limit either.
    assert assess_one(browser_intake("ada@acme.com")).quality == "valid"


@override_settings(LEADLOOP_RATE_LIMIT_PER_IP=1, LEADLOOP_RATE_LIMIT_PER_EMAIL=100)
def test_the_ip_of_an_api_call_is_not_counted():
    # An API source posts for many people from one server: only a browser's IP is a visitor's.
    intakes = [
        LeadIntake(channel="api", email=f"p{n}@acme.com", signals={"ip_address": "203.0.113.7"})
        for n in range(3)
    ]
    assert [assess_one(i).quality for i in intakes] == ["valid"] * 3


def test_a_bot_lead_is_marked_on_a_whole_intake(clock):
    token = form_opened_token()
    clock.shift(1)
    assessment = assess_one(
        browser_intake(
            "ada@acme.com",
            honeypot="https://spam.example",
            user_agent=BOT_AGENTS["python-requests"],
            opened=token,
        )
    )
    assert assessment.quality == "invalid"
    assert [r["code"] for r in assessment.reasons] == [
        "bot_honeypot",
        "bot_user_agent",
        "bot_too_fast",
    ]
    assert assessment.signals["seconds_to_submit"] == 1.0
