"""The aggregator: sanity checks, stablecoin handling, median/outlier/median, quorum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.aggregate import Limits, QuorumNotMet, aggregate
from pricing.sources import Observation
from tests.pricing.conftest import FROZEN_NOW

NOW = FROZEN_NOW
LIMITS = Limits()
prices = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("100000"), places=6, allow_nan=False)
# honest sources agree within +-0.5 % of the true price
honest_jitter = st.decimals(min_value=Decimal("-0.005"), max_value=Decimal("0.005"), places=6)
lies = st.one_of(
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("10000000"), places=6),
    st.just(Decimal("0")),
    st.decimals(min_value=Decimal("-1000"), max_value=Decimal("-0.000001"), places=6),
)


def obs(name: str, price: Decimal, **kw) -> Observation:
    return Observation(source=name, price=price, received_at=NOW, **kw)


@settings(max_examples=400, deadline=None)
@given(true=prices, j1=honest_jitter, j2=honest_jitter, lie=lies, liar_pos=st.integers(0, 2))
def test_one_lying_source_of_three_never_moves_the_index_beyond_the_outlier_threshold(true, j1, j2, lie, liar_pos):
    """Whatever the third source says, the index stays within the outlier threshold of the honest median."""
    honest = [obs("a", true * (1 + j1)), obs("b", true * (1 + j2))]
    group = list(honest)
    group.insert(liar_pos, obs("liar", lie))
    index = aggregate(group, limits=LIMITS, now=NOW)
    honest_mid = (honest[0].price + honest[1].price) / 2
    assert abs(index.price - honest_mid) / honest_mid <= LIMITS.outlier
    assert min(o.price for o in honest) - Decimal("0.00000001") <= index.price
    assert index.price <= max(o.price for o in honest) + Decimal("0.00000001")


@settings(max_examples=200, deadline=None)
@given(
    quorum=st.integers(1, 5),
    values=st.lists(prices, min_size=0, max_size=6),
)
def test_fewer_sane_sources_than_quorum_is_unavailable(quorum, values):
    """With fewer usable observations than the quorum there is no index, only QuorumNotMet."""
    limits = Limits(quorum=quorum, outlier=Decimal("1E+9"))  # nothing is dropped as an outlier here
    group = [obs(f"s{i}", p) for i, p in enumerate(values)]
    if len(group) < quorum:
        with pytest.raises(QuorumNotMet) as info:
            aggregate(group, limits=limits, now=NOW)
        assert info.value.usable == len(group) and info.value.needed == quorum
    else:
        index = aggregate(group, limits=limits, now=NOW)
        assert len(index.sources) == len(group)


def test_median_drop_outliers_median_again():
    """Median of 5 is 100; 110 (10 %) is dropped; the median of the rest is the index."""
    group = [obs("a", Decimal("99")), obs("b", Decimal("100")), obs("c", Decimal("100.5")), obs("d", Decimal("110"))]
    group.append(obs("e", Decimal("99.5")))
    index = aggregate(group, limits=LIMITS, now=NOW)
    assert index.price == Decimal("99.75000000")
    assert index.sources == ("a", "b", "c", "e")
    assert index.rejected["d"].startswith("outlier")
    assert index.dispersion == ((Decimal("100.5") - Decimal("99")) / Decimal("99.75")).quantize(Decimal("0.000001"))


def test_outliers_dropped_below_quorum_is_unavailable():
    """Two sources 10 % apart: each is an outlier of the median, nothing is left."""
    with pytest.raises(QuorumNotMet, match="outlier"):
        aggregate([obs("a", Decimal("100")), obs("b", Decimal("110"))], limits=LIMITS, now=NOW)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"price": Decimal("0")}, "non-positive"),
        ({"price": Decimal("100"), "bid": Decimal("101"), "ask": Decimal("100.5")}, "crossed"),
        ({"price": Decimal("100"), "bid": Decimal("98"), "ask": Decimal("102")}, "spread"),
        ({"price": Decimal("100"), "conf": Decimal("2")}, "confidence"),
    ],
)
def test_insane_observations_are_rejected_with_a_reason(kw, reason):
    group = [obs("bad", **kw), obs("x", Decimal("100")), obs("y", Decimal("100.1"))]
    index = aggregate(group, limits=LIMITS, now=NOW)
    assert "bad" not in index.sources and reason in index.rejected["bad"]


def test_stablecoin_quotes_count_as_usd_unless_depegged_beyond_the_limit():
    """USDT at 0.997 (0.3 % off) is taken at par; at 0.993 (0.7 % off) it is converted."""
    group = [obs("usd", Decimal("100")), Observation("usdt", Decimal("100"), quote="USDT", received_at=NOW)]
    at_par = aggregate(group, limits=LIMITS, now=NOW, stable_rates={"USDT": Decimal("0.997")})
    assert at_par.usd_prices["usdt"] == Decimal("100")
    depegged = aggregate(group, limits=LIMITS, now=NOW, stable_rates={"USDT": Decimal("0.993")})
    assert depegged.usd_prices["usdt"] == Decimal("99.300")
    assert depegged.price == Decimal("99.65000000")


def test_unknown_quote_currency_is_not_used():
    group = [obs("a", Decimal("100")), obs("b", Decimal("100")), Observation("eur", Decimal("92"), quote="EUR")]
    index = aggregate(group, limits=LIMITS, now=NOW)
    assert "eur" in index.rejected and index.sources == ("a", "b")


def test_index_bid_ask_straddle_the_index_with_the_median_half_spread():
    group = [
        obs("a", Decimal("100.00"), bid=Decimal("99.99"), ask=Decimal("100.01")),
        obs("b", Decimal("100.02"), bid=Decimal("100.01"), ask=Decimal("100.03")),
        obs("c", Decimal("100.01")),
    ]
    index = aggregate(group, limits=LIMITS, now=NOW)
    assert index.bid < index.price < index.ask
    assert index.price == Decimal("100.01000000")
    # the sources' median spread (~0.02), widened by at most one quantum on each side
    assert index.ask - index.bid <= Decimal("0.02") + 2 * Decimal("0.00000001")


def test_failed_sources_are_carried_in_the_reason():
    with pytest.raises(QuorumNotMet) as info:
        aggregate([obs("a", Decimal("1"))], limits=LIMITS, now=NOW, rejected={"kraken": "error: timeout"})
    assert "kraken: error: timeout" in info.value.reason and "1 of 2" in info.value.reason
