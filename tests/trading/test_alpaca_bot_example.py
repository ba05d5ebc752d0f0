"""examples/alpaca_bot.py (alpaca-py, unchanged but for the URLs) trades against a live server:
its market buy, its grid limits, a limit filled by a tick and answered on the stream, the cancel
and the close at the end; the books reconcile."""

from __future__ import annotations

import importlib.util
import threading
from decimal import Decimal as D
from pathlib import Path

import pytest

from tests.accounts.helpers import create_api_key
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.alpaca_live import alpaca_server  # noqa: F401  (the fixture)
from tests.trading.helpers import set_price
from tests.trading.order_helpers import tick
from trading.models import Order

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alpaca_bot.py"


def load_example():
    spec = importlib.util.spec_from_file_location("alpaca_bot", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_grid_bot_trades_through_alpaca_py(alpaca_server, capsys):  # noqa: F811
    set_price(D("150"))
    user = make_user()
    key_id, secret = create_api_key(user)
    bot = load_example()
    # while the bot listens, the index falls through its buy limit (150 * 0.99 = 148.5 and below)
    timer = threading.Timer(5, tick, args=("148",))
    timer.start()
    try:
        code = bot.main(["--url", alpaca_server, "--key", key_id, "--secret", secret, "--qty", "0.5",
                         "--seconds", "6", "--flatten"])  # fmt: skip
    finally:
        timer.cancel()
    out = capsys.readouterr().out
    assert code == 0
    assert "bought 0.5 SOL" in out and "trade update: fill buy SOL/USD" in out, out
    assert "grid fills: 1" in out, out
    statuses = sorted(Order.objects.filter(user=user).values_list("type", "side", "status"))
    assert ("limit", "buy", "filled") in statuses and ("market", "buy", "filled") in statuses
    assert ("market", "sell", "filled") in statuses  # --flatten
    assert not Order.objects.filter(user=user, status="new").exists()
    assert_books_ok()
