"""Pricing fixtures: recorded payloads and a local HTTP server that serves them."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from pricing.seed_data import TOKENS

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


# Every seeded token priced like SOL times (its synthetic start / SOL's): the recorded SOL payloads
# answer for every instrument asked, each entry a copy of SOL's in the same format, scaled.
SOL_START = Decimal(next(t for t in TOKENS if t["code"] == "SOL")["synthetic_start"])
ID_FIELDS = {"pyth": "pyth_feed_id", "jupiter": "jupiter_id", "backpack": "backpack_symbol",
             "coinbase": "coinbase_product", "kraken": "kraken_pair", "binance": "binance_symbol"}  # fmt: skip
FACTORS = {
    source: {str(t[f]): Decimal(str(t["synthetic_start"])) / SOL_START for t in TOKENS if t[f]}
    for source, f in ID_FIELDS.items()
}
SOL_IDS = {source: str(next(t for t in TOKENS if t["code"] == "SOL")[f]) for source, f in ID_FIELDS.items()}


def _scale(raw, factor: Decimal) -> str:
    value = Decimal(str(raw)) * factor
    return format(value.quantize(Decimal("1e-8") if value >= 1 else Decimal("1e-12")), "f")


def _scaled_pyth(entry: dict, feed: str, factor: Decimal) -> dict:
    clone = copy.deepcopy(entry)
    clone["id"] = feed
    for block in (clone["price"], clone["ema_price"]):
        expo = block["expo"]
        price = Decimal(block["price"]).scaleb(expo) * factor
        conf = Decimal(block["conf"]).scaleb(expo) * factor
        block["expo"] = -8 if price >= 1 else -12
        block["price"] = str(int(price.scaleb(-block["expo"])))
        block["conf"] = str(int(conf.scaleb(-block["expo"])))
    return clone


def _clone(source: str, entry: dict, instrument: str) -> dict:
    """SOL's entry (of ``source``'s recorded format) as ``instrument``'s, its prices scaled."""
    f = FACTORS[source][instrument]
    if source == "pyth":
        return _scaled_pyth(entry, instrument, f)
    clone = copy.deepcopy(entry)
    keys = {"jupiter": ["usdPrice"], "backpack": ["lastPrice", "firstPrice", "high", "low"],
            "coinbase": ["bid", "ask", "price"], "binance": ["bidPrice", "askPrice"]}.get(source, [])  # fmt: skip
    for key in keys:
        if key in clone:
            clone[key] = float(_scale(clone[key], f)) if source == "jupiter" else _scale(clone[key], f)
    if source == "kraken":
        for key in ("a", "b", "c"):
            clone[key][0] = _scale(clone[key][0], f)
    if "symbol" in clone:
        clone["symbol"] = instrument
    return clone


def _expand(source: str, payload, original: dict, path: str, params: list[tuple[str, str]]):
    """The recorded (maybe mutated) SOL payload answering the request for every instrument asked."""
    query = dict(params)
    sol = SOL_IDS[source]
    known = FACTORS[source]
    if source == "pyth":
        asked = [v for k, v in params if k == "ids[]"]
        have = {e.get("id") for e in payload.get("parsed", []) if isinstance(e, dict)}
        sol_entry = next(e for e in original["parsed"] if e["id"] == sol)
        extra = [_clone(source, sol_entry, f) for f in asked if f in known and f not in have and f != sol]
        if isinstance(payload.get("parsed"), list):
            payload["parsed"].extend(extra)
        return payload
    if source == "jupiter":
        asked = query.get("ids", "").split(",")
        return {**{m: _clone(source, original[sol], m) for m in asked if m in known and m != sol}, **payload}
    if source == "kraken":
        asked = query.get("pair", "").split(",")
        if isinstance(payload.get("result"), dict):
            entry = original["result"]["SOLUSD"]
            payload["result"].update({p: _clone(source, entry, p) for p in asked if p in known and p != sol})
        return payload
    if source == "coinbase":
        product = path.split("/")[2]
        return payload if product == sol else (_clone(source, original, product) if product in known else None)
    if source == "backpack" and path.endswith("/tickers"):
        return [payload, *(_clone(source, original, s) for s in known if s != sol)]
    if source == "backpack":
        wanted = query.get("symbol", sol)
        return payload if wanted == sol else (_clone(source, original, wanted) if wanted in known else None)
    if "symbols" in query:  # binance
        asked = json.loads(query["symbols"])
        if any(s not in known for s in asked):
            return None
        return [payload if s == sol else _clone(source, original, s) for s in asked]
    wanted = query.get("symbol", sol)
    return payload if wanted == sol else (_clone(source, original, wanted) if wanted in known else None)


