"""Spot trades' ledger postings in bulk: the trigger engine's batches (thousands of maker fills a
tick, ``trading.services.trigger_batch``).

Each trade posts exactly what the one-order path posts (``trading.services.spot_fill``: the
release of the order's hold, then the trade's legs, zero legs left out) as one ``trade``
transaction -- but from ONE plain row per trade instead of seven ``Leg`` objects run through the
generic ``ledger_post_many``: on PostgreSQL the statement builds the entries from the row (a fixed
template of seven legs that balances per asset by construction: ``portfolio.pg``), so no
per-entry Python object, parameter or JSON value exists. Here, per trade, only the sums the
checks and the caller need: each balance row's ``(d_total, d_locked)``. The rules are
``ledger_post``'s: every row locked first (users' rows before the system rows, by id), the
summed deltas checked before anything is written (a user's free balance never negative, no
locked part negative), then one statement writes the transactions, the entries and the balances.
``tests/trading/test_trigger_batch.py`` pins the outcome to the one-order path's, to the last digit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portfolio.models import Asset, LedgerAccount
from portfolio.pg import Deltas, Key, LockedRow, TradeRow, ledger_statements, trades_statement
from portfolio.services.ledger import _check, system_shard


class SpotTrade(NamedTuple):
    """One spot fill's posting, as plain values: the trader's ledger account, the user id (the
    shard key: which rows of ``house`` and ``fees`` it touches), the base asset, what the order
    held (asset and amount: released in the same transaction), the side, quantity, notional and
    fee, the order's id (the transaction's reference) and the memo."""

    account_id: int
    shard_key: int
    asset: str
    held_asset: str
    held: Decimal
    side: str
    qty: Decimal
    notional: Decimal
    fee: Decimal
    reference_id: str
    memo: str


# A user's row that the lock creates if it is missing: the lock reads only ``is_system`` of a key's
# account (``portfolio.pg``), so the traders' rows need no ``LedgerAccount`` each.
_TRADER = LedgerAccount(kind=LedgerAccount.Kind.USER)
_USD = str(Asset.USD)


def trade_deltas(trade: SpotTrade) -> tuple[tuple[str, Decimal, Decimal], ...]:
    """What ``trade`` adds to its trader's rows, per asset ``(asset, d_total, d_locked)``: the hold
    released (locked -> free, the total unchanged), the base asset bought or sold, the USD paid or
    received (``Execution.cash_delta``: ``-(notional + fee)`` for a buy, ``notional - fee`` for a sell)."""
    buy = trade.side == "buy"
    cash = -(trade.notional + trade.fee) if buy else trade.notional - trade.fee
    base = trade.qty if buy else -trade.qty
    held, held_asset = trade.held, trade.held_asset
    if not held:
        return ((_USD, cash, _ZERO), (trade.asset, base, _ZERO))
    if held_asset == _USD:  # a buy's hold
        return ((_USD, cash, -held), (trade.asset, base, _ZERO))
    if held_asset == trade.asset:  # a sell's
        return ((_USD, cash, _ZERO), (trade.asset, base, -held))
    return ((_USD, cash, _ZERO), (trade.asset, base, _ZERO), (held_asset, _ZERO, -held))


_ZERO = Decimal(0)


def _system_deltas(trade: SpotTrade) -> tuple[tuple[str, str, Decimal], ...]:
    """``(account, asset, amount)`` on the system rows: ``house`` takes the other side of the base
    and of the notional, ``fees`` the fee."""
    buy = trade.side == "buy"
    qty, notional = (-trade.qty, trade.notional) if buy else (trade.qty, -trade.notional)
    return (("house", trade.asset, qty), ("house", _USD, notional), ("fees", _USD, trade.fee))


def trades_lock(
    *, trades: Sequence[SpotTrade], house: LedgerAccount, fees: LedgerAccount
) -> dict[Key, LockedRow]:  # fmt: skip
    """Lock (creating when missing) every balance row the postings of ``trades`` touch: each
    trader's USD and base rows (the one-order path locks both) and the one it held on, then the
    ``house``/``fees`` shard rows -- one statement, users' rows before the system rows, by id (the
    global lock order). Plain rows ``(id, total, locked, allow_negative)``."""
    shards = max(1, settings.LEDGER_SYSTEM_SHARDS)
    system = {"house": house, "fees": fees}
    wanted: dict[Key, LedgerAccount] = {}
    for t in trades:
        wanted[(t.account_id, _USD, 0)] = _TRADER
        wanted[(t.account_id, t.asset, 0)] = _TRADER
        if t.held:
            wanted[(t.account_id, t.held_asset, 0)] = _TRADER
        shard = system_shard(t.shard_key, shards)
        for code, asset, amount in _system_deltas(t):
            if amount:
                wanted[(system[code].id, asset, shard)] = system[code]
    if not wanted:
        return {}
    return ledger_statements().balances_lock(wanted, light=True)


def ledger_post_trades(
    *, trades: Sequence[SpotTrade], house: LedgerAccount, fees: LedgerAccount, locked: Mapping[Key, LockedRow],
    post: Callable[..., list[int]] | None = None,
) -> list[int]:  # fmt: skip
    """Post one ``trade`` transaction per trade, in order; the new transactions' ids. ``locked``:
    ``trades_lock``'s rows, unchanged since (any other row a posting touches is locked here, after
    them). Raises ``InsufficientFunds``/``LedgerError`` before writing anything. ``post``: the
    statement (default: the connection's, ``portfolio.pg``; tests run the ORM twin on PostgreSQL too)."""
    if not trades:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post_trades must run inside transaction.atomic()")
    shards = max(1, settings.LEDGER_SYSTEM_SHARDS)
    ids = {"house": house.id, "fees": fees.id}
    deltas: Deltas = {}
    rows: list[TradeRow] = []
    for n, t in enumerate(trades):
        for asset, d_total, d_locked in trade_deltas(t):
            key = (t.account_id, asset, 0)
            total, held = deltas.get(key, _NO_DELTA)
            deltas[key] = (total + d_total, held + d_locked)
        shard = system_shard(t.shard_key, shards)
        for code, asset, amount in _system_deltas(t):
            if amount:
                key = (ids[code], asset, shard)
                total, held = deltas.get(key, _NO_DELTA)
                deltas[key] = (total + amount, held)
        rows.append(_row(n, t))
    missing = [key for key in deltas if key not in locked]
    if missing:
        system = {house.id: house, fees.id: fees}
        wanted = {key: system.get(key[0], _TRADER) for key in missing}
        locked = {**locked, **ledger_statements().balances_lock(wanted, light=True)}
    _check(dict(locked), deltas)
    balances = [(*locked[key][:3], d_total, d_locked) for key, (d_total, d_locked) in deltas.items()]
    return (post or trades_statement())(
        rows=rows, house_id=house.id, fees_id=fees.id, balances=balances, now=timezone.now()
    )


_NO_DELTA = (Decimal(0), Decimal(0))


def _row(n: int, t: SpotTrade) -> TradeRow:
    """The statement's row of a trade: the legs' amounts, signed (``portfolio.pg``)."""
    buy = t.side == "buy"
    cash = -(t.notional + t.fee) if buy else t.notional - t.fee
    return (
        n, t.account_id, t.asset, t.held_asset, t.held, t.qty if buy else -t.qty, cash,
        t.notional if buy else -t.notional, t.fee, str(t.reference_id), t.memo[:255],
    )  # fmt: skip
