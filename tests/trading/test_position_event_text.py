"""``position_liquidated_json`` writes the event's data as text directly (the engine's hot path):
it must be exactly what the dict builder plus ``json.dumps`` give, for any position."""

from __future__ import annotations

import json
from collections import namedtuple
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.publish import event, event_text
from trading.events import position_liquidated_data, position_liquidated_json

Row = namedtuple(
    "Row",
    "id client_order_id symbol side status qty margin leverage entry_price liquidation_price realized_pnl "
    "fees_paid exit_price opened_at closed_at funding_accrued",
)

money = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=9)
rough = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=4)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc))


@st.composite
def rows(draw):
    uid = draw(st.uuids())
    return Row(
        id=draw(st.sampled_from([uid, str(uid)])),  # a model's UUID or the engine's text
        client_order_id=draw(st.one_of(st.none(), st.text(max_size=40))),
        symbol="SOL-PERP",
        side=draw(st.sampled_from(["long", "short"])),
        status=draw(st.sampled_from(["open", "closed", "liquidated"])),
        qty=draw(money),
        margin=draw(st.one_of(money, rough)),
        leverage=draw(st.decimals(min_value=1, max_value=20, places=2)),
        entry_price=draw(money),
        liquidation_price=draw(money),
        realized_pnl=draw(money),
        fees_paid=draw(money),
        exit_price=draw(st.one_of(st.none(), money)),
        opened_at=draw(moments),
        closed_at=draw(st.one_of(st.none(), moments)),
        funding_accrued=draw(money),
    )


@settings(max_examples=300, deadline=None)
@given(row=rows(), price=rough, pnl=rough, insurance=rough, computed_at=st.one_of(st.none(), moments))
def test_the_text_is_byte_for_byte_what_the_dict_encodes_to(row, price, pnl, insurance, computed_at):
    """Same keys in the same order, same number formats, same escaping (quotes, controls,
    non-ASCII in the client's id), nulls where the builder has None."""
    kwargs = dict(position=row, price=price, pnl=pnl, insurance=insurance, computed_at=computed_at)
    text = position_liquidated_json(**kwargs)
    assert type(text) is str  # a RawJSON: plain text, embedded as it is
    assert text == json.dumps(position_liquidated_data(**kwargs), separators=(",", ":"))


def test_an_event_around_raw_text_is_the_event_around_the_dict():
    """``event_text`` with a ``RawJSON`` gives the envelope ``event`` + ``json.dumps`` give."""
    row = Row(
        "6f1c1a2e-8a61-4f6a-9d7e-2a1b3c4d5e6f",
        'a "quoted" id\n\u00e9',
        "SOL-PERP",
        "long",
        "liquidated",
        Decimal("1.5"),
        Decimal("100"),
        Decimal("10.00"),
        Decimal("150.123456789"),
        Decimal("135.2"),
        Decimal("-100"),
        Decimal("0.15"),
        Decimal("85"),
        datetime(2026, 11, 22, 1, 2, 3, tzinfo=timezone.utc),
        datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=timezone.utc),
        Decimal("-0.028586"),
    )
    kwargs = dict(position=row, price=Decimal(85), pnl=Decimal("-97.6"), insurance=Decimal("2.4"), computed_at=None)
    raw = event_text("position_liquidated", position_liquidated_json(**kwargs), seq=7, ts="2026-11-22T01:02:03Z")
    built = event("position_liquidated", position_liquidated_data(**kwargs), seq=7, ts="2026-11-22T01:02:03Z")
    assert raw == json.dumps(built, separators=(",", ":"))
    assert json.loads(raw)["data"]["client_order_id"] == 'a "quoted" id\n\u00e9'
