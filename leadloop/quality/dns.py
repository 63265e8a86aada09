"""Does an email domain take mail? MX, falling back to A/AAAA, asked with a short timeout and
remembered. A failure to ask is "unknown", never a rejection: the person may be fine."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings

DELIVERABLE, UNDELIVERABLE, UNKNOWN = "deliverable", "undeliverable", "unknown"
# How long an answer is trusted: a domain that exists rarely stops; one that failed to answer
# is asked again soon.
TTL_SECONDS = {DELIVERABLE: 6 * 3600, UNDELIVERABLE: 3600, UNKNOWN: 60}
CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class DomainCheck:
    status: str
    detail: str = ""


class DomainChecker:
    """A resolver with its own cache. `nameservers` "system" uses /etc/resolv.conf, "off" asks
    nobody, otherwise "host[:port],…"."""

    def __init__(self, nameservers: str, timeout: float):
        self.enabled = nameservers != "off"
        self.timeout = timeout
        self._resolver = self._make_resolver(nameservers) if self.enabled else None
        self._cache: dict[str, tuple[float, DomainCheck]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _make_resolver(nameservers: str) -> dns.resolver.Resolver:
        if nameservers == "system":
            return dns.resolver.Resolver()
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*_host_and_port(entry.strip()))
            for entry in nameservers.split(",")
        ]
        return resolver

    def check(self, domain: str) -> DomainCheck:
        if not self.enabled:
            return DomainCheck(UNKNOWN, "DNS checks are off")
        domain = domain.lower().rstrip(".")
        now = time.monotonic()
        cached = self._cache.get(domain)
        if cached and cached[0] > now:
            return cached[1]
        result = self._ask(domain)
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[domain] = (now + TTL_SECONDS[result.status], result)
        return result

    def check_many(self, domains: set[str]) -> None:
        """Ask for several domains at once, so a batch waits one timeout at most, not one each."""
        if not self.enabled:
            return
        now = time.monotonic()
        missing = [d for d in domains if (c := self._cache.get(d.lower())) is None or c[0] <= now]
        if len(missing) == 1:
            self.check(missing[0])
        elif missing:
            with ThreadPoolExecutor(max_workers=min(16, len(missing))) as pool:
                list(pool.map(self.check, missing))

    def _ask(self, domain: str) -> DomainCheck:
        try:
            mx = self._resolve(domain, "MX")
        except dns.resolver.NXDOMAIN:
            return DomainCheck(UNDELIVERABLE, "the domain does not exist")
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout):
            return DomainCheck(UNKNOWN, "the DNS lookup timed out or failed")
        except dns.resolver.NoAnswer:
            mx = None
        except dns.exception.DNSException as error:
            return DomainCheck(UNKNOWN, f"the DNS lookup failed: {error.__class__.__name__}")
        if mx is not None:
            hosts = {str(record.exchange).rstrip(".") for record in mx}
            if hosts == {""}:  # RFC 7505 null MX: "this domain takes no mail"
                return DomainCheck(UNDELIVERABLE, "the domain says it takes no mail")
            return DomainCheck(DELIVERABLE, "MX")
        return self._ask_address(domain)

    def _ask_address(self, domain: str) -> DomainCheck:
        for record_type in ("A", "AAAA"):
            try:
                self._resolve(domain, record_type)
                return DomainCheck(DELIVERABLE, record_type)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException:
                return DomainCheck(UNKNOWN, "the DNS lookup timed out or failed")
        return DomainCheck(UNDELIVERABLE, "the domain has no mail server and no address")

    def _resolve(self, domain: str, record_type: str) -> dns.resolver.Answer:
        return self._resolver.resolve(
            domain, record_type, lifetime=self.timeout, search=False, raise_on_no_answer=True
        )


def _host_and_port(entry: str) -> tuple[str, int]:
    """ "10.0.0.2", "127.0.0.1:5353" or "[::1]:5353"."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, 53


_checker: DomainChecker | None = None
_checker_config: tuple | None = None


def checker() -> DomainChecker:
    """The process's checker for the configured resolver (rebuilt when the settings change)."""
    global _checker, _checker_config
    config = (settings.LEADLOOP_DNS, settings.LEADLOOP_DNS_TIMEOUT_MS)
    if _checker is None or config != _checker_config:
        _checker = DomainChecker(config[0], config[1] / 1000)
        _checker_config = config
    return _checker
