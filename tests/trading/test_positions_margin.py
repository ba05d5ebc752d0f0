"""The position formulas on hand-computed cases (trading/margin.py, no database)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading.execution import RuleViolation, SlippageModel
from trading.margin import (
    PerpRules,
    bankruptcy_price,
    is_crossed,
    leverage_breach,
    liquidation_price,
    margin_ratio,
    plan_close,
    plan_liquidation,
    plan_open,
    position_mark,
    unrealized_pnl,
)

NO_SLIP = SlippageModel(spread_bps=D(0), impact_bps=D(0), impact_ref_notional=D(100000), max_bps=D(200))
RULES = PerpRules(
    max_leverage=D(20),
    mmr=D("0.005"),
    fee_bps=D(10),
    min_qty=D("0.001"),
    qty_step=D("0.001"),
    min_notional=D(1),
    max_notional=D(1000000),
)


@pytest.mark.parametrize(
    ("side", "entry", "margin", "qty", "mmr", "expected"),
    [
        # long 10x at 100: M/q = 10 -> bankruptcy 90; mmr 0 -> 90; mmr 0.5% -> 90 / 0.995 = 90.452261...
        ("long", D(100), D(100), D(10), D(0), D("90.000000")),
        ("long", D(100), D(100), D(10), D("0.005"), D("90.452262")),
        # long 2x at 150: q = 200*2/150 = 2.666666667, M/q = 74.99999..., liq = (150-75)/0.995 = 75.376884...
        ("long", D(150), D(200), D("2.666666667"), D("0.005"), D("75.376885")),
        # long 1x, mmr 0: never liquidated (liq 0)
        ("long", D(100), D(100), D(1), D(0), D("0")),
        # short 10x at 100: bankruptcy 110; mmr 0 -> 110; mmr 0.5% -> 110 / 1.005 = 109.452736...
        ("short", D(100), D(100), D(10), D(0), D("110.000000")),
        ("short", D(100), D(100), D(10), D("0.005"), D("109.452736")),
        # short 20x at 200: M/q = 10 -> (200 + 10) / 1.005 = 208.955223...
        ("short", D(200), D(50), D(5), D("0.005"), D("208.955223")),
        # short 1x, mmr 0: liq at 2E
        ("short", D(100), D(100), D(1), D(0), D("200.000000")),
    ],
)
def test_liquidation_price_hand_computed(side, entry, margin, qty, mmr, expected):
    """P_liq = (E - M/q)/(1 - mmr) for a long, (E + M/q)/(1 + mmr) for a short, rounded towards the entry."""
    assert liquidation_price(side, entry, margin, qty, mmr) == expected


def test_equity_at_the_liquidation_price_equals_the_maintenance_margin():
    """At P_liq, M + uPnL = mmr * q * P_liq (to the rounding of P_liq), for both sides."""
    for side in ("long", "short"):
        entry, margin, qty, mmr = D(100), D(100), D(10), D("0.005")
        p = liquidation_price(side, entry, margin, qty, mmr)
        equity = margin + unrealized_pnl(side, entry, qty, p)
        assert abs(equity - mmr * qty * p) < D("0.0001")


def test_unrealized_pnl_and_bankruptcy():
    """Long gains when the price rises, short when it falls; bankruptcy is E -/+ M/q."""
    assert unrealized_pnl("long", D(100), D(2), D(110)) == D(20)
    assert unrealized_pnl("short", D(100), D(2), D(110)) == D(-20)
    assert bankruptcy_price("long", D(100), D(100), D(10)) == D(90)
    assert bankruptcy_price("short", D(100), D(100), D(10)) == D(110)


def test_crossing_is_inclusive_and_side_aware():
    """A long is crossed at or below its liquidation price, a short at or above."""
    assert is_crossed("long", D(90), D(90)) and is_crossed("long", D(90), D("89.99"))
    assert not is_crossed("long", D(90), D("90.01"))
    assert is_crossed("short", D(110), D(110)) and not is_crossed("short", D(110), D("109.99"))


def test_open_by_margin_without_slippage():
    """M=100, L=10 at 100: notional 1000, q = 10, fee 10 bps of 1000 = 1, liq 90.452262 (mmr 0.5%)."""
    plan = plan_open(
        side="long", index_price=D(100), leverage=D(10), margin=D(100), qty=None, rules=RULES, model=NO_SLIP
    )
    assert (plan.entry_price, plan.qty, plan.notional, plan.fee) == (D(100), D(10), D(1000), D(1))
    assert plan.liquidation_price == D("90.452262")


def test_open_moves_the_entry_against_the_taker():
    """With slippage a long enters above the index and a short below it."""
    model = SlippageModel(spread_bps=D(2), impact_bps=D(10), impact_ref_notional=D(100000), max_bps=D(200))
    long_ = plan_open(side="long", index_price=D(100), leverage=D(5), margin=D(200), qty=None, rules=RULES, model=model)
    short = plan_open(
        side="short", index_price=D(100), leverage=D(5), margin=D(200), qty=None, rules=RULES, model=model
    )
    assert long_.entry_price > D(100) > short.entry_price


def test_open_by_qty_derives_the_margin():
    """q = 2 SOL at 150 with 4x: notional 300, margin 75, fee 0.3."""
    plan = plan_open(side="short", index_price=D(150), leverage=D(4), margin=None, qty=D(2), rules=RULES, model=NO_SLIP)
    assert (plan.notional, plan.margin, plan.fee) == (D(300), D(75), D("0.3"))
    assert plan.liquidation_price == ((D(150) + D("37.5")) / D("1.005")).quantize(D("0.000001"), "ROUND_FLOOR")


@pytest.mark.parametrize("leverage", [D("0.5"), D(21), D(100)])
def test_leverage_outside_one_to_max_is_refused(leverage):
    """Leverage below 1 or above the maximum is a rule violation."""
    with pytest.raises(RuleViolation) as info:
        plan_open(
            side="long", index_price=D(100), leverage=leverage, margin=D(100), qty=None, rules=RULES, model=NO_SLIP
        )
    assert info.value.code == "leverage_out_of_range"


def test_full_close_with_profit():
    """Long 10 @ 100, close all at 105: pnl 50, fee 10 bps of 1050 = 1.05, payout 100 + 50 - 1.05."""
    plan = plan_close(
        side="long", entry=D(100), qty=D(10), margin=D(100), close_qty=D(10), index_price=D(105),
        fee_bps=D(10), model=NO_SLIP,
    )  # fmt: skip
    assert (plan.realized_pnl, plan.fee, plan.released_margin) == (D(50), D("1.05"), D(100))
    assert plan.payout == D("148.95") and plan.insurance == 0 and plan.remaining_qty == 0


def test_partial_close_releases_margin_pro_rata():
    """Short 10 @ 100 with M=100, close 4 at 95: pnl 20, released 40, fee 0.38, 6 SOL and 60 USD remain."""
    plan = plan_close(
        side="short", entry=D(100), qty=D(10), margin=D(100), close_qty=D(4), index_price=D(95),
        fee_bps=D(10), model=NO_SLIP,
    )  # fmt: skip
    assert (plan.realized_pnl, plan.released_margin, plan.fee) == (D(20), D(40), D("0.38"))
    assert (plan.remaining_qty, plan.remaining_margin, plan.payout) == (D(6), D(60), D("59.62"))


def test_close_past_bankruptcy_costs_at_most_the_margin():
    """Long 10 @ 100 (M=100) closed at 85 before the engine ran: pnl -150; payout 0, insurance pays 50.85."""
    plan = plan_close(
        side="long", entry=D(100), qty=D(10), margin=D(100), close_qty=D(10), index_price=D(85),
        fee_bps=D(10), model=NO_SLIP,
    )  # fmt: skip
    assert plan.payout == 0
    assert plan.insurance == D(100) + D(-150) - D("0.85")


@pytest.mark.parametrize(
    ("side", "price", "pnl", "insurance"),
    [
        ("long", D("90.4"), D("-96"), D("4")),  # at liquidation: residue 4 to the fund
        ("long", D(80), D(-200), D(-100)),  # gap through bankruptcy (90): fund pays 100
        ("short", D("109.5"), D("-95"), D("5")),
        ("short", D(125), D(-250), D(-150)),  # gap through 110
    ],
)
def test_liquidation_splits_between_house_and_insurance(side, price, pnl, insurance):
    """Liquidation at the tick price: the trader loses M=100, pnl goes to the house, M + pnl to insurance."""
    plan = plan_liquidation(side=side, entry=D(100), qty=D(10), margin=D(100), price=price)
    assert (plan.pnl, plan.insurance, plan.margin) == (pnl, insurance, D(100))
    assert -plan.margin - plan.pnl + plan.insurance == 0  # user locked, house, insurance legs balance


def test_margin_ratio_reaches_one_at_liquidation():
    """margin ratio = maintenance margin / equity: 1 at the liquidation price, None when equity <= 0."""
    p = D("90.452262")
    ratio = margin_ratio(D(100), unrealized_pnl("long", D(100), D(10), p), D(10), p, D("0.005"))
    assert abs(ratio - 1) < D("0.0001")
    assert margin_ratio(D(100), D(-100), D(10), D(90), D("0.005")) is None


@pytest.mark.parametrize(
    ("leverage", "code"),
    [(D("0.99"), "below_min"), (D(1), None), (D("7.5"), None), (D(20), None), (D("20.01"), "too_large")],
)
def test_leverage_rule_is_one_to_the_maximum_inclusive(leverage, code):
    """The one leverage rule: 1 <= L <= max; a breach names the limit (the API's field error code)."""
    breach = leverage_breach(leverage, D(20))
    assert (breach and breach.code) == code
    if code == "too_large":
        assert breach.message == "Leverage is at most 20."


def test_mark_of_an_open_position_is_rounded_half_even_to_micro_dollars():
    """Long 3 @ 100.0000005 marked at 100: uPnL -0.0000015 -> -0.000002 (half-even, not floored
    like a realized PnL); equity = M + uPnL; margin ratio = mmr q P / equity."""
    mark = position_mark(side="long", entry=D("100.0000005"), qty=D(3), margin=D(30), mmr=D("0.005"), price=D(100))
    assert mark.unrealized_pnl == D("-0.000002")
    assert mark.equity == D("29.999998")
    assert mark.notional == D("300.000000") and mark.maintenance_margin == D("1.500000")
    assert mark.margin_ratio == (D("1.5") / (D(30) - D("0.0000015"))).quantize(D("0.000001"))
    short = position_mark(side="short", entry=D(100), qty=D(1), margin=D(10), mmr=D(0), price=D(110))
    assert (short.unrealized_pnl, short.equity, short.margin_ratio) == (D("-10.000000"), D("0.000000"), None)
