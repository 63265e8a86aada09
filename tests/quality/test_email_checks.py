"""Email checks over real-world bad and good addresses, asked of the real DNS server on loopback
(tests/dns_server.py): nothing is mocked. A domain's first label picks how the server answers
(nxdomain.*, nullmx.*, nomail.*, servfail.*, slow.*; anything else has an MX)."""

import itertools
import time
import uuid

import pytest
from django.test import override_settings
from dnslib.server import BaseResolver

from leadloop.core.types import LeadIntake
from leadloop.quality import dns
from leadloop.quality.email import (
    check_email,
    is_disposable,
    is_free_mail,
    is_role_account,
    suggest_domain,
)
from leadloop.quality.reasons import verdict_of
from leadloop.quality.services import assess_one
from tests import dns_server

_unique = itertools.count()


def fresh(behaviour: str) -> str:
    """A domain nobody has asked about yet in this process, so no cached answer hides the server's."""
    return f"{behaviour}.t{next(_unique)}-{uuid.uuid4().hex[:8]}.example.com"


def codes(found) -> set[str]:
    return {r.code for r in found.reasons}


# (address, reason codes check_email gives it with no phone, verdict)
EMAIL_TABLE = [
    # Throwaway services, their sub-domains, any case.
    ("kim@mailinator.com", {"email_disposable"}, "invalid"),
    ("kim@MAILINATOR.COM", {"email_disposable"}, "invalid"),
    ("kim@inbox.mailinator.com", {"email_disposable"}, "invalid"),
    ("kim@a.b.yopmail.com", {"email_disposable"}, "invalid"),
    ("kim@guerrillamail.com", {"email_disposable"}, "invalid"),
    ("kim@guerrillamail.info", {"email_disposable"}, "invalid"),
    ("kim@sharklasers.com", {"email_disposable"}, "invalid"),
    ("kim@10minutemail.com", {"email_disposable"}, "invalid"),
    ("kim@yopmail.com", {"email_disposable"}, "invalid"),
    ("kim@temp-mail.org", {"email_disposable"}, "invalid"),
    ("kim@maildrop.cc", {"email_disposable"}, "invalid"),
    ("kim@throwawaymail.com", {"email_disposable"}, "invalid"),
    ("info@mailinator.com", {"email_disposable", "email_role_account"}, "invalid"),
    # A listed name inside a company's own domain is not the throwaway service.
    ("kim@mailinator.com.acme-widgets.com", set(), "valid"),
    # Role and shared mailboxes.
    ("info@acme.com", {"email_role_account"}, "suspect"),
    ("INFO@acme.com", {"email_role_account"}, "suspect"),
    ("sales@acme.com", {"email_role_account"}, "suspect"),
    ("noreply@acme.com", {"email_role_account"}, "suspect"),
    ("no-reply@acme.com", {"email_role_account"}, "suspect"),
    ("donotreply@acme.com", {"email_role_account"}, "suspect"),
    ("support+x@acme.com", {"email_role_account"}, "suspect"),
    ("postmaster@acme.com", {"email_role_account"}, "suspect"),
    ("webmaster@acme.com", {"email_role_account"}, "suspect"),
    ("info@gmail.com", {"email_role_account", "email_free_mail"}, "suspect"),
    # People whose address merely contains a role word.
    ("john.info@acme.com", set(), "valid"),
    ("salesforce.admin.jane@acme.com", set(), "valid"),
    ("jane+sales@acme.com", set(), "valid"),
    # Free mail: a flag for B2B fit, never a doubt about the person.
    ("jane@gmail.com", {"email_free_mail"}, "valid"),
    ("jane@yahoo.co.uk", {"email_free_mail"}, "valid"),
    ("jane@proton.me", {"email_free_mail"}, "valid"),
    ("jane@gmx.de", {"email_free_mail"}, "valid"),
    ("jane@icloud.com", {"email_free_mail"}, "valid"),
    ("jane@me.com", {"email_free_mail"}, "valid"),
    ("jane@qq.com", {"email_free_mail"}, "valid"),
    # Typos of well-known providers.
    # Typo-squatted slips sit on the throwaway list, but the person most likely mistyped.
    ("jane@gmial.com", {"email_typo", "email_disposable"}, "suspect"),
    ("jane@hotmial.com", {"email_typo", "email_disposable"}, "suspect"),
    ("jane@gmail.con", {"email_typo"}, "suspect"),
    ("jane@hotmail.co", {"email_typo"}, "suspect"),
    ("jane@yaho.com", {"email_typo"}, "suspect"),
    ("jane@outlok.com", {"email_typo"}, "suspect"),
    ("jane@icloud.co", {"email_typo"}, "suspect"),
    # Business domains: no typo, no flag.
    ("jane@acme.com", set(), "valid"),
    ("jane@stripe.com", set(), "valid"),
    ("jane@company.com", set(), "valid"),
    ("jane@aon.com", set(), "valid"),
    ("jane@sub.example.co.uk", set(), "valid"),
    # The A record stands in for a missing MX (RFC 5321 §5.1).
    ("jane@nomail.acme-example.com", set(), "valid"),
    # Mail cannot be delivered: fatal only when the email is the one way to reach the person.
    ("jane@nxdomain.acme-example.com", {"email_undeliverable"}, "invalid"),
    ("jane@nullmx.acme-example.com", {"email_undeliverable"}, "invalid"),
    ("jane@shop.invalid", {"email_undeliverable"}, "invalid"),
    # DNS could not say: unknown, never a rejection.
    ("jane@servfail.acme-example.com", {"email_deliverability_unknown"}, "valid"),
]


