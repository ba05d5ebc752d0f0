"""Account lifecycle: system accounts, opening with the starting grant, reset to a new epoch, ops adjustments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from portfolio.assets import asset_known, asset_marks
from portfolio.errors import ResetBlocked
from portfolio.events import portfolio_update_publish
from portfolio.leaderboard import leaderboard_update_on_commit
from portfolio.models import (
    Asset,
    Balance,
    BalanceAdjustment,
    Epoch,
    EquitySnapshot,
    LedgerAccount,
    LedgerReason,
    SpotHolding,
)
from portfolio.services.holdings import holding_get_or_create
from portfolio.services.ledger import Leg, balance_lock, ledger_post
from portfolio.valuation import equity_value, sol_value
from pricing.errors import PriceUnavailable

if TYPE_CHECKING:
    from accounts.models import User

SYSTEM_CODES = ("grants", "fees", "house", "insurance")
_system_cache: dict[str, int] = {}


def system_account_get(*, code: str) -> LedgerAccount:
    """The system account ``code`` (created on first use; every process agrees on the row)."""
    if code not in SYSTEM_CODES:
        raise ValueError(f"unknown system account {code!r}")
    try:
        return LedgerAccount.objects.get(code=code)
    except LedgerAccount.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            account = LedgerAccount.objects.create(code=code, kind=LedgerAccount.Kind.SYSTEM)
            # Every shard row exists up front, so posting never inserts a balance row under a lock.
            Balance.objects.bulk_create(
                [
                    Balance(account=account, asset=asset, shard=shard, allow_negative=True)
                    for asset in (Asset.USD, Asset.SOL)  # other assets' rows: on first use
                    for shard in range(max(1, settings.LEDGER_SYSTEM_SHARDS))
                ]
            )
            return account
    except IntegrityError:
        return LedgerAccount.objects.get(code=code)


def _start_amounts() -> dict[str, Decimal]:
    return {Asset.USD: settings.PORTFOLIO_START_USD, Asset.SOL: settings.PORTFOLIO_START_SOL}


def _starting_equity(price: Decimal | None) -> Decimal:
    amounts = _start_amounts()
    prices: dict[str, Decimal] = {} if price is None else {Asset.SOL: price}
    return equity_value(cash=amounts[Asset.USD], holdings={Asset.SOL: amounts[Asset.SOL]}, prices=prices)


def _start_cost_basis(price: Decimal | None) -> Decimal:
    return sol_value(qty=settings.PORTFOLIO_START_SOL, price=price or Decimal(0))


def _post_to_start(
    *, account: LedgerAccount, grants: LedgerAccount, totals: dict[str, Decimal], reason: str, epoch: int, memo: str
) -> None:
    """Bring ``account`` from ``totals`` to the starting balances against ``grants`` (one ledger
    transaction referencing the epoch; none when nothing moves): USD and SOL to the grant, every
    other asset held to zero."""
    legs = []
    targets = {**{asset: Decimal(0) for asset in totals}, **_start_amounts()}
    for asset, target in sorted(targets.items()):
        delta = target - totals.get(asset, Decimal(0))
        legs += [Leg(account, asset, delta), Leg(grants, asset, -delta)]
    if any(leg.amount for leg in legs):
        ledger_post(
            reason=reason,
            legs=legs,
            reference_type="epoch",
            reference_id=str(epoch),
            memo=memo,
            shard_key=account.user_id or 0,
        )


def account_open(*, user: User, price: Decimal | None = None) -> LedgerAccount:
    """Open ``user``'s books with the starting grant (idempotent: an open account is returned as is)."""
    existing = LedgerAccount.objects.filter(user=user).first()
    if existing is not None:
        return existing
    grants = system_account_get(code="grants")
    with transaction.atomic():
        account = LedgerAccount.objects.create(kind=LedgerAccount.Kind.USER, code=f"user:{user.pk}", user=user)
        SpotHolding.objects.create(
            account=account, qty=settings.PORTFOLIO_START_SOL, cost_basis=_start_cost_basis(price)
        )
        Balance.objects.bulk_create([Balance(account=account, asset=asset) for asset in (Asset.USD, Asset.SOL)])
        Epoch.objects.create(account=account, number=1, starting_equity=_starting_equity(price))
        _post_to_start(
            account=account, grants=grants, totals={}, reason=LedgerReason.GRANT, epoch=1, memo="starting grant"
        )
    return account


def _reset_check(balances: dict[str, Balance], prices: Mapping[str, Decimal]) -> None:
    """A reset needs nothing locked, and a price for every token held (and SOL, when granted)."""
    if any(row.locked for row in balances.values()):
        raise ResetBlocked()
    needed = {asset for asset, row in balances.items() if asset != Asset.USD and row.total}
    if settings.PORTFOLIO_START_SOL:
        needed.add(Asset.SOL)
    unpriced = sorted(needed - set(prices))
    if unpriced:
        raise PriceUnavailable(
            f"No market price to value {', '.join(unpriced)} at reset; retry shortly.",
            extra={"reason": "the ended epoch's holdings need a price", "assets": unpriced},
            retry_after=2,
        )


def _epoch_end(
    *,
    account: LedgerAccount,
    totals: dict[str, Decimal],
    holdings: list[SpotHolding],
    prices: Mapping[str, Decimal],
    now: datetime,
) -> None:
    """Close the live epoch at its final equity (nothing is locked: no positions to value)."""
    old = Epoch.objects.get(account=account, number=account.epoch)
    old.ended_at = now
    tokens = {asset: total for asset, total in totals.items() if asset != Asset.USD}
    old.final_equity = equity_value(cash=totals.get(Asset.USD, Decimal(0)), holdings=tokens, prices=prices)
    old.realized_pnl = sum((holding.realized_pnl for holding in holdings), Decimal(0))
    old.fees_paid = sum((holding.fees_paid for holding in holdings), Decimal(0))
    old.save(update_fields=["ended_at", "final_equity", "realized_pnl", "fees_paid"])


