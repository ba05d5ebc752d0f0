"""``pricing.marks.funding_rate_for``: the venues' rate when there is one, else Binance's
premium-index formula scaled to the funding interval; clamped to the cap (hand-computed)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

from pricing.marks import PerpMark, funding_rate_for, perp_mark_from_record

AT = datetime(2026, 2, 6, tzinfo=timezone.utc)


def mark(*, index: str = "100", mark: str = "100", rate: str | None = None) -> PerpMark:
    return PerpMark(
        symbol="SOL-PERP", index_symbol="SOL-USD", index=D(index), mark=D(mark), mark_sources=(),
        funding_rate=D(rate) if rate is not None else None, funding_sources=(), computed_at=AT,
    )  # fmt: skip


def test_the_venues_rate_is_charged_as_it_is():
    rate = funding_rate_for(mark(rate="0.0000125"), interval_hours=1, cap=D("0.0005"))
    assert (rate.rate, rate.basis, rate.capped) == (D("0.0000125"), "venues", False)


def test_premium_formula_at_8_hours():
    """mark 100.1, index 100: P = 0.001; P + clamp(0.0001 - 0.001, ±0.0005) = 0.0005; at the
    index: 0 + clamp(0.0001) = 0.0001 (the interest rate); mark 99.9: -0.001 + 0.0005 = -0.0005."""
    assert funding_rate_for(mark(mark="100.1"), interval_hours=8, cap=D("0.01")).rate == D("0.0005")
    assert funding_rate_for(mark(), interval_hours=8, cap=D("0.01")).rate == D("0.0001")
    premium = funding_rate_for(mark(mark="99.9"), interval_hours=8, cap=D("0.01"))
    assert (premium.rate, premium.basis) == (D("-0.0005"), "premium")


def test_premium_formula_at_1_hour_is_scaled_by_an_eighth():
    """1 h: P·1/8 = 0.000125; interest 0.0000125, clamp ±0.0000625: 0.000125 - 0.0000625 = 0.0000625;
    at the index: 0.0000125; a tiny premium inside the clamp: 0.0000125 exactly (P cancels)."""
    assert funding_rate_for(mark(mark="100.1"), interval_hours=1, cap=D("0.01")).rate == D("0.0000625")
    assert funding_rate_for(mark(), interval_hours=1, cap=D("0.01")).rate == D("0.0000125")
    assert funding_rate_for(mark(mark="100.0001"), interval_hours=1, cap=D("0.01")).rate == D("0.0000125")


def test_the_cap_clamps_both_ways_and_says_so():
    high = funding_rate_for(mark(rate="0.002"), interval_hours=1, cap=D("0.0005"))
    low = funding_rate_for(mark(rate="-0.002"), interval_hours=1, cap=D("0.0005"))
    assert (high.rate, high.capped, low.rate, low.capped) == (D("0.0005"), True, D("-0.0005"), True)
    assert funding_rate_for(mark(mark="110"), interval_hours=8, cap=D("0.0003")).rate == D("0.0003")


def test_a_record_without_a_perps_entry_marks_at_the_index():
    record = {"symbol": "SOL-USD", "price": "79.085", "computed_at": "2026-02-06T00:00:00Z", "sources": []}
    plain = perp_mark_from_record(record, "SOL-PERP")
    assert (plain.mark, plain.index, plain.funding_rate, plain.mark_sources) == (D("79.085"), D("79.085"), None, ())
    record["perps"] = {"SOL-PERP": {"mark": "79.12", "mark_sources": ["backpack"], "funding_rate": "0.00001",
                                    "funding_sources": ["backpack"]}}  # fmt: skip
    marked = perp_mark_from_record(record, "SOL-PERP")
    assert (marked.mark, marked.funding_rate, marked.mark_sources) == (D("79.12"), D("0.00001"), ("backpack",))


def test_next_funding_time_is_the_next_multiple_of_the_interval_on_the_settlement_grid():
    """The markets API's next funding time is the one the funding engine settles next."""
    from pricing.marks import next_funding_at
    from trading.funding_maths import funding_time_next

    for hours in (1, 5, 8):
        for at in (datetime(2026, 2, 6, 7, 59, 59, tzinfo=timezone.utc), datetime(2026, 2, 6, 16, tzinfo=timezone.utc)):
            assert next_funding_at(at, interval_hours=hours) == funding_time_next(at, interval_hours=hours)

    at = datetime(2026, 2, 6, 7, 59, 59, tzinfo=timezone.utc)
    assert next_funding_at(at, interval_hours=1) == datetime(2026, 2, 6, 8, tzinfo=timezone.utc)
    assert next_funding_at(at, interval_hours=8) == datetime(2026, 2, 6, 8, tzinfo=timezone.utc)
    on_time = datetime(2026, 2, 6, 16, tzinfo=timezone.utc)
    assert next_funding_at(on_time, interval_hours=8) == datetime(2026, 2, 7, 0, tzinfo=timezone.utc)
