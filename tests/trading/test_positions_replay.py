"""A real SOL price path (../shared/data/SOLUSDT_1h.csv) replayed tick by tick through the engine:
exactly the positions whose liquidation price the path crosses are liquidated, each at its first
crossing tick and at that tick's price."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pricing.offline import load_ohlc_csv
from tests.conftest import SHARED
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set, tick
from trading.margin import is_crossed
from trading.models import Position, PositionEvent
from trading.services.positions import position_open

pytestmark = pytest.mark.django_db
WINDOW = 120
LEVERAGES = ["2", "3", "4", "5", "8", "10", "12", "15", "18", "20"]


def _ticks(bars) -> list[D]:
    """open -> extreme -> extreme -> close per bar (low first on an up bar), as the replay source walks it."""
    out: list[D] = []
    for bar in bars:
        first, second = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        out += [bar.open, first, second, bar.close]
    return out


def _most_volatile_window(bars):
    best, best_range = 0, D(0)
    for start in range(0, len(bars) - WINDOW, WINDOW // 2):
        chunk = bars[start : start + WINDOW]
        spread = (max(b.high for b in chunk) - min(b.low for b in chunk)) / chunk[0].open
        if spread > best_range:
            best, best_range = start, spread
    return bars[best : best + WINDOW]


def test_replay_liquidates_exactly_the_crossed_positions_at_the_first_crossing_tick(settings):
    """Twenty traders (net positions: one each), long and short at ten leverages, on the most
    volatile window of the recorded path."""
    market_set("SOL-PERP", mmr=D("0.005"))
    bars = _most_volatile_window(load_ohlc_csv(SHARED / "data" / "SOLUSDT_1h.csv"))
    ticks = _ticks(bars)
    set_price(ticks[0])
    users = []
    for side in ("long", "short"):
        for leverage in LEVERAGES:
            users.append(make_user())
            position_open(
                user=users[-1], side=side, leverage=D(leverage), margin=D(100), client_order_id=f"{side}-{leverage}"
            )
    positions = {str(p.id): p for p in Position.objects.all()}

    expected: dict[str, int] = {}
    for index, price in enumerate(ticks[1:], start=1):
        for pid, p in positions.items():
            if pid not in expected and is_crossed(p.side, p.liquidation_price, price):
                expected[pid] = index
    assert 0 < len(expected) < len(positions), "the window should liquidate some positions but not all"

    seen: dict[str, int] = {}
    for index, price in enumerate(ticks[1:], start=1):
        for pid in tick(price):
            assert pid not in seen
            seen[pid] = index
    assert seen == expected
    for pid, index in expected.items():
        assert PositionEvent.objects.get(position_id=pid, kind="liquidation").price == ticks[index]
    survivors = Position.objects.filter(status="open").count()
    assert survivors == len(positions) - len(expected)
    assert sum(balances_of(u)["USD_locked"] for u in users) == 100 * survivors
    assert_books_ok()
