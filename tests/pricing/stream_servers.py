"""Local stand-ins for the venues' streams: a WebSocket server per venue and Pyth Hermes' SSE
stream, replaying the recorded frames' formats (tests/pricing/fixtures) at a price the test sets,
then misbehaving on demand: ``drop()`` the connections, ``mode = "silent" | "malformed" |
"refuse"``. Each runs on its own thread (its own asyncio loop for WebSocket)."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import serve

from tests.pricing.conftest import FACTORS, fixture_json, fresh_route

HALF_SPREAD = Decimal("0.0001")
MARK_PREMIUM = Decimal("1.0005")  # Backpack's streamed perp marks: 5 bp over the index


class PriceBoard:
    """SOL's price (the others scaled by their seed ratio, as the REST fixtures do)."""

    def __init__(self, sol: Decimal = Decimal("79.08")) -> None:
        self.sol = sol

    def price(self, source: str, instrument: str) -> Decimal:
        return (self.sol * FACTORS[source][instrument]).quantize(Decimal("1e-8") if self.sol >= 1 else Decimal("1e-12"))


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f")


class Venue:
    """One venue's frames: the ids a subscribe frame asks for, the acks, a tick, a refusal."""

    def __init__(self, name: str) -> None:
        self.name = name

    def ids(self, subscribe: dict) -> list[str]:
        if self.name == "backpack":
            return [p.split(".", 1)[1] for p in subscribe["params"]]
        if self.name == "binance":
            return [p.split("@")[0].upper() for p in subscribe["params"]]
        if self.name == "coinbase":
            return list(subscribe["product_ids"])
        return [s.replace("/", "") for s in subscribe["params"]["symbol"]]

    def acks(self, ids: list[str]) -> list[dict]:
        if self.name == "binance":
            return [fixture_json("binance_ws_subscribe_ack_docs.json")]
        if self.name == "coinbase":
            return [fixture_json("coinbase_ws_subscriptions_constructed.json")]
        if self.name == "kraken":
            ack = fixture_json("kraken_ws_v2_subscribe_ack_constructed.json")
            return [{**ack, "result": {**ack["result"], "symbol": f"{i[:-3]}/{i[-3:]}"}} for i in ids]
        return []  # Backpack does not acknowledge

    def refusal(self) -> dict:
        return fixture_json({"backpack": "backpack_ws_error_constructed.json",
                             "binance": "binance_ws_error_constructed.json",
                             "coinbase": "coinbase_ws_error_constructed.json",
                             "kraken": "kraken_ws_v2_subscribe_error_constructed.json"}[self.name])  # fmt: skip

    def tick(self, instrument: str, price: Decimal) -> dict:
        bid, ask = price * (1 - HALF_SPREAD), price * (1 + HALF_SPREAD)
        if self.name == "backpack" and instrument.endswith("_PERP"):  # a perp's mark, a premium over its index
            frame = fixture_json("backpack_ws_mark_price_sol_constructed.json")
            frame["stream"] = f"markPrice.{instrument}"
            mark = (price * MARK_PREMIUM).quantize(Decimal("1e-8"))
            frame["data"].update(s=instrument, p=_s(mark), i=_s(price), E=int(time.time() * 1_000_000))
            return frame
        if self.name == "backpack":
            frame = fixture_json("backpack_ws_bookticker_docs.json")
            frame["stream"] = f"bookTicker.{instrument}"
            frame["data"].update(s=instrument, b=_s(bid), a=_s(ask), E=int(time.time() * 1_000_000))
            return frame
        if self.name == "binance":
            return {**fixture_json("binance_ws_bookticker_docs.json"), "s": instrument, "b": _s(bid), "a": _s(ask)}
        if self.name == "coinbase":
            frame = fixture_json("coinbase_ws_ticker_docs.json")
            now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"
            frame.update(product_id=instrument, best_bid=_s(bid), best_ask=_s(ask), price=_s(price), time=now)
            return frame
        frame = fixture_json("kraken_ws_v2_ticker_sol_constructed.json")
        frame["type"] = "update"
        frame["data"][0].update(symbol=f"{instrument[:-3]}/{instrument[-3:]}", bid=bid, ask=ask, last=price)
        return frame


def encode(frame: dict) -> str:
    """JSON with Decimals written as exact numbers (Kraken's numeric fields)."""

    def walk(value):
        if isinstance(value, Decimal):
            return _Num(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(frame), default=str)
    return text.replace('"__num__', "").replace('__num__"', "")


class _Num(str):
    def __new__(cls, value: Decimal):
        return super().__new__(cls, f"__num__{_s(value)}__num__")


