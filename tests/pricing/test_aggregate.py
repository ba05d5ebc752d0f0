"""The aggregator: sanity checks, stablecoin handling, median/outlier/median, quorum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.aggregate import Limits, QuorumNotMet, SourcesDisagree, aggregate
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


# --- hostile observations never break the aggregator -----------------------------------------


def test_a_naive_source_time_is_refused_with_a_reason_not_a_type_error():
    """A source timestamp without a UTC offset cannot be compared with the clock: that source is
    refused (reason kept) and the others make the index."""
    naive = obs("naive", Decimal("100"), source_time=NOW.replace(tzinfo=None))
    index = aggregate([naive, obs("x", Decimal("100")), obs("y", Decimal("100.1"))], limits=LIMITS, now=NOW)
    assert "naive" not in index.sources
    assert "UTC offset" in index.rejected["naive"]


@pytest.mark.parametrize("price", [Decimal("1e30"), Decimal("9e999999"), Decimal("1e-999999")])
def test_prices_out_of_any_plausible_range_are_refused(price):
    """Prices beyond [1e-8, 1e12] USD are refused with a reason (and never overflow the maths)."""
    group = [obs("absurd", price, bid=price, ask=price), obs("x", Decimal("100")), obs("y", Decimal("100.1"))]
    index = aggregate(group, limits=LIMITS, now=NOW)
    assert "absurd" not in index.sources and "out of range" in index.rejected["absurd"]


hostile_numbers = st.one_of(
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("9e999999"), Decimal("-9e999999"), Decimal("1e-999999"), Decimal("sNaN")]),
    prices,
)
hostile_times = st.one_of(
    st.none(),
    st.datetimes(),  # naive
    st.datetimes(timezones=st.timezones()),
)


@st.composite
def hostile_observation(draw, name: str) -> Observation:
    price = draw(hostile_numbers)
    return Observation(
        source=name,
        price=Decimal("100") if price is None else price,
        quote=draw(st.sampled_from(["USD", "USDT", "USDC", "EUR"])),
        bid=draw(hostile_numbers),
        ask=draw(hostile_numbers),
        source_time=draw(hostile_times),
        received_at=NOW,
        conf=draw(hostile_numbers),
        ema_price=draw(hostile_numbers),
    )


@settings(max_examples=400, deadline=None)
@given(
    group=st.lists(st.integers(0, 5), max_size=5, unique=True).flatmap(
        lambda ids: st.tuples(*(hostile_observation(f"s{i}") for i in ids))
    ),
    rates=st.dictionaries(st.sampled_from(["USDT", "USDC"]), hostile_numbers.filter(lambda v: v is not None)),
)
def test_the_aggregator_only_ever_answers_an_index_or_quorum_not_met(group, rates):
    """Whatever the observations hold (NaN, infinities, 9e999999, naive or far-off times, unknown
    quotes, hostile stablecoin rates), aggregate returns an index or raises QuorumNotMet; never
    another exception. Every observation not used has a reason."""
    try:
        index = aggregate(group, limits=LIMITS, now=NOW, stable_rates=rates)
    except QuorumNotMet:
        return
    assert index.price > 0
    for o in group:
        assert o.source in index.sources or o.source in index.rejected


# --- two sources, one liar ------------------------------------------------------------------


def test_two_sources_that_disagree_beyond_the_limit_give_no_index():
    """100 and 103.9 (3.8 % apart, above the 2 % limit): with only two sources we cannot tell
    which one lies, so there is no index (not the 101.95 midpoint), with a clear reason."""
    with pytest.raises(SourcesDisagree) as info:
        aggregate([obs("a", Decimal("100")), obs("b", Decimal("103.9"))], limits=LIMITS, now=NOW)
    assert isinstance(info.value, QuorumNotMet)
    reason = info.value.reason
    assert reason.startswith("sources disagree:")
    assert "a 100" in reason and "b 103.9" in reason and "3.8254%" in reason and "2.0000%" in reason
    assert set(info.value.rejected) == {"a", "b"}
    assert all("disagree" in why for why in info.value.rejected.values())


def test_two_sources_within_the_limit_give_their_midpoint():
    """100 and 101.9 (1.88 % apart) agree: the index is their median, 100.95."""
    index = aggregate([obs("a", Decimal("100")), obs("b", Decimal("101.9"))], limits=LIMITS, now=NOW)
    assert index.price == Decimal("100.95000000") and index.sources == ("a", "b")


def test_three_sources_keep_the_median_rule():
    """With three sources the median already outvotes one liar: 100, 101.95, 103.9 give 101.95."""
    group = [obs("a", Decimal("100")), obs("b", Decimal("101.95")), obs("c", Decimal("103.9"))]
    assert aggregate(group, limits=LIMITS, now=NOW).price == Decimal("101.95000000")


def test_two_disagreeing_survivors_of_a_larger_group_give_no_index():
    """Four sources, two of them far outliers: the two left (98.2 and 101.8, 3.6 % apart) disagree."""
    group = [obs("a", Decimal("98.2")), obs("b", Decimal("101.8")), obs("c", Decimal("50")), obs("d", Decimal("150"))]
    with pytest.raises(SourcesDisagree, match="sources disagree"):
        aggregate(group, limits=LIMITS, now=NOW)


def test_a_single_source_with_quorum_one_is_unaffected():
    """Offline modes (quorum 1, one source) still get their index."""
    index = aggregate([obs("synthetic", Decimal("150"))], limits=Limits(quorum=1), now=NOW)
    assert index.price == Decimal("150.00000000") and index.dispersion == 0


@settings(max_examples=300, deadline=None)
@given(a=prices, gap=st.decimals(min_value=Decimal("-0.06"), max_value=Decimal("0.06"), places=5))
def test_an_index_from_two_sources_is_never_further_than_half_the_limit_from_either(a, gap):
    """With two sources, either they agree within the outlier limit (relative to their median) and
    the index is within half the limit of each, or there is no index."""
    b = a * (1 + gap)
    try:
        index = aggregate([obs("a", a), obs("b", b)], limits=LIMITS, now=NOW)
    except QuorumNotMet:
        assert abs(a - b) / ((a + b) / 2) > LIMITS.outlier
        return
    for p in (a, b):
        assert abs(index.price - p) / index.price <= LIMITS.outlier / 2 + Decimal("1e-7")
