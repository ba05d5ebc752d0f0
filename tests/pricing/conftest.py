"""Pricing fixtures: recorded payloads and a local HTTP server that serves them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# 2026-02-06T00:00:00Z: ten seconds after the constructed payloads' publish/trade times.
FROZEN_NOW = datetime(2026, 2, 6, 0, 0, 0, tzinfo=timezone.utc)

Route = Callable[[], tuple[int, dict[str, str], bytes]]

SOURCE_URL_SETTINGS = (
    "PYTH_HERMES_URL",
    "JUPITER_PRICE_URL",
    "BACKPACK_API_URL",
    "COINBASE_API_URL",
    "KRAKEN_API_URL",
    "BINANCE_API_URL",
)
PATHS = {
    "pyth": "/v2/updates/price/latest",
    "jupiter": "/price/v3",
    "backpack": "/api/v1/ticker",
    "coinbase": "/products/SOL-USD/ticker",
    "kraken": "/0/public/Ticker",
    "binance": "/api/v3/ticker/bookTicker",
}
RECORDED = {
    "pyth": "pyth_hermes_v2_latest_sol_constructed.json",
    "jupiter": "jupiter_price_v3_docs.json",
    "backpack": "backpack_rest_ticker_sol_usdc_constructed.json",
    "coinbase": "coinbase_exchange_product_ticker_sol_usd_constructed.json",
    "kraken": "kraken_ticker_solusd_constructed.json",
    "binance": "binance_ticker_bookticker_solusdt_constructed.json",
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


def json_route(name: str, *, status: int = 200, headers: dict[str, str] | None = None) -> Route:
    body = fixture_bytes(name)
    return lambda: (status, {"Content-Type": "application/json", **(headers or {})}, body)


def fresh_route(source: str, mutate: Callable[[dict], object] | None = None) -> Route:
    """The recorded payload with its source timestamp moved to the current time (for real-clock
    runs), then changed by ``mutate`` if given (as in ``mutated_route``)."""

    def route():
        payload = fixture_json(RECORDED[source])
        now = datetime.now(timezone.utc)
        if source == "pyth":
            for entry in payload["parsed"]:
                entry["price"]["publish_time"] = int(now.timestamp())
                entry["ema_price"]["publish_time"] = int(now.timestamp())
        if source == "coinbase":
            payload["time"] = now.isoformat().replace("+00:00", "Z")
        body = mutate(payload) if mutate else None
        raw = body if isinstance(body, bytes) else json.dumps(payload).encode()
        return 200, {"Content-Type": "application/json"}, raw

    return route


def mutated_route(source: str, mutate: Callable[[dict], object]) -> Route:
    """The recorded payload changed by ``mutate`` (which edits it in place, or returns raw bytes)."""

    def route():
        payload = fixture_json(RECORDED[source])
        body = mutate(payload)
        raw = body if isinstance(body, bytes) else json.dumps(payload).encode()
        return 200, {"Content-Type": "application/json"}, raw

    return route


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        parts = urlsplit(self.path)
        self.server.hits.append((parts.path, parse_qsl(parts.query), dict(self.headers)))
        route = self.server.routes.get(parts.path)
        if route is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"no such route"
        else:
            status, headers, body = route()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class PriceServer:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes = {}
        self.httpd.hits = []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    @property
    def hits(self) -> list:
        return self.httpd.hits

    def serve(self, source: str, route: Route) -> None:
        self.routes[PATHS[source]] = route


@pytest.fixture
def price_server(settings):
    """A local HTTP server; every source base URL points at it. Routes start empty (404)."""
    server = PriceServer()
    server.thread.start()
    for name in SOURCE_URL_SETTINGS:
        setattr(settings, name, server.url)
    settings.PRICE_MODE = "live"
    settings.PRICE_SOURCES = list(PATHS)
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def recorded_server(price_server):
    """Every source answers its recorded payload, unchanged (use with FROZEN_NOW)."""
    for source, name in RECORDED.items():
        price_server.serve(source, json_route(name))
    return price_server


@pytest.fixture
def live_server_fresh(price_server):
    """Every source answers its recorded payload with timestamps moved to now (real clock)."""
    for source in RECORDED:
        price_server.serve(source, fresh_route(source))
    return price_server