def recorded_route(source: str, mutate: Callable[[dict], object] | None = None, *, fresh: bool = False) -> Route:
    """The recorded SOL payload changed by ``mutate`` (in place, or raw bytes for the whole body),
    answering every instrument the request asks for (other tokens: SOL's entry scaled); with
    ``fresh`` its source timestamps are moved to the current time first (real-clock runs)."""

    def route(path: str = PATHS[source], params: list | None = None):
        payload = fixture_json(RECORDED[source])
        if fresh:
            _refresh(source, payload)
        original = copy.deepcopy(payload)
        body = mutate(payload) if mutate else None
        if isinstance(body, bytes):
            return 200, {"Content-Type": "application/json"}, body
        answer = _expand(source, payload, original, path, params or [])
        if answer is None:
            notfound = {"binance": b'{"code":-1121,"msg":"Invalid symbol."}', "coinbase": b'{"message":"NotFound"}'}
            return 400 if source == "binance" else 404, {}, notfound.get(source, b"unknown")
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    route.multi = True  # type: ignore[attr-defined]
    return route


def _refresh(source: str, payload: dict) -> None:
    now = datetime.now(timezone.utc)
    if source == "pyth":
        for entry in payload["parsed"]:
            entry["price"]["publish_time"] = int(now.timestamp())
            entry["ema_price"]["publish_time"] = int(now.timestamp())
    if source == "coinbase":
        payload["time"] = now.isoformat().replace("+00:00", "Z")


def fresh_route(source: str, mutate: Callable[[dict], object] | None = None) -> Route:
    """The recorded payload with its source timestamp moved to the current time (for real-clock
    runs), then changed by ``mutate`` if given (as in ``mutated_route``); every token answered."""
    return recorded_route(source, mutate, fresh=True)


def mutated_route(source: str, mutate: Callable[[dict], object]) -> Route:
    """The recorded payload changed by ``mutate`` (which edits it in place, or returns raw bytes)."""
    return recorded_route(source, mutate)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        parts = urlsplit(self.path)
        self.server.hits.append((parts.path, parse_qsl(parts.query), dict(self.headers)))
        key = parts.path
        if key.startswith("/products/") and key.endswith("/ticker") and key not in self.server.routes:
            key = "/products/{id}/ticker"
        route = self.server.routes.get(key)
        if route is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"no such route"
        elif getattr(route, "multi", False):
            status, headers, body = route(parts.path, parse_qsl(parts.query))
        else:
            status, headers, body = route()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - http.server API (Hyperliquid's /info)
        length = int(self.headers.get("Content-Length") or 0)
        self.server.posts.append((urlsplit(self.path).path, self.rfile.read(length)))
        self.do_GET()

    def log_message(self, *args):
        pass


class PriceServer:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes = {}
        self.httpd.hits = []
        self.httpd.posts = []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    @property
    def hits(self) -> list:
        return self.httpd.hits

    def serve(self, source: str, route: Route) -> None:
        """``route`` answers ``source``'s requests (every Coinbase product, both Backpack endpoints)."""
        if source == "coinbase":
            self.routes.pop(PATHS[source], None)
            self.routes["/products/{id}/ticker"] = route
        elif source == "backpack":
            self.routes[PATHS[source]] = route
            self.routes["/api/v1/tickers"] = route
        else:
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
    """Every source answers its recorded payload, unchanged (use with FROZEN_NOW), for every
    token asked (SOL's entry as recorded; the others a scaled copy of it)."""
    for source in RECORDED:
        price_server.serve(source, recorded_route(source))
    return price_server


@pytest.fixture
def live_server_fresh(price_server):
    """Every source answers its recorded payload with timestamps moved to now (real clock)."""
    for source in RECORDED:
        price_server.serve(source, fresh_route(source))
    return price_server


# The venues' perp market data (pricing.perp_sources): path and constructed SOL payload of each.
PERP_PATHS = {"backpack": "/api/v1/markPrices", "binance": "/fapi/v1/premiumIndex", "hyperliquid": "/info"}
PERP_RECORDED = {
    "backpack": "backpack_mark_prices_sol_constructed.json",
    "binance": "binance_premium_index_sol_constructed.json",
    "hyperliquid": "hyperliquid_meta_and_asset_ctxs_sol_constructed.json",
}


@pytest.fixture
def perp_server(price_server, settings):
    """The three venues' perp endpoints on the local server, each answering its constructed SOL
    payload (Backpack 79.12, Binance 79.10, Hyperliquid 79.14 around the 79.085 index)."""
    settings.BINANCE_FUTURES_API_URL = price_server.url
    settings.HYPERLIQUID_API_URL = price_server.url
    settings.PERP_VENUES = list(PERP_PATHS)
    for venue, path in PERP_PATHS.items():
        price_server.routes[path] = json_route(PERP_RECORDED[venue])
    price_server.routes["/fapi/v1/fundingInfo"] = json_route("binance_funding_info_docs.json")  # SOLUSDT: 8 h
    return price_server