@pytest.mark.parametrize(("email", "expected", "verdict"), EMAIL_TABLE)
def test_email_table(email, expected, verdict):
    found = check_email(email, other_contact=False)
    assert codes(found) == expected
    assert verdict_of(found.reasons) == verdict


@pytest.mark.parametrize(
    ("domain", "suggestion"),
    [
        ("gmial.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("gmail.cm", "gmail.com"),
        ("gmai.com", "gmail.com"),
        ("gamil.com", "gmail.com"),
        ("gnail.com", "gmail.com"),
        ("gmaill.com", "gmail.com"),
        ("GMIAL.COM", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotmai.com", "hotmail.com"),
        ("hotmail.co", "hotmail.com"),
        ("hotmial.con", "hotmail.com"),
        ("hotmail.co.uj", "hotmail.co.uk"),
        ("yaho.com", "yahoo.com"),
        ("yahooo.com", "yahoo.com"),
        ("yahoo.co", "yahoo.com"),
        ("outlok.com", "outlook.com"),
        ("outlook.co", "outlook.com"),
        ("outlook.cm", "outlook.com"),
        ("icloud.co", "icloud.com"),
        ("iclould.com", "icloud.com"),
        ("protonmal.com", "protonmail.com"),
        ("googlemail.co", "googlemail.com"),
        ("aol.con", "aol.com"),
    ],
)
def test_typo_suggestions(domain, suggestion):
    assert suggest_domain(domain) == suggestion


@pytest.mark.parametrize(
    "domain",
    [
        # Real businesses and the providers themselves.
        "acme.com", "mx.com", "company.com", "stripe.com", "github.com", "me.com", "gmail.com",
        "yahoo.co.uk", "mail.com", "web.de", "qq.com",
        # A letter or two from a provider, but a real business domain: the slip would be in the
        # first letter or in a short provider name, or two letters apart in the name.
        "aon.com", "cloud.com", "key.com", "max.com", "man.com", "gmc.com", "hive.com",
        "lime.com", "line.com", "wahoo.com", "horizon.net", "soho.com", "fox.net", "sol.com",
        "email.com",
        # The provider's corporate domain is not its mail domain with a slip.
        "comcast.com", "verizon.com", "proton.com", "att.com",
    ],
)  # fmt: skip
def test_no_suggestion_for_legitimate_domains(domain):
    assert suggest_domain(domain) == ""


def test_typo_signal_carries_the_corrected_address():
    found = check_email("Jane.Doe@gmial.com", other_contact=False)
    assert found.signals["email"]["suggestion"] == "Jane.Doe@gmail.com"
    assert found.signals["email"]["free_mail"] is False  # gmial.com itself is nobody's mail


@pytest.mark.parametrize(
    ("local", "role"),
    [
        ("info", True), ("Sales", True), ("no-reply", True), ("support+x", True), ("hr", True),
        ("jane", False), ("info.jane", False), ("ceo", False), ("", False),
    ],
)  # fmt: skip
def test_role_accounts(local, role):
    assert is_role_account(local) is role


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True), ("GMAIL.COM", True), ("hotmail.co.uk", True), ("acme.com", False),
        ("gmail.com.acme.com", False), ("mail.google.com", False),
    ],
)  # fmt: skip
def test_free_mail(domain, free):
    assert is_free_mail(domain) is free


