"""The funding settlement's events: ``funding_payment`` per payment and one ``portfolio_update``
per account, stored in the settlement's transaction with the users' next seqs and published after
commit (``realtime.publish.user_events_emit_many``: a fixed number of statements, one Redis call
per shard)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.money import dec9
from core.timefmt import iso_utc
from realtime.publish import RawJSON, user_events_emit_many
from trading.funding_maths import Paid
from trading.funding_pg import accounts_get
from trading.pg import batch_statements
from trading.services.liquidation_batch import portfolio_updates


def funding_payment_data(
    p: Paid, *, symbol: str, funding_time: datetime, mark: Decimal, rate: Decimal
) -> dict[str, Any]:
    """The event's data: the payment (``amount`` signed, negative = paid) and the position after it."""
    return {
        "position_id": p.id,
        "symbol": symbol,
        "funding_time": iso_utc(funding_time),
        "rate": f"{rate:f}",
        "mark": dec9(mark),
        "side": p.side,
        "qty": dec9(p.qty),
        "amount": dec9(p.amount),
        "insurance": dec9(p.insurance),
        "margin": dec9(p.margin),
        "liquidation_price": dec9(p.liquidation_price),
        "funding_accrued": dec9(p.funding_accrued),
    }


def funding_payment_json(p: Paid, *, head: str) -> RawJSON:
    """``funding_payment_data`` as its JSON text, written directly (the settlement builds one per
    position: 100,000 a market); ``head``: the part every payment of the run shares
    (``funding_head``). Byte for byte ``json.dumps(funding_payment_data(...))`` (compact):
    tests/trading/test_funding_events.py."""
    return RawJSON(
        f'{{"position_id":"{p.id}",{head},"side":"{p.side}","qty":"{dec9(p.qty)}","amount":"{dec9(p.amount)}",'
        f'"insurance":"{dec9(p.insurance)}","margin":"{dec9(p.margin)}",'
        f'"liquidation_price":"{dec9(p.liquidation_price)}","funding_accrued":"{dec9(p.funding_accrued)}"}}'
    )


def funding_head(*, symbol: str, funding_time: datetime, mark: Decimal, rate: Decimal) -> str:
    """The keys every payment of one run shares, as JSON text (symbol, time, rate, mark)."""
    return f'"symbol":"{symbol}","funding_time":"{iso_utc(funding_time)}","rate":"{rate:f}","mark":"{dec9(mark)}"'


def funding_announce(paid: list[Paid], *, symbol: str, funding_time: datetime, mark: Decimal, rate: Decimal) -> None:
    """Inside the settlement's transaction: store the events, published after commit."""
    if not paid:
        return
    head = funding_head(symbol=symbol, funding_time=funding_time, mark=mark, rate=rate)
    events: list[tuple[int, str, RawJSON]] = [
        (p.user_id, "funding_payment", funding_payment_json(p, head=head)) for p in paid
    ]
    events += portfolio_updates(batch_statements(), accounts=accounts_get(account_ids=[p.account_id for p in paid]))
    user_events_emit_many(events)
