"""Which web origins may embed a form: its allowed domains, `*.example.com` covering subdomains."""

from urllib.parse import urlsplit

from django.core.cache import cache

ALLOWED_DOMAINS_CACHE_KEY = "capture:allowed-domains"
ALLOWED_DOMAINS_CACHE_SECONDS = 60


def forget_allowed_domains() -> None:
    cache.delete(ALLOWED_DOMAINS_CACHE_KEY)


def host_of(origin: str) -> str:
    parts = urlsplit(origin)
    return (parts.netloc or "").lower()


def origin_allowed(origin: str, allowed_domains: list[str]) -> bool:
    """`allowed_domains` entries are host or host:port; a bare host also admits any port."""
    host = host_of(origin)
    if not host:
        return False
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    for entry in (d.strip().lower() for d in allowed_domains):
        if entry == "*" or entry in {host, hostname}:
            return True
        if entry.startswith("*.") and (hostname.endswith(entry[1:]) or hostname == entry[2:]):
            return True
    return False