@pytest.mark.parametrize(
    ("domain", "disposable"),
    [
        ("mailinator.com", True), ("x.y.mailinator.com", True), ("Guerrillamail.Com", True),
        ("acme-mailinator.com", False), ("mailinator.com.example.org", False), ("com", False),
    ],
)  # fmt: skip
def test_disposable(domain, disposable):
    assert is_disposable(domain) is disposable


# --- Verdicts on a whole intake: a dead address is fatal only when it is the only contact.


@pytest.mark.parametrize("behaviour", ["nxdomain", "nullmx"])
@pytest.mark.parametrize(("phone", "verdict"), [("", "invalid"), ("+14155552671", "suspect")])
def test_undeliverable_is_invalid_only_without_a_phone(behaviour, phone, verdict):
    intake = LeadIntake(channel="api", email=f"jane@{fresh(behaviour)}", phone=phone)
    assessment = assess_one(intake)
    assert assessment.quality == verdict
    assert [r["code"] for r in assessment.reasons] == ["email_undeliverable"]
    assert assessment.reasons[0]["severity"] == verdict
    assert assessment.signals["email"]["deliverability"] == dns.UNDELIVERABLE


class EmptyZone(BaseResolver):
    """Every name exists and has no records at all: no MX, no A, no AAAA."""

    def __init__(self):
        self.questions: list[str] = []

    def resolve(self, request, handler):
        self.questions.append(str(request.q.qname))
        return request.reply()


@pytest.fixture
def empty_dns():
    server, zone, address = dns_server.start(EmptyZone())
    try:
        with override_settings(LEADLOOP_DNS=address):
            yield zone
    finally:
        server.stop()


def test_no_mx_and_no_address_is_undeliverable(empty_dns):
    domain = fresh("bare")
    assert dns.checker().check(domain) == dns.DomainCheck(
        dns.UNDELIVERABLE, "the domain has no mail server and no address"
    )
    assert empty_dns.questions == [f"{domain}."] * 3  # MX, then A, then AAAA
    alone = assess_one(LeadIntake(channel="api", email=f"jane@{fresh('bare')}"))
    assert alone.quality == "invalid"
    with_phone = assess_one(
        LeadIntake(channel="api", email=f"jane@{fresh('bare')}", phone="+12125551234")
    )
    assert with_phone.quality == "suspect"


def test_a_record_alone_is_deliverable(loopback_dns):
    domain = fresh("nomail")
    assert dns.checker().check(domain) == dns.DomainCheck(dns.DELIVERABLE, "A")
    assert [q for q in loopback_dns.questions if q.startswith(domain)] == [
        f"{domain} MX",
        f"{domain} A",
    ]


def test_servfail_is_unknown_not_a_rejection():
    assessment = assess_one(LeadIntake(channel="api", email=f"jane@{fresh('servfail')}"))
    assert assessment.quality == "valid"
    assert [r["code"] for r in assessment.reasons] == ["email_deliverability_unknown"]
    assert assessment.reasons[0]["severity"] == "info"
    assert assessment.signals["email"]["deliverability"] == dns.UNKNOWN


def test_timeout_is_unknown_and_does_not_wait_for_the_server():
    started = time.monotonic()
    assessment = assess_one(LeadIntake(channel="api", email=f"jane@{fresh('slow')}"))
    elapsed = time.monotonic() - started
    assert elapsed < 2, f"waited {elapsed:.1f} s; the timeout is 0.5 s, the server sleeps 3 s"
    assert assessment.quality == "valid"
    assert [r["code"] for r in assessment.reasons] == ["email_deliverability_unknown"]
    assert assessment.signals["email"]["deliverability"] == dns.UNKNOWN


