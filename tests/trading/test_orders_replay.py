"""A real SOL price path (../shared/data/SOLUSDT_1h.csv) replayed tick by tick through pricing's
hook (liquidations, stops, resting limits): exactly the resting orders whose prices the path
crosses fill, each on its first crossing tick -- a limit at its own price (maker), a stop at that
tick's slipped price (taker) -- and the others still rest, holding what they held."""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from django.conf import settings

from pricing.offline import load_ohlc_csv
from tests.conftest import SHARED
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from tests.trading.order_helpers import tick
from tests.trading.test_positions_replay import _most_volatile_window, _ticks
from trading.execution import MarketRules, plan_market_order
from trading.limits import stop_crossed
from trading.models import Fill, Order, OrderStatus
from trading.services.limit_orders import limit_order_place
from trading.services.orders import order_place, slippage_model
from trading.services.stop_orders import stop_order_place

pytestmark = pytest.mark.django_db
QTY = D("5")
OFFSETS = ["0.80", "0.88", "0.94", "0.98", "1.02", "1.06", "1.12", "1.20"]
RULES = MarketRules(min_qty=D("0.001"), qty_step=D("0.001"), min_notional=D("1"), max_notional=D("1000000"),
                    price_tick=D("0.000001"), asset="SOL")  # fmt: skip


def _cents(price: D) -> D:
    return price.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def _place_book(start: D) -> dict[str, tuple[str, str, D]]:
    """Per offset of the start price, one trader: a limit on the side where it rests and a stop on
    the side where it waits (a buy limit below the start, a sell above; mirrored for stops) -- 16
    orders over 8 traders. ``{order id: (type, side, price)}``."""
    book: dict[str, tuple[str, str, D]] = {}
    for n, offset in enumerate(OFFSETS):
        user, price = make_user(), _cents(start * D(offset))
        order_place(user=user, client_order_id="seed", symbol="SOL-USD", side="buy", type="market", qty=D("10"))
        below = price < start
        limit_side, stop_side = ("buy", "sell") if below else ("sell", "buy")
        limit = limit_order_place(user=user, client_order_id=f"l{n}", symbol="SOL-USD", side=limit_side,
                                  qty=QTY, limit_price=price).order  # fmt: skip
        stop = stop_order_place(user=user, client_order_id=f"s{n}", symbol="SOL-USD", side=stop_side, type="stop",
                                qty=QTY, stop_price=price).order  # fmt: skip
        assert limit.status == stop.status == OrderStatus.NEW
        book[str(limit.pk)] = ("limit", limit_side, price)
        book[str(stop.pk)] = ("stop", stop_side, price)
    return book


def _first_crossing(kind: str, side: str, price: D, ticks: list[D]) -> int | None:
    for index, at in enumerate(ticks[1:], start=1):
        if kind == "limit" and (at <= price if side == "buy" else at >= price):
            return index
        if kind == "stop" and stop_crossed(side, stop_price=price, index=at):
            return index
    return None


def test_replay_fills_exactly_the_crossed_orders_on_their_first_crossing_tick():
    ticks = _ticks(_most_volatile_window(load_ohlc_csv(SHARED / "data" / "SOLUSDT_1h.csv")))
    set_price(ticks[0])
    book = _place_book(ticks[0])
    expected = {oid: _first_crossing(*terms, ticks) for oid, terms in book.items()}
    crossed = {oid: index for oid, index in expected.items() if index is not None}
    assert 0 < len(crossed) < len(book), "the window should cross some orders but not all"

    seen: dict[str, int] = {}
    for index, price in enumerate(ticks[1:], start=1):
        tick(str(price))
        for oid in Order.objects.filter(status=OrderStatus.FILLED, pk__in=list(book)).values_list("pk", flat=True):
            seen.setdefault(str(oid), index)
    assert seen == crossed
    for oid, index in crossed.items():
        kind, side, price = book[oid]
        fill = Fill.objects.get(order_id=oid)
        if kind == "limit":
            assert (fill.price, fill.liquidity) == (price, "maker")
        else:
            plan = plan_market_order(side=side, index_price=ticks[index], qty=QTY, notional=None, rules=RULES,
                                     model=slippage_model(), fee_bps=settings.TRADING_FEE_BPS)  # fmt: skip
            assert (fill.price, fill.liquidity) == (plan.price, "taker")
    resting = Order.objects.filter(pk__in=[oid for oid in book if oid not in crossed])
    assert all(order.status == OrderStatus.NEW and order.held > 0 for order in resting)
    assert_books_ok()
