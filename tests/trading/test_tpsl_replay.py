"""A real SOL price path (../shared/data/SOLUSDT_1h.csv) replayed tick by tick through pricing's
hook (TP/SL, then liquidations): a stop-loss set between the entry and the liquidation price
closes its position on its first crossing tick -- before the liquidation it protects against,
even on a tick that crosses both -- while the same position without one is liquidated; a
take-profit closes on its first crossing tick."""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from pricing.offline import load_ohlc_csv
from tests.conftest import SHARED
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from tests.trading.order_helpers import tick
from tests.trading.position_helpers import market_set
from tests.trading.test_positions_replay import LEVERAGES, _most_volatile_window, _ticks
from trading.margin import is_crossed
from trading.models import Position, PositionEvent
from trading.services.positions import position_open

pytestmark = pytest.mark.django_db


def _cents(price: D) -> D:
    return price.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def _first(ticks: list[D], crossed) -> int | None:
    return next((index for index, price in enumerate(ticks[1:], start=1) if crossed(price)), None)


def test_replay_closes_by_stop_loss_before_the_liquidation_and_by_take_profit_on_first_crossing():
    market_set("SOL-PERP", mmr=D("0.005"))
    ticks = _ticks(_most_volatile_window(load_ohlc_csv(SHARED / "data" / "SOLUSDT_1h.csv")))
    set_price(ticks[0])
    guarded, bare, expected, twins = {}, {}, {}, {}
    for side in ("long", "short"):
        for leverage in LEVERAGES:
            plain = position_open(user=make_user(), side=side, leverage=D(leverage), margin=D(100),
                                  client_order_id=f"bare-{side}-{leverage}").position  # fmt: skip
            liq, entry = plain.liquidation_price, plain.entry_price
            stop = _cents(entry + (liq - entry) * D("0.8"))  # 80 % of the way to the liquidation price
            take = _cents(entry * (D("1.10") if side == "long" else D("0.90")))
            with_sl = position_open(user=make_user(), side=side, leverage=D(leverage), margin=D(100),
                                    client_order_id=f"sl-{side}-{leverage}", stop_loss_price=stop,
                                    take_profit_price=take).position  # fmt: skip
            bare[str(plain.id)] = plain
            guarded[str(with_sl.id)] = with_sl
            twins[str(with_sl.id)] = str(plain.id)
            hit_stop = _first(ticks, lambda p, s=stop, d=side: p <= s if d == "long" else p >= s)
            hit_take = _first(ticks, lambda p, t=take, d=side: p >= t if d == "long" else p <= t)
            hits = [(i, reason) for i, reason in ((hit_stop, "stop_loss"), (hit_take, "take_profit")) if i is not None]
            if hits:
                expected[str(with_sl.id)] = min(hits)
    liquidations = {pid: _first(ticks, lambda p, q=p0: is_crossed(q.side, q.liquidation_price, p))
                    for pid, p0 in bare.items()}  # fmt: skip
    assert any(i is not None for i in liquidations.values()), "the window should liquidate some bare positions"
    assert {reason for _, reason in expected.values()} == {"stop_loss", "take_profit"}, "the window should hit both"

    closed_at: dict[str, int] = {}
    for index, price in enumerate(ticks[1:], start=1):
        tick(str(price), symbol="SOL-USD")
        for pid in Position.objects.filter(pk__in=list(guarded)).exclude(status="open").values_list("pk", flat=True):
            closed_at.setdefault(str(pid), index)
    assert {pid: i for pid, (i, _r) in expected.items()} == closed_at
    for pid, (_index, reason) in expected.items():
        position = Position.objects.get(pk=pid)
        assert position.status == "closed", (pid, position.status)
        assert PositionEvent.objects.get(position_id=pid, kind="close").reason == reason
    assert not PositionEvent.objects.filter(position_id__in=list(guarded), kind="liquidation").exists()
    protected = [pid for pid, (i, r) in expected.items() if r == "stop_loss" and liquidations[twins[pid]] is not None]
    assert protected, "some stop-loss should have closed a position its bare twin lost to liquidation"
    assert all(expected[pid][0] <= liquidations[twins[pid]] for pid in protected)
    liquidated = set(PositionEvent.objects.filter(position_id__in=list(bare), kind="liquidation")
                     .values_list("position_id", flat=True))  # fmt: skip
    assert {str(p) for p in liquidated} == {pid for pid, i in liquidations.items() if i is not None}
    assert_books_ok()