def _epoch_start(*, account: LedgerAccount, price: Decimal | None, now: datetime) -> Epoch:
    """Epoch ``account.epoch`` at the starting balances: fresh books (the SOL one holding the
    grant, the others empty) and, with a price, its first snapshot."""
    epoch = Epoch.objects.create(
        account=account, number=account.epoch, starting_equity=_starting_equity(price), started_at=now
    )
    fresh = {"realized_pnl": 0, "fees_paid": 0, "volume": 0, "trade_count": 0, "updated_at": now}
    SpotHolding.objects.filter(account=account).exclude(asset=Asset.SOL).update(qty=0, cost_basis=0, **fresh)
    SpotHolding.objects.filter(account=account, asset=Asset.SOL).update(
        qty=settings.PORTFOLIO_START_SOL, cost_basis=_start_cost_basis(price), **fresh
    )
    if price is not None:
        EquitySnapshot.objects.create(
            account=account,
            epoch=epoch.number,
            taken_at=now,
            equity=epoch.starting_equity,
            cash=settings.PORTFOLIO_START_USD,
            sol_qty=settings.PORTFOLIO_START_SOL,
            price=price,
        )
    return epoch


def _user_assets(account: LedgerAccount) -> list[str]:
    """Every asset ``account`` has a balance row of (USD and SOL always)."""
    rows = Balance.objects.filter(account=account, shard=0).values_list("asset", flat=True)
    return sorted({Asset.USD, Asset.SOL, *rows})


def account_reset(*, user: User, prices: Mapping[str, Decimal]) -> Epoch:
    """Start a new epoch at the starting balances; the old epoch's numbers are kept.

    ``prices`` (asset -> price, read by the caller before any lock: the latest indexes, even
    slightly stale, the ones the leaderboard ranks with) value the old epoch's final equity, which
    the leaderboard chains into the account's result. Without a price for a token held (or SOL,
    granted) the reset is refused (``PriceUnavailable``, 503, nothing changes). Locks in the global
    order: the user's balance rows, the account row, the books, then ``grants`` (ledger_post).
    The account's leaderboard rows are rewritten once the reset commits.
    """
    account = account_open(user=user)
    grants = system_account_get(code="grants")
    with transaction.atomic(durable=True):
        rows = balance_lock(keys=[(account, asset, 0) for asset in _user_assets(account)])
        balances = {asset: row for (_a, asset, _s), row in rows.items()}
        _reset_check(balances, prices)
        account = LedgerAccount.objects.select_for_update().get(pk=account.pk)
        holdings = list(SpotHolding.objects.select_for_update().filter(account=account).order_by("pk"))
        now = timezone.now()
        totals = {asset: row.total for asset, row in balances.items()}
        _epoch_end(account=account, totals=totals, holdings=holdings, prices=prices, now=now)
        account.epoch += 1
        account.save(update_fields=["epoch"])
        memo = f"reset to epoch {account.epoch}"
        _post_to_start(
            account=account, grants=grants, totals=totals, reason=LedgerReason.RESET, epoch=account.epoch, memo=memo
        )
        epoch = _epoch_start(account=account, price=prices.get(Asset.SOL), now=now)
        # Registered first: on commit the row is rewritten before the event goes out (callbacks run in order).
        leaderboard_update_on_commit(account_id=account.pk)
        portfolio_update_publish(account=account)
    return epoch


def account_reset_at_mark(*, user: User) -> Epoch:
    """``POST /account/reset``: each token's latest index, even stale (the leaderboard's marks,
    read before any lock), values the ended epoch, so the reset leaves the trader's scores as they were."""
    account = account_open(user=user)
    marks = asset_marks(_user_assets(account))
    return account_reset(user=user, prices={asset: mark.price for asset, mark in marks.items()})


def balance_adjust(
    *, account: LedgerAccount, asset: str, amount: Decimal, reason: str, created_by: User | None = None
) -> BalanceAdjustment:
    """Ops adjustment of a user balance against ``grants``, with a reason; refuses a negative result.

    Locks in the global order (docs/ledger.md): the user's balance rows (every asset, as a reset
    does), the SOL book, then ``ledger_post`` takes the ``grants`` shard row last.
    """
    if account.is_system:
        raise ValueError("adjust user accounts only")
    if not reason.strip():
        raise ValueError("an adjustment needs a reason")
    grants = system_account_get(code="grants")
    if not asset_known(asset):
        raise ValueError(f"unknown asset {asset!r}")
    with transaction.atomic():
        balance_lock(keys=[(account, each, 0) for each in sorted({*_user_assets(account), asset})])
        if asset != Asset.USD:
            holding_get_or_create(account=account, asset=asset, lock=True)
        txn = ledger_post(
            reason=LedgerReason.ADJUSTMENT,
            legs=[Leg(account, asset, amount), Leg(grants, asset, -amount)],
            reference_type="adjustment",
            memo=reason,
            created_by=created_by,
            shard_key=account.user_id or 0,
        )
        adjustment = BalanceAdjustment.objects.create(
            account=account, asset=asset, amount=amount, reason=reason, txn=txn, created_by=created_by
        )
        txn.reference_id = str(adjustment.pk)
        txn.save(update_fields=["reference_id"])
        if asset != Asset.USD:
            SpotHolding.objects.filter(account=account, asset=asset).update(qty=F("qty") + amount)
        portfolio_update_publish(account=account)
    return adjustment
