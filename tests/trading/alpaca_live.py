"""A live daphne for the Alpaca-compatibility tests: the real alpaca-py client talks HTTP and
WebSocket to it, on the pytest-django test database and the test Redis (tests use
``transaction=True`` so the server sees their rows). Prices are put in Redis by the test, the way
the pricing selector reads them (``tests.trading.helpers.set_price``)."""

from __future__ import annotations

import threading
import time

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest

from tests.live_daphne import live_daphne


@pytest.fixture(scope="module")
def alpaca_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A daphne serving config.asgi (HTTP ``/v2`` and the ``/stream`` socket); yields its base URL.
    A traceback in its log fails the module."""
    with live_daphne(tmp_path_factory.mktemp("daphne") / "daphne.log") as (base, log):
        yield base
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]


PROBE = "ready-"  # the client_order_id prefix of the readiness probes (``stream_listening``)


def stream_listening(client, stream, on_update, *, limit_price: float, timeout: float = 20.0) -> threading.Thread:
    """Run alpaca-py's ``stream`` in a thread and return it once the server relays its trade
    updates, known through the client's public API only: a far buy limit (``ready-<n>``) is
    placed and canceled until the stream brings one's ``new`` back. The probes' updates never reach
    ``on_update``; their holds are released by the cancels."""
    listening = threading.Event()

    async def relay(update) -> None:
        if (update.order.client_order_id or "").startswith(PROBE):
            if update.event == "new":
                listening.set()
            return
        await on_update(update)

    stream.subscribe_trade_updates(relay)
    runner = threading.Thread(target=stream.run, daemon=True)
    runner.start()
    deadline, n = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        probe = client.submit_order(
            LimitOrderRequest(symbol="SOL/USD", qty=0.1, limit_price=limit_price, side=OrderSide.BUY,
                              time_in_force=TimeInForce.GTC, client_order_id=f"{PROBE}{n}")
        )  # fmt: skip
        seen = listening.wait(0.5)
        client.cancel_order_by_id(probe.id)
        if seen:
            return runner
        n += 1
    stream.stop()
    pytest.fail("TradingStream never relayed a trade update")
