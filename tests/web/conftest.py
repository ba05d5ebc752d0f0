"""Browser tests: Debian's Chromium (installed by `make install`) driven by Playwright for Python,
against a real daphne (HTTP + WebSocket) serving the test database and the test Redis.

* ``server``: one daphne subprocess per session, pointed at the pytest-django test database;
  tests use ``transaction=True`` so the server sees their rows. The channel layer is the real
  Redis pub/sub layer, so ``tick()`` (pricing's ``price_tick_accept``) reaches the browser.
* ``page``: a fresh browser context per test that records console errors, page errors and every
  request; at teardown it asserts none went to another host and no JavaScript error happened.
* Screenshots go to ``artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.live_daphne import live_daphne

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser
# Locators wait as long as the context's actions (10 s): on a loaded 2-core CI machine a page's
# socket or first data can take longer than Playwright's 5 s default to arrive.
expect.set_options(timeout=10_000)
DAPHNE_LOGS: list[Path] = []  # the session's server log, shown under a failed browser test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test carries the tail of the server's log (its requests, WebSocket
    handshakes and warnings), so a failure on CI can be read without rerunning it."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "server" in item.fixturenames and DAPHNE_LOGS and DAPHNE_LOGS[-1].is_file():
        lines = DAPHNE_LOGS[-1].read_text(errors="replace").splitlines()
        tail = [line for line in lines if '"GET /static/' not in line][-120:]
        report.sections.append(("daphne log (last 120 lines, static files left out)", "\n".join(tail)))


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A daphne serving config.asgi on the test database; yields its base URL."""
    if not (ROOT / "static" / "vendor" / "lightweight-charts.mjs").is_file():
        pytest.fail("static/vendor/ is not built: run `make assets` (make test does it)")
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    DAPHNE_LOGS.append(log)
    with live_daphne(log, WS_PORTFOLIO_COALESCE_MS="200") as (base, _log):
        yield base


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Playwright's sync API leaves its event loop registered in the
    test thread, which trips Django's async-safety check on plain sync ORM calls (pytest-django's
    flush); the check is lifted only while the browser is up, as Playwright's docs advise."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (apt-get, as root)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageWatch:
    """What a browser context did: console errors, uncaught errors, request hosts."""

    def __init__(self, base: str):
        self.host = urlsplit(base).netloc
        self.errors: list[str] = []
        self.requests: list[str] = []

    def attach(self, context) -> None:
        context.on("request", lambda r: self.requests.append(r.url))
        context.on("response", self.on_response)
        context.on("page", self.watch_page)

    def on_response(self, response) -> None:
        # 503 is a documented answer (price_unavailable / price_stale, /readyz not ready); any
        # other 5xx is a server error the page must not cause.
        if response.status >= 500 and response.status != 503:
            self.errors.append(f"HTTP {response.status} {response.url}")

    def on_console(self, message) -> None:
        # Chromium logs every non-2xx fetch as a console error; API answers (4xx by design, 5xx
        # caught by on_response) are not JavaScript errors.
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded"):
            self.errors.append(f"console: {message.text}")

    def watch_page(self, page) -> None:
        page.on("console", self.on_console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def outside(self) -> list[str]:
        return [
            u
            for u in self.requests
            if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != self.host
        ]


@pytest.fixture
def context(browser, server, request):
    ctx = browser.new_context(base_url=server, viewport={"width": 1360, "height": 900}, accept_downloads=True)
    watch = PageWatch(server)
    watch.attach(ctx)
    ctx.watch = watch
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()
    marker = request.node.get_closest_marker("allow_errors")
    allowed = marker.args if marker else ()
    errors = [e for e in watch.errors if not any(a in e for a in allowed)]
    assert errors == [], f"JavaScript errors: {errors}"
    assert watch.outside() == [], f"requests to outside hosts: {watch.outside()}"


@pytest.fixture
def page(context):
    return context.new_page()


def shot(page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def off_loop(fn, *args, **kwargs):
    """Run ``fn`` in a worker thread: Playwright's sync API keeps an event loop in the test thread,
    where Django's ORM and ``async_to_sync`` (the channel-layer publish) refuse to run."""
    from django.db import connections

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=30)


def _tick(price: Decimal, mode: str, sources: tuple[str, ...], symbol: str) -> None:
    from pricing.aggregate import IndexPrice
    from pricing.services.ticks import price_tick_accept

    index = IndexPrice(
        price=price,
        bid=price - Decimal("0.01"),
        ask=price + Decimal("0.01"),
        sources=sources,
        dispersion=Decimal("0.0003"),
        usd_prices={s: price for s in sources},
    )
    price_tick_accept(index=index, mode=mode, computed_at=datetime.now(timezone.utc), symbol=symbol)


def tick(
    price: str | Decimal, *, mode: str = "live", sources=("pyth", "coinbase", "kraken"), symbol: str = "SOL-USD"
) -> None:
    """Accept one aggregated price of the index ``symbol`` through pricing's service: record, candle,
    price_update event, and the tick's liquidations and order triggers (bid/ask = price ∓ 0.01)."""
    off_loop(_tick, Decimal(str(price)), mode, tuple(sources), symbol)


def sign_in_with_burner(page, next_path: str = "/trade/") -> str:
    """Create a burner wallet on /signin/, sign in, land on ``next_path``; returns the address."""
    page.goto(f"/signin/?next={next_path}")
    page.get_by_role("button", name="Create burner wallet & sign in").click()
    page.wait_for_url(lambda url: urlsplit(url).path == next_path)
    ready(page)
    return page.get_by_test_id("account").get_attribute("title")


def ready(page) -> None:
    """Wait until the page's module has loaded its data (it sets body[data-ready])."""
    expect(page.locator("body")).to_have_attribute("data-ready", "1")


def api_post(page, path: str, body: dict | None = None):
    """POST to the API with the page's cookie session and CSRF token (as the page's JS does)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(f"/api/v1/{path}", data=body or {}, headers={"X-CSRFToken": token})


def positions_routes_exist() -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve("/api/v1/positions")
        return True
    except Resolver404:
        return False
