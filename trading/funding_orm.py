"""The funding settlement's ORM twin (SQLite, embedded mode; ``trading.funding_pg`` has the
PostgreSQL statement): the same rules through the ORM, ``trading.funding_maths`` and the
ledger's posting service (``ledger_post_many_ids``: one balanced ``funding`` transaction per
payment). Tests run it on PostgreSQL too and compare it with the statement."""

from __future__ import annotations

from decimal import Decimal

from portfolio.models import LedgerAccount, LedgerReason
from portfolio.services import Leg, Posting, ledger_post_many_ids
from realtime.publish import raw_json
from trading.funding_maths import Paid, Settle, Settled, funding_amount, funding_due
from trading.funding_payloads import funding_payment_data, funding_portfolio_data
from trading.margin import is_crossed, liquidation_price
from trading.models import FundingPayment, Position, PositionStatus


def settle_orm(s: Settle) -> list[Settled]:
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
    return _settled(out, s)


def _settled(paid: list[Paid], s: Settle) -> list[Settled]:
    """Each payment with its events' data as JSON text (``trading.funding_payloads``), from the
    owners' balances and open positions after the payments."""
    from django.db.models import Count, Sum

    from portfolio.models import Balance

    account_ids = [p.account_id for p in paid]
    usd = {b.account_id: b for b in Balance.objects.filter(account_id__in=account_ids, asset="USD", shard=0)}
    epochs = dict(LedgerAccount.objects.filter(pk__in=account_ids).values_list("pk", "epoch"))
    totals = {
        row["account_id"]: row
        for row in Position.objects.filter(account_id__in=account_ids, status=PositionStatus.OPEN)
        .values("account_id")
        .annotate(n=Count("id"), m=Sum("margin"))
        .order_by()
    }
    out = []
    for p in paid:
        payment = funding_payment_data(
            position_id=p.id, symbol=s.symbol, funding_time=s.funding_time, mark=s.mark, rate=s.rate, side=p.side,
            qty=p.qty, amount=p.amount, insurance=p.insurance, margin=p.margin, liquidation_price=p.liquidation_price,
            funding_accrued=p.funding_accrued,
        )  # fmt: skip
        balance, total = usd[p.account_id], totals[p.account_id]
        portfolio = funding_portfolio_data(
            epoch=epochs[p.account_id], total=balance.total, locked=balance.locked, open_count=total["n"],
            margin_used=total["m"],
        )  # fmt: skip
        crossed = p.amount < 0 and is_crossed(p.side, p.liquidation_price, s.mark)
        out.append(Settled(p.user_id, p.id, crossed, raw_json(payment), raw_json(portfolio)))
    return out