# --- The cache and the switch.


@pytest.mark.parametrize("behaviour", ["mx", "nxdomain", "nullmx", "nomail", "servfail"])
def test_a_second_check_asks_the_server_nothing(loopback_dns, behaviour):
    domain = fresh(behaviour)
    first = check_email(f"a@{domain}", other_contact=False)
    asked = len(loopback_dns.questions)
    assert any(q.startswith(f"{domain} ") for q in loopback_dns.questions)
    second = check_email(f"b@{domain.upper()}", other_contact=False)
    assert len(loopback_dns.questions) == asked
    assert second.signals["email"]["deliverability"] == first.signals["email"]["deliverability"]


def test_the_cache_forgets_after_its_time(loopback_dns):
    domain = fresh("servfail")
    checker = dns.checker()
    checker.check(domain)
    expires, result = checker._cache[domain]
    # The cache runs on time.monotonic, which time-machine leaves alone: check the expiry it set,
    # then move it into the past.
    assert expires - time.monotonic() == pytest.approx(dns.TTL_SECONDS[dns.UNKNOWN], abs=5)
    asked = len(loopback_dns.questions)
    checker.check(domain)
    assert len(loopback_dns.questions) == asked
    checker._cache[domain] = (time.monotonic() - 1, result)
    checker.check(domain)
    assert loopback_dns.questions[asked:] == [f"{domain} MX"]


def test_dns_off_answers_unknown_without_asking(loopback_dns):
    domain = fresh("mx")
    asked = len(loopback_dns.questions)
    with override_settings(LEADLOOP_DNS="off"):
        found = check_email(f"jane@{domain}", other_contact=False)
        dns.checker().check_many({domain, fresh("mx")})
    assert len(loopback_dns.questions) == asked
    assert found.signals["email"]["deliverability"] == dns.UNKNOWN
    assert codes(found) == {"email_deliverability_unknown"}
    assert verdict_of(found.reasons) == "valid"


def test_changing_the_resolver_setting_builds_a_new_checker():
    before = dns.checker()
    with override_settings(LEADLOOP_DNS="off"):
        assert dns.checker() is not before
        assert dns.checker().enabled is False
    assert dns.checker().enabled is True


@pytest.mark.parametrize(
    ("entry", "host_and_port"),
    [
        ("10.0.0.2", ("10.0.0.2", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("localhost:53", ("localhost", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("[2001:db8::53]:", ("2001:db8::53", 53)),
        ("::1", ("::1", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
    ],
)
def test_host_and_port(entry, host_and_port):
    assert dns._host_and_port(entry) == host_and_port


def test_several_nameservers_are_all_used():
    checker = dns.DomainChecker("127.0.0.1:5353, [::1]:5354,10.0.0.2", 0.5)
    assert [(n.address, n.port) for n in checker._resolver.nameservers] == [
        ("127.0.0.1", 5353),
        ("::1", 5354),
        ("10.0.0.2", 53),
    ]


def test_check_many_waits_one_timeout_for_several_slow_domains(loopback_dns):
    slow = {fresh("slow"), fresh("slow")}
    fast = {fresh("mx"), fresh("nxdomain")}
    started = time.monotonic()
    dns.checker().check_many(slow | fast)
    elapsed = time.monotonic() - started
    timeout = dns.checker().timeout
    assert elapsed < 2 * timeout, f"{elapsed:.2f} s for two slow domains: asked one after another"
    asked = len(loopback_dns.questions)
    results = {d: dns.checker().check(d).status for d in slow | fast}
    assert len(loopback_dns.questions) == asked  # all four were cached by the batch
    assert results == {
        **dict.fromkeys(slow, dns.UNKNOWN),
        **{d: dns.DELIVERABLE if d.startswith("mx.") else dns.UNDELIVERABLE for d in fast},
    }


def test_check_many_asks_only_for_what_is_not_cached(loopback_dns):
    known = fresh("mx")
    dns.checker().check(known)
    new = fresh("mx")
    asked = len(loopback_dns.questions)
    dns.checker().check_many({known, known.upper(), new})
    assert loopback_dns.questions[asked:] == [f"{new} MX"]
