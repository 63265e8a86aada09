"""Real-browser fixtures: one Chromium for the session, a fresh context per test, leadloop on
pytest-django's live server (http://localhost:PORT) and a second, third-party origin on
http://127.0.0.1:PORT serving pages that embed the widget."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, expect, sync_playwright

from leadloop.crm.access import Role
from tests.browser.support import PageProblems

CHROMIUM = "/usr/bin/chromium"
BROWSER_TIMEOUT_MS = 15_000
expect.set_options(timeout=BROWSER_TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    # Playwright's sync API leaves its asyncio loop registered as running on the test thread for
    # as long as it is started, and Django then refuses every ORM call on that thread. No Django
    # code runs on that loop (the tests are plain synchronous code), so the guard is lifted
    # exactly while Playwright runs.
    unsafe = pytest.MonkeyPatch()
    unsafe.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            yield chromium
            chromium.close()
    finally:
        unsafe.undo()


# What a person's desktop Chrome sends. Playwright's own user agent says "HeadlessChrome", which
# the quality layer rightly takes for automation.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture
def page(browser: Browser):
    """A person's browser: a fresh context per test, with its own localStorage and cookies."""
    yield from _page_in(browser, DESKTOP_CHROME)


@pytest.fixture
def headless_page(browser: Browser):
    """The same browser telling the truth about being headless."""
    yield from _page_in(browser, None)


def _page_in(browser: Browser, user_agent: str | None):
    context = browser.new_context(viewport={"width": 960, "height": 760}, user_agent=user_agent)
    # Generous for a loaded CI machine; a passing step takes a fraction of it.
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    page = context.new_page()
    page.problems = PageProblems(page)
    yield page
    problems = page.problems
    context.close()
    assert not problems.errors, f"uncaught errors in the page: {problems.errors}"
    assert not problems.dialogs, f"the page opened dialogs: {problems.dialogs}"


class ThirdPartySite:
    """Pages of somebody else's website, each kept in memory and served at its path."""

    def __init__(self, server: ThreadingHTTPServer):
        self.server = server
        host, port = server.server_address[:2]
        self.origin = f"http://{host}:{port}"
        self.pages: dict[str, str] = {}

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path


def _handler(site: "ThirdPartySite"):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.pages.get(urlsplit(self.path).path)
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def third_party_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    site = ThirdPartySite(server)
    server.RequestHandlerClass = _handler(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ margin: 0; font: 17px/1.6 Georgia, serif; color: #222; background: #faf8f3; }}
  header {{ background: #0f5132; color: #fff; padding: 1rem 2rem; font: 600 20px/1.2 sans-serif; }}
  main {{ display: grid; grid-template-columns: 1fr 30rem; gap: 2rem; padding: 2rem; }}
  @media (max-width: 900px) {{ main {{ grid-template-columns: 1fr; }} }}
  button {{ background: hotpink; }}
</style></head>
<body>
<header>Sparkle &amp; Shine: cleaning tips</header>
<main>
  <article>
    <h1>Five habits of homes that stay clean</h1>
    <p>A tidy home is less about big weekend efforts and more about small daily routines.
    Wipe the kitchen counters after dinner, keep a basket for clutter by the door, and run
    the vacuum over the busiest floors twice a week.</p>
    <p>When the job is bigger than a routine, a professional deep clean resets the house so
    the habits can keep it that way.</p>
    {spacer}
  </article>
  <aside id="quote"></aside>
</main>
{script}
</body></html>"""


@pytest.fixture
def embed(live_server, third_party_site):
    """Put the widget on a third-party page; returns the page's URL (query string included)."""
    counter = iter(range(1_000_000))

    def make(slug: str, query: str = "", *, title: str = "Cleaning tips", spacer: str = "", **data):
        attributes = "".join(
            f' data-{key.replace("_", "-")}="{value}"' for key, value in data.items()
        )
        script = (
            f'<script src="{live_server.url}/widget.js" data-form="{slug}"{attributes}></script>'
        )
        path = f"/blog-{next(counter)}.html"
        url = third_party_site.add(
            path, HOST_PAGE.format(title=title, spacer=spacer, script=script)
        )
        return f"{url}?{query}" if query else url

    return make


@pytest.fixture
def signed_in(live_server, client):
    """Sign `user` in to a browser page: the session Django's test client opens for them,
    handed to the browser as its cookie (the login form has its own test)."""

    def sign_in(page, user) -> None:
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
        )

    return sign_in


@pytest.fixture
def rita(transactional_db):
    """A sales rep (the live server's database is emptied after each test, its groups too)."""
    group, _ = Group.objects.get_or_create(name=Role.REP)
    user = get_user_model().objects.create_user(
        "rita", "rita@team.example", "pw-rita-2026", first_name="Rita", last_name="Ramos"
    )
    user.groups.add(group)
    return user
