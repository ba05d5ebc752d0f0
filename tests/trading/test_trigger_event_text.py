"""``order_fill_json`` and ``portfolio_update_json`` write the trigger engine's events as text
directly (thousands a tick): each must be exactly what its dict builder plus ``json.dumps`` give."""

from __future__ import annotations

import json
from collections import namedtuple
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.timefmt import iso_utc
from portfolio.events import portfolio_update_data
from realtime.publish import jsonable
from trading.events import order_fill_data, order_fill_json, portfolio_update_json

OrderRow = namedtuple("OrderRow", "id client_order_id status")
FillRow = namedtuple("FillRow", "id symbol side qty price notional fee liquidity created_at")
AccountRow = namedtuple("AccountRow", "epoch")
BalanceRow = namedtuple("BalanceRow", "asset total locked free")
BookRow = namedtuple("BookRow", "asset qty cost_basis realized_pnl fees_paid")

money = st.decimals(min_value=Decimal("0"), max_value=Decimal("1e12"), allow_nan=False, places=9)
signed = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=9)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc))


def _text(data) -> str:
    return json.dumps(jsonable(data), separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(
    order_id=st.uuids(), fill_id=st.uuids(), client_order_id=st.text(max_size=64),
    symbol=st.sampled_from(["SOL-USD", "JUP-USD", "BONK-USD"]), side=st.sampled_from(["buy", "sell"]),
    qty=money, price=money, notional=money, fee=money, at=moments,
)  # fmt: skip
def test_order_fill_text_is_byte_for_byte_what_the_dict_encodes_to(
    order_id, fill_id, client_order_id, symbol, side, qty, price, notional, fee, at
):
    """Same keys in the same order, same number formats, same escaping of the client's id."""
    order = OrderRow(order_id, client_order_id, "filled")
    fill = FillRow(fill_id, symbol, side, qty, price, notional, fee, "maker", at)
    text = order_fill_json(
        order_id=str(order_id), client_order_id=client_order_id, fill_id=str(fill_id), symbol=symbol, side=side,
        qty=qty, price=price, notional=notional, fee=fee, liquidity="maker", status="filled", filled_at=iso_utc(at),
    )  # fmt: skip
    assert type(text) is str and text == _text(order_fill_data(order, fill))


@settings(max_examples=300, deadline=None)
@given(
    epoch=st.integers(min_value=1, max_value=10**6), asset=st.sampled_from(["SOL", "JUP", "BONK"]),
    usd=st.tuples(money, money), base=st.tuples(money, money), book=st.tuples(money, money, signed, money),
)  # fmt: skip
def test_portfolio_update_text_is_byte_for_byte_what_the_dict_encodes_to(epoch, asset, usd, base, book):
    """Balances sorted by asset with free = total - locked, the book under ``holdings`` (and
    ``sol`` when the asset is SOL), no positions."""
    rows = [(asset, base[0] + base[1], base[1]), ("USD", usd[0] + usd[1], usd[1])]
    balances = [BalanceRow(a, total, locked, total - locked) for a, total, locked in rows]
    data = portfolio_update_data(AccountRow(epoch), balances=balances, holdings=[BookRow(asset, *book)])
    assert portfolio_update_json(epoch=epoch, balances=rows, book=(asset, *book)) == _text(data)