class WsVenueServer:
    def __init__(self, name: str, board: PriceBoard, *, interval: float = 0.1) -> None:
        self.venue = Venue(name)
        self.board = board
        self.interval = interval
        self.mode = "normal"
        self.subscribes: list[dict] = []
        self.sent = 0
        self.connections: set = set()
        self.loop = asyncio.new_event_loop()
        self.push = asyncio.Event()
        self.sent_at: dict[Decimal, float] = {}  # SOL price -> perf_counter of its first frame
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self.stopped = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopped.wait()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> WsVenueServer:
        self.thread.start()
        self.ready.wait(5)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(5)

    def drop(self) -> None:
        """Cut every open connection without a closing handshake."""
        self.loop.call_soon_threadsafe(lambda: [ws.transport.abort() for ws in list(self.connections)])

    def push_now(self) -> None:
        self.loop.call_soon_threadsafe(self.push.set)

    async def _handler(self, ws) -> None:
        self.connections.add(ws)
        try:
            subscribe = json.loads(await ws.recv())
            self.subscribes.append(subscribe)
            if self.mode == "refuse":
                await ws.send(json.dumps(self.venue.refusal()))
                await ws.wait_closed()
                return
            ids = self.venue.ids(subscribe)
            for ack in self.venue.acks(ids):
                await ws.send(json.dumps(ack))
            while True:
                await self._send_round(ws, ids)
                try:
                    await asyncio.wait_for(self.push.wait(), self.interval)
                    self.push.clear()
                except TimeoutError:
                    pass
        except Exception:  # the client went away or the test dropped it
            return
        finally:
            self.connections.discard(ws)

    async def _send_round(self, ws, ids: list[str]) -> None:
        if self.mode == "silent":
            return
        if self.mode == "malformed":
            await ws.send('{"stream": "bookTicker.SOL_USDC", "data": {"b": ')
            return
        sol = self.board.sol
        self.sent_at.setdefault(sol, time.perf_counter())
        for instrument in ids:
            spot = instrument.removesuffix("_PERP") if self.venue.name == "backpack" else instrument
            if spot not in FACTORS[self.venue.name]:
                continue  # a perp whose token the venue does not quote spot here
            await ws.send(encode(self.venue.tick(instrument, self.board.price(self.venue.name, spot))))
            self.sent += 1


def pyth_event(board: PriceBoard, feeds: list[str]) -> dict:
    """One Hermes stream event (the constructed SOL ``/latest`` payload's shape) for ``feeds``."""
    base = fixture_json("pyth_hermes_v2_latest_sol_constructed.json")
    template = base["parsed"][0]
    now = int(time.time())
    parsed = []
    for feed in feeds:
        if feed not in FACTORS["pyth"]:
            continue
        price = board.price("pyth", feed)
        expo = -8 if price >= 1 else -12
        entry = copy.deepcopy(template)
        entry["id"] = feed
        for block in (entry["price"], entry["ema_price"]):
            block.update(price=str(int(price.scaleb(-expo))), conf=str(int((price / 4000).scaleb(-expo))))
            block.update(expo=expo, publish_time=now)
        parsed.append(entry)
    return {"binary": base["binary"], "parsed": parsed}


class _SseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server API
        parts = urlsplit(self.path)
        owner: SseServer = self.server.owner  # type: ignore[attr-defined]
        query = parse_qsl(parts.query)
        if parts.path == "/v2/updates/price/latest":
            if not owner.polls_answer:
                self._reply(503, b"unavailable", "text/plain")
                return
            status, headers, body = fresh_route("pyth")(parts.path, query)
            owner.polls += 1
            self._reply(status, body, headers.get("Content-Type", "application/json"))
            return
        feeds = [v for k, v in query if k == "ids[]"]
        if owner.mode == "refuse":
            self._reply(404, b"Price ids not found: " + feeds[0].encode(), "text/plain")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        generation = owner.generation
        try:
            while not owner.stopping and generation == owner.generation:
                if owner.mode == "normal":
                    self.wfile.write(b"data:" + json.dumps(pyth_event(owner.board, feeds)).encode() + b"\n\n")
                    owner.sent += 1
                elif owner.mode == "malformed":
                    self.wfile.write(b'data:{"parsed": [{"id": 12\n\n')
                self.wfile.flush()
                owner.wake.wait(owner.interval)
                owner.wake.clear()
        except OSError:
            return
        self.close_connection = True

    def _reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class SseServer:
    """Pyth Hermes: the event stream and, for the fallback poller, ``/v2/updates/price/latest``."""

    def __init__(self, board: PriceBoard, *, interval: float = 0.1) -> None:
        self.board = board
        self.interval = interval
        self.mode = "normal"
        self.sent = 0
        self.polls = 0
        self.polls_answer = True  # the fallback's /latest answers (else 503)
        self.generation = 0
        self.stopping = False
        self.wake = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SseHandler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> SseServer:
        self.thread.start()
        return self

    def drop(self) -> None:
        self.generation += 1
        self.wake.set()

    def push_now(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.httpd.shutdown()
        self.httpd.server_close()
