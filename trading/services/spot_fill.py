"""One spot fill's writes, shared by a market order, a limit order marketable on arrival (taker)
and a resting limit the market came to (maker): the ledger posting (the trade's legs, and the
release of what the order held), the fill row, the base asset's book and the two user events
(``order_fill`` seq n, ``portfolio_update`` seq n+1, one batch), inside the caller's transaction,
after the caller locked the trader's balance rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from portfolio.events import portfolio_update_data
from portfolio.models import Asset, Balance, Bucket, LedgerAccount, LedgerReason
from portfolio.services import Leg, holding_apply_fill, ledger_post
from realtime.publish import user_events_emit_many
from trading.events import order_fill_data
from trading.execution import Execution
from trading.models import Fill, Order

Locked = dict[tuple[int, str, int], Balance]


def trade_legs(
    *, account: LedgerAccount, house: LedgerAccount, fees: LedgerAccount, plan: Execution, asset: str
) -> list[Leg]:
    sign = 1 if plan.side == "buy" else -1
    return [
        Leg(account, asset, sign * plan.qty),
        Leg(house, asset, -sign * plan.qty),
        Leg(account, Asset.USD, plan.cash_delta),
        Leg(house, Asset.USD, sign * plan.notional),
        Leg(fees, Asset.USD, plan.fee),
    ]


def release_legs(*, account: LedgerAccount, asset: str, amount: Decimal) -> list[Leg]:
    """What a resting order held goes back to free (locked -> free, the total unchanged)."""
    if not amount:
        return []
    return [Leg(account, asset, -amount, bucket=Bucket.LOCKED), Leg(account, asset, amount)]


def spot_fill_write(
    *,
    order: Order,
    plan: Execution,
    account: LedgerAccount,
    house: LedgerAccount,
    fees: LedgerAccount,
    asset: str,
    locked: Locked,
    now: datetime,
    liquidity: str = "taker",
    release: Decimal = Decimal(0),
) -> Fill:
    """Post the fill of ``order`` (saved, already showing its fill) as planned, releasing
    ``release`` of what it held in the same ledger transaction."""
    legs = [*release_legs(account=account, asset=order.held_asset or asset, amount=release)]
    legs += trade_legs(account=account, house=house, fees=fees, plan=plan, asset=asset)
    txn = ledger_post(
        reason=LedgerReason.TRADE, legs=legs, reference_type="order", reference_id=str(order.id),
        memo=f"{plan.side} {plan.qty} {asset} @ {plan.price}", shard_key=order.user_id,
    )  # fmt: skip
    fill = Fill.objects.create(
        order=order, user_id=order.user_id, symbol=order.symbol, side=plan.side, qty=plan.qty, price=plan.price,
        notional=plan.notional, fee=plan.fee, liquidity=liquidity, ledger_txn=txn, created_at=now,
    )  # fmt: skip
    holding = holding_apply_fill(
        account=account, asset=asset, side=plan.side, qty=plan.qty, notional=plan.notional, fee=plan.fee
    )
    portfolio = portfolio_update_data(account, balances=balances_after(locked, legs), holdings=[holding])
    user_events_emit_many(
        [(order.user_id, "order_fill", order_fill_data(order, fill)), (order.user_id, "portfolio_update", portfolio)]
    )
    return fill


def balances_after(locked: Locked, legs: list[Leg]) -> list[Balance]:
    """The user's balance rows as ``ledger_post`` left them, for the event payload, without a
    re-read: the rows are locked by this transaction from before the posting, so their state is
    what we read plus our legs. Unsaved copies: nothing here writes a balance."""
    after = []
    for (account_id, asset, _shard), row in locked.items():
        mine = [leg for leg in legs if leg.account.pk == account_id and leg.asset == asset]
        total = row.total + sum((leg.amount for leg in mine), Decimal(0))
        held = row.locked + sum((leg.amount for leg in mine if leg.bucket == Bucket.LOCKED), Decimal(0))
        after.append(Balance(account_id=account_id, asset=asset, total=total, locked=held))
    return after
