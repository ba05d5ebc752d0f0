"""Leaderboard maths (portfolio/ranking.py): chain-linked results, where a reset is a deposit."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio.ranking import Segment, chain

equities = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=6)


def test_one_epoch_is_the_plain_result():
    """Without a reset the result is equity - base and (equity - base) / base, exactly."""
    result = chain([Segment(start=D("10000"), end=D("10234.567891"))])
    assert (result.equity, result.pnl, result.ret) == (D("10234.567891"), D("234.567891"), D("0.023457"))


def test_the_free_option_is_closed():
    """Lose half all-in, reset, win double all-in: flat, as for the account that kept going with
    what it had left (a sum of the epochs' dollars would show +5,000: the stake handed back)."""
    with_reset = chain([Segment(D("10000"), D("5000")), Segment(D("10000"), D("20000"))])
    kept_going = chain([Segment(D("10000"), D("10000"))])  # 10,000 -> 5,000 -> 10,000
    assert (with_reset.equity, with_reset.pnl, with_reset.ret) == (D("10000"), D("0"), D("0"))
    assert (with_reset.equity, with_reset.ret) == (kept_going.equity, kept_going.ret)


def test_an_account_left_with_nothing_counts_nothing_after():
    """A segment starting at zero ends the chain: a wiped-out account cannot trade back, so what
    it does on a fresh grant after the reset does not count."""
    wiped = chain([Segment(D("10000"), D("0")), Segment(D("10000"), D("15000"))])
    assert (wiped.equity, wiped.ret) == (D("0"), D("-1"))
    empty_at_window_start = chain([Segment(D("0"), D("0")), Segment(D("10000"), D("15000"))])
    assert (empty_at_window_start.pnl, empty_at_window_start.ret) == (D("0"), D("0"))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    moves=st.lists(st.decimals(min_value=D("0"), max_value=D("5"), places=2), min_size=1, max_size=8),
    resets=st.sets(st.integers(min_value=1, max_value=7)),
    grant=equities,
)
def test_resets_never_change_the_result_of_the_same_moves(moves, resets, grant):
    """Whatever the equity moves (as fractions: x0 .. x5 per step) and wherever the resets fall
    (each new epoch starting at the grant), the result is the one of the account that never
    reset and made the same moves: a reset neither helps nor hurts."""
    start = D("10000")
    never = chain([Segment(start, start * _product(moves))])
    segments, equity, since_reset = [], start, []
    for index, move in enumerate(moves):
        if index in resets and since_reset:
            segments.append(Segment(equity, equity * _product(since_reset)))
            equity, since_reset = grant, []
        since_reset.append(move)
    segments.append(Segment(equity, equity * _product(since_reset)))
    assert chain(segments).equity == never.equity
    assert chain(segments).ret == never.ret


def _product(values):
    out = D(1)
    for value in values:
        out *= value
    return out
