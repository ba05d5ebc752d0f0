"""The funding settlement's ORM twin (SQLite, embedded mode; ``trading.funding_pg`` has the
PostgreSQL statement): the same rules through the ORM, ``trading.funding_maths`` and the
ledger's posting service (``ledger_post_many_ids``: one balanced ``funding`` transaction per
payment). Tests run it on PostgreSQL too and compare it with the statement."""

from __future__ import annotations

from decimal import Decimal

from portfolio.models import LedgerAccount, LedgerReason
from portfolio.services import Leg, Posting, ledger_post_many_ids
from trading.funding_maths import Paid, Settle, funding_amount, funding_due
from trading.margin import liquidation_price
from trading.models import FundingPayment, Position, PositionStatus


def settle_orm(s: Settle) -> list[Paid]:
    """Lock the positions (after the owners' rows: the lock order), post, write, answer."""
    positions = list(
        Position.objects.select_for_update(of=("self",))
        .filter(symbol=s.symbol, status=PositionStatus.OPEN, opened_at__lte=s.funding_time)
        .order_by("user_id", "pk")
    )
    planned: list[tuple[Position, Decimal, Decimal]] = []
    for p in positions:
        due = funding_due(side=p.side, qty=p.qty, mark=s.mark, rate=s.rate)
        if due:
            planned.append((p, due, funding_amount(due=due, margin=p.margin)))
    if not planned:
        return []
    accounts = LedgerAccount.objects.in_bulk([p.account_id for p, _d, _a in planned])
    house, insurance = LedgerAccount.objects.get(pk=s.house_id), LedgerAccount.objects.get(pk=s.insurance_id)
    txn_ids = ledger_post_many_ids(
        postings=[
            Posting(
                reason=LedgerReason.FUNDING,
                legs=[
                    Leg(accounts[p.account_id], "USD", amount, bucket="locked"),
                    Leg(house, "USD", -due),
                    Leg(insurance, "USD", due - amount),
                ],  # fmt: skip
                reference_type="position",
                reference_id=str(p.pk),
                memo=f"funding {p.side} {p.qty} {s.symbol} @ {s.mark} rate {s.rate}",
                shard_key=p.user_id,
            )
            for p, due, amount in planned
        ]
    )
    out: list[Paid] = []
    for (p, due, amount), txn_id in zip(planned, txn_ids, strict=True):
        p.margin += amount
        p.funding_accrued += amount
        p.liquidation_price = liquidation_price(p.side, p.entry_price, p.margin, p.qty, p.mmr, s.tick)
        p.updated_at = s.now
        out.append(Paid(str(p.pk), p.user_id, p.account_id, p.side, p.qty, p.margin, p.liquidation_price,
                        p.funding_accrued, amount, due - amount, txn_id))  # fmt: skip
    Position.objects.bulk_update(
        [p for p, _d, _a in planned], ["margin", "funding_accrued", "liquidation_price", "updated_at"]
    )
    FundingPayment.objects.bulk_create(
        [
            FundingPayment(
                run_id=s.run_id,
                position_id=p.pk,
                user_id=p.user_id,
                symbol=s.symbol,
                funding_time=s.funding_time,
                side=p.side,
                qty=p.qty,
                mark=s.mark,
                rate=s.rate,
                amount=amount,
                insurance=due - amount,
                margin_after=p.margin,
                ledger_txn_id=txn_id,
                created_at=s.now,
            )  # fmt: skip
            for (p, due, amount), txn_id in zip(planned, txn_ids, strict=True)
        ]
    )
    return out
