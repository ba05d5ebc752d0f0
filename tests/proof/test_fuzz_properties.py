"""Hypothesis on the pure parts that guard money and identity (fixed seed: derandomized).

* SIWS parser: any text either parses to fields that rebuild it byte for byte, or is refused
  with ``SignInError``; never another exception; generated valid messages round-trip.
* Quantisation: rounding never creates money (what the trader pays rounds up, what they get
  rounds down; fills, closes and liquidations balance to zero; partial closes release exactly
  the margin).
* Canonicalisers: the order/position request fingerprints and the strict JSON parser.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ParseError

from accounts.siws import SignInError, SignInFields, build_message, parse_message
from core.money import USD_QUANT, usd_down, usd_up
from core.parsers import loads_strict
from tests.proof.conftest import proof_int
from trading.execution import MarketRules, RuleViolation, SlippageModel, plan_market_order
from trading.margin import plan_close, plan_liquidation, unrealized_pnl
from trading.services.orders import request_hash
from trading.services.positions import position_request_hash

EXAMPLES = proof_int("PROOF_PROPERTY_EXAMPLES", 300, 5000)
FIXED = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RULES = MarketRules(
    min_qty=Decimal("0.001"), qty_step=Decimal("0.001"), min_notional=Decimal("1"), max_notional=Decimal("1000000")
)
MODEL = SlippageModel(
    spread_bps=Decimal("2"), impact_bps=Decimal("10"), impact_ref_notional=Decimal("100000"), max_bps=Decimal("200")
)
FEE_BPS = Decimal("10")

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=6)
qtys = st.integers(min_value=1, max_value=500_000).map(lambda n: Decimal(n) * Decimal("0.001"))
notionals = st.decimals(min_value=Decimal("1"), max_value=Decimal("1000000"), places=6)
amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=12)


# --- SIWS -----------------------------------------------------------------------------------
_alnum = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789", min_size=8, max_size=44)
_host = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?(?:\.[a-z]{2,6})?(?::[0-9]{1,5})?\Z")
_stamp = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
_statement = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=80).filter(
        lambda s: (
            s.isprintable()
            and not any(s.startswith(f"{label}: ") for label in ("URI", "Version", "Nonce"))
            and s != "Resources:"
        )
    ),
)
valid_fields = st.builds(
    SignInFields,
    domain=_host,
    address=_alnum,
    statement=_statement,
    uri=st.one_of(st.none(), _host.map(lambda h: f"https://{h}/")),
    version=st.one_of(st.none(), st.just("1")),
    chain_id=st.one_of(st.none(), st.sampled_from(["mainnet", "devnet", "solana:mainnet"])),
    nonce=st.one_of(st.none(), st.text(alphabet="abcdefXYZ0123456789", min_size=8, max_size=32)),
    issued_at=st.one_of(st.none(), _stamp),
    expiration_time=st.one_of(st.none(), _stamp),
    not_before=st.one_of(st.none(), _stamp),
    request_id=st.one_of(st.none(), st.text(alphabet="abc-_.~0123", min_size=1, max_size=20)),
    resources=st.one_of(st.none(), st.lists(_host.map(lambda h: f"https://{h}/r"), max_size=3).map(tuple)),
)


@FIXED
@given(valid_fields)
def test_siws_messages_round_trip_through_the_parser(fields):
    """A message built from valid fields parses back to exactly those fields and rebuilds byte for byte."""
    text = build_message(fields)
    parsed = parse_message(text)
    assert parsed == fields
    assert build_message(parsed) == text


@FIXED
@given(
    st.one_of(
        st.text(max_size=600),
        valid_fields.map(build_message).flatmap(
            lambda text: st.tuples(st.just(text), st.integers(0, len(text)), st.text(max_size=8)).map(
                lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
            )
        ),
    )
)
def test_siws_parser_refuses_or_rebuilds_any_text(text):
    """Arbitrary or mutated text is either refused with SignInError (MESSAGE_MALFORMED) or parses to
    fields whose message is exactly that text; nothing else is ever raised."""
    try:
        parsed = parse_message(text)
    except SignInError as error:
        assert error.code == "MESSAGE_MALFORMED"
        return
    assert build_message(parsed) == text


# --- quantisation: rounding never creates money ---------------------------------------------
@FIXED
@given(amounts)
def test_usd_rounding_directions(value):
    """usd_up never pays less and usd_down never gives more than the exact amount, by under one micro-dollar."""
    up, down = usd_up(value), usd_down(value)
    assert up >= value >= down if value >= 0 else True
    assert abs(up - value) < USD_QUANT and abs(value - down) < USD_QUANT
    assert up % USD_QUANT == 0 and down % USD_QUANT == 0


@FIXED
@given(side=st.sampled_from(["buy", "sell"]), index=prices, qty=st.one_of(st.none(), qtys), notional=notionals)
def test_a_fill_never_gives_the_trader_more_than_the_exact_amount(side, index, qty, notional):
    """A fill's legs balance per asset; a buyer pays at least qty*price (+ the exact fee), a seller gets
    at most qty*price (- the exact fee), and the fill price is never better than the index."""
    try:
        plan = plan_market_order(
            side=side,
            index_price=index,
            qty=qty,
            notional=None if qty is not None else notional,
            rules=RULES,
            model=MODEL,
            fee_bps=FEE_BPS,
        )
    except RuleViolation:
        return
    exact = plan.qty * plan.price
    exact_fee = plan.notional * FEE_BPS / Decimal(10000)
    assert plan.fee >= exact_fee
    sign = 1 if side == "buy" else -1
    usd_legs = [plan.cash_delta, sign * plan.notional, plan.fee]  # user, house, fees
    assert sum(usd_legs) == 0
    if side == "buy":
        assert -plan.cash_delta >= exact + exact_fee
        assert plan.price >= index
    else:
        assert plan.cash_delta <= exact - exact_fee
        assert plan.price <= index
    for amount in (plan.notional, plan.fee):
        assert amount % USD_QUANT == 0


@FIXED
@given(index=prices, qty=qtys)
def test_a_round_trip_at_one_price_never_makes_money(index, qty):
    """Buying then selling the same quantity at the same index leaves the trader with less USD, never more."""
    try:
        buy = plan_market_order(
            side="buy", index_price=index, qty=qty, notional=None, rules=RULES, model=MODEL, fee_bps=FEE_BPS
        )
        sell = plan_market_order(
            side="sell", index_price=index, qty=qty, notional=None, rules=RULES, model=MODEL, fee_bps=FEE_BPS
        )
    except RuleViolation:
        return
    assert buy.cash_delta + sell.cash_delta < 0


positions = st.fixed_dictionaries(
    {
        "side": st.sampled_from(["long", "short"]),
        "entry": prices,
        "qty": st.integers(1, 10**7).map(lambda n: Decimal(n) * Decimal("0.000000001") * 1000),
        "margin": st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=6),
    }
)


@FIXED
@given(pos=positions, price=prices, cuts=st.lists(st.integers(1, 999), max_size=4))
def test_partial_closes_release_exactly_the_margin_and_balance(pos, price, cuts):
    """Any sequence of partial closes then a full close releases exactly the margin, every close's
    ledger legs sum to zero, and no payout exceeds released + exact PnL - exact fee (floored at 0)."""
    qty, margin = pos["qty"], pos["margin"]
    released_total = Decimal(0)
    steps = [*(Decimal(c) / 1000 for c in cuts), None]
    for fraction in steps:
        close_qty = qty if fraction is None else (qty * fraction).quantize(Decimal("0.000000001"))
        if close_qty <= 0 or close_qty > qty:
            continue
        plan = plan_close(
            side=pos["side"],
            entry=pos["entry"],
            qty=qty,
            margin=margin,
            close_qty=close_qty,
            index_price=price,
            fee_bps=FEE_BPS,
            model=MODEL,
        )
        legs = [-plan.released_margin, plan.payout, -plan.realized_pnl, plan.fee, plan.insurance]
        assert sum(legs) == 0
        exact_pnl = unrealized_pnl(pos["side"], pos["entry"], close_qty, plan.exit_price)
        exact_fee = close_qty * plan.exit_price * FEE_BPS / Decimal(10000)
        assert plan.payout <= max(Decimal(0), plan.released_margin + exact_pnl - exact_fee)
        released_total += plan.released_margin
        qty, margin = plan.remaining_qty, plan.remaining_margin
        if qty == 0:
            break
    assert released_total + margin == pos["margin"]
    assert qty == 0 and margin == 0


@FIXED
@given(pos=positions, price=prices)
def test_a_liquidation_balances_and_never_favours_the_trader(pos, price):
    """A liquidation takes the whole margin; house and insurance legs balance it exactly, and the
    PnL booked is never above the exact PnL."""
    plan = plan_liquidation(side=pos["side"], entry=pos["entry"], qty=pos["qty"], margin=pos["margin"], price=price)
    assert -plan.margin - plan.pnl + plan.insurance == 0
    assert plan.pnl <= unrealized_pnl(pos["side"], pos["entry"], pos["qty"], price)


# --- canonicalisers ---------------------------------------------------------------------------
decimals9 = st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal("1e12"), places=9)


@FIXED
@given(value=decimals9, zeros=st.integers(0, 6), side=st.sampled_from(["buy", "sell"]))
def test_order_fingerprint_depends_on_meaning_not_spelling(value, zeros, side):
    """'1', '1.0' and '1.000' are one quantity (same fingerprint, so a retry replays); a different
    quantity, side or field is a different order (so a reused id is refused)."""
    plain = format(value.normalize(), "f")
    spelled = Decimal(plain + ("" if "." in plain else ".") + "0" * zeros) if zeros else value
    same = request_hash(symbol="SOL-USD", side=side, type="market", qty=value, notional=None)
    assert request_hash(symbol="SOL-USD", side=side, type="market", qty=spelled, notional=None) == same
    bumped = value + Decimal("0.000000001")
    assert request_hash(symbol="SOL-USD", side=side, type="market", qty=bumped, notional=None) != same
    other_side = "sell" if side == "buy" else "buy"
    assert request_hash(symbol="SOL-USD", side=other_side, type="market", qty=value, notional=None) != same
    assert request_hash(symbol="SOL-USD", side=side, type="market", qty=None, notional=value) != same
    lev = position_request_hash(symbol="SOL-PERP", side="long", leverage=Decimal("10"), margin=value, qty=None)
    ten = Decimal("10.00")
    assert position_request_hash(symbol="SOL-PERP", side="long", leverage=ten, margin=spelled, qty=None) == lev
    assert position_request_hash(symbol="SOL-PERP", side="long", leverage=Decimal("10"), margin=None, qty=value) != lev


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FIXED
@given(
    st.one_of(
        json_values.map(json.dumps), st.text(max_size=200), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))
    )
)
def test_strict_json_parser_parses_or_refuses(text):
    """Any text either parses (numbers as Decimal, never float) or is refused with ParseError (400
    malformed_request); nothing else escapes."""
    try:
        value = loads_strict(text)
    except ParseError:
        return

    def no_float(node):
        assert not isinstance(node, float)
        if isinstance(node, dict):
            for child in node.values():
                no_float(child)
        elif isinstance(node, list):
            for child in node:
                no_float(child)

    no_float(value)


# --- bad ticks never become the index ----------------------------------------------------------
bad_ticks = st.sampled_from(["zero", "negative", "nan", "inf", "huge", "future", "old", "jump_up", "jump_down"])


@FIXED
@given(true=prices.filter(lambda p: p >= 1), kind=bad_ticks, jitter=st.integers(-10, 10), liar=st.integers(0, 2))
def test_a_bad_tick_from_one_source_never_becomes_the_index(true, kind, jitter, liar):
    """Among three sources, one reporting 0, a negative, NaN, infinity, 10^30, a future or old
    timestamp, or a 50 % jump is never used: the index stays within 0.1 % of the honest price."""
    from datetime import timedelta

    from pricing.aggregate import Limits, aggregate
    from pricing.sources.base import Observation

    now = datetime(2026, 2, 6, tzinfo=timezone.utc)
    honest = [true, true * (1 + Decimal(jitter) / 100000)]
    bad_price = {
        "zero": Decimal(0),
        "negative": -true,
        "nan": Decimal("NaN"),
        "inf": Decimal("Infinity"),
        "huge": Decimal("1e30"),
        "jump_up": true * Decimal("1.5"),
        "jump_down": true * Decimal("0.5"),
    }.get(kind, true * Decimal("1.3"))
    source_time = {"future": now + timedelta(minutes=10), "old": now - timedelta(hours=1)}.get(kind, now)
    observations = [
        Observation(source=f"honest{i}", price=p, source_time=now, received_at=now) for i, p in enumerate(honest)
    ]
    observations.insert(liar, Observation(source="liar", price=bad_price, source_time=source_time, received_at=now))
    index = aggregate(observations, limits=Limits(), now=now)
    assert "liar" not in index.sources
    assert abs(index.price - true) / true < Decimal("0.001")
