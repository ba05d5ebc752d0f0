"""Money: ledger accounts, cached balances, the append-only ledger, spot books, epochs, snapshots.

Every amount is ``NUMERIC(38, 9)`` (SOL has 9 decimals; USD amounts are quantized to
``USD_QUANT`` by the code that computes them). Balances are cached sums of ledger entries,
changed only by ``portfolio.services.ledger.ledger_post`` in the same transaction.
"""

from __future__ import annotations

from typing import TypedDict

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class DecimalSpec(TypedDict):
    """A ``DecimalField``'s precision, spread into it as ``**MONEY``."""

    max_digits: int
    decimal_places: int


MONEY: DecimalSpec = {"max_digits": 38, "decimal_places": 9}


class Asset(models.TextChoices):
    """The two assets every account starts with. Any token of the market registry
    (``pricing.Token.code``) is an asset too: asset columns are free text, checked by
    ``portfolio.assets.asset_known`` where money is posted."""

    USD = "USD", "US dollar (virtual)"
    SOL = "SOL", "Solana"


ASSET_MAX_LENGTH = 16


class Bucket(models.TextChoices):
    FREE = "free", "free"
    LOCKED = "locked", "locked (margin, holds)"


class LedgerAccount(models.Model):
    """A user's books (one per user) or a system account (``grants``, ``fees``, ``house``, ``insurance``)."""

    class Kind(models.TextChoices):
        USER = "user", "user"
        SYSTEM = "system", "system"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    code = models.CharField(max_length=40, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_account"
    )
    epoch = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="ledger_account_user_iff_user_kind",
                condition=(Q(kind="user", user__isnull=False) | Q(kind="system", user__isnull=True)),
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_system(self) -> bool:
        return self.kind == self.Kind.SYSTEM


class Balance(models.Model):
    """Cached ``sum(entries)`` per account, asset (and shard, for system accounts).

    ``total`` includes ``locked``; ``free = total - locked``. User rows may never go below
    zero free nor lock more than they hold; system rows (``allow_negative``) may be negative
    (``grants`` is, by construction) but never lock.
    """

    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="balances", db_index=False)
    asset = models.CharField(max_length=ASSET_MAX_LENGTH)
    shard = models.PositiveSmallIntegerField(default=0)
    total = models.DecimalField(**MONEY, default=0)
    locked = models.DecimalField(**MONEY, default=0)
    allow_negative = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "asset", "shard"], name="balance_unique_account_asset_shard"),
            models.CheckConstraint(name="balance_locked_non_negative", condition=Q(locked__gte=0)),
            models.CheckConstraint(
                name="balance_free_non_negative_and_locked_le_total",
                condition=Q(total__gte=F("locked")) | Q(allow_negative=True, locked=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account.code}:{self.asset}#{self.shard}"

    @property
    def free(self):
        return self.total - self.locked


class LedgerReason(models.TextChoices):
    GRANT = "grant", "starting grant"
    TRADE = "trade", "spot fill"
    RESET = "reset", "account reset (new epoch)"
    ADJUSTMENT = "adjustment", "ops adjustment"
    MARGIN = "margin", "margin lock/release"
    HOLD = "hold", "resting order's funds held/released"
    REALIZED_PNL = "realized_pnl", "position PnL"
    FUNDING = "funding", "funding payment"
    LIQUIDATION = "liquidation", "liquidation"


class LedgerTransaction(models.Model):
    """One balanced group of entries: per asset, the amounts sum to zero."""

    reason = models.CharField(max_length=16, choices=LedgerReason.choices)
    reference_type = models.CharField(max_length=24, blank=True, default="")
    reference_id = models.CharField(max_length=64, blank=True, default="")
    memo = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(  # indexed only where set (admin postings): see Meta
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["reference_type", "reference_id"], name="ledger_txn_reference"),
            models.Index(fields=["created_by"], name="ledger_txn_created_by", condition=Q(created_by__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"txn {self.pk} {self.reason}"


class LedgerEntry(models.Model):
    """Append-only: never updated, never deleted."""

    txn = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    # db_index=False: ledger_entry_account_time leads with account (one index fewer per entry).
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    asset = models.CharField(max_length=ASSET_MAX_LENGTH)
    bucket = models.CharField(max_length=8, choices=Bucket.choices, default=Bucket.FREE)
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(name="ledger_entry_amount_non_zero", condition=~Q(amount=0))]
        indexes = [models.Index(fields=["account", "created_at"], name="ledger_entry_account_time")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.asset} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("ledger entries are append-only")


class SpotHolding(models.Model):
    """A user's book of one spot asset (SOL, BONK…) for the current epoch: average cost,
    realized PnL, fees paid. Created with the account for SOL, on the first fill for the others.

    ``qty`` always equals the asset's balance (reconcile checks it); ``cost_basis`` is the USD
    cost of ``qty`` at average cost (fees excluded; they are in ``fees_paid``).
    """

    # db_index=False: the (account, asset) unique constraint leads with account.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="spot_holdings", db_index=False)
    asset = models.CharField(max_length=ASSET_MAX_LENGTH, default=Asset.SOL)
    qty = models.DecimalField(**MONEY, default=0)
    cost_basis = models.DecimalField(**MONEY, default=0)
    realized_pnl = models.DecimalField(**MONEY, default=0)
    fees_paid = models.DecimalField(**MONEY, default=0)
    volume = models.DecimalField(**MONEY, default=0)
    trade_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(name="spot_holding_qty_non_negative", condition=Q(qty__gte=0)),
            models.UniqueConstraint(fields=["account", "asset"], name="spot_holding_unique_account_asset"),
        ]

    def __str__(self) -> str:
        return f"{self.asset} book of {self.account_id}: {self.qty}"


class Epoch(models.Model):
    """A period of an account between resets; history and returns are per epoch."""

    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="epochs", db_index=False)
    number = models.PositiveIntegerField()
    starting_equity = models.DecimalField(**MONEY)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The closing numbers of a finished epoch (kept for history).
    final_equity = models.DecimalField(**MONEY, null=True, blank=True)
    realized_pnl = models.DecimalField(**MONEY, null=True, blank=True)
    fees_paid = models.DecimalField(**MONEY, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="epoch_unique_account_number")]

    def __str__(self) -> str:
        return f"epoch {self.number} of {self.account_id}"


class EquitySnapshot(models.Model):
    """Equity of one account at one time (periodic task, and at reset)."""

    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="snapshots", db_index=False)
    epoch = models.PositiveIntegerField()
    taken_at = models.DateTimeField(default=timezone.now)
    equity = models.DecimalField(**MONEY)
    cash = models.DecimalField(**MONEY)
    sol_qty = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)

    class Meta:
        indexes = [models.Index(fields=["account", "epoch", "taken_at"], name="snapshot_account_epoch_time")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.taken_at:%Y-%m-%d %H:%M} {self.equity}"


class BalanceAdjustment(models.Model):
    """An ops adjustment, made in the admin; saving it posts a ledger transaction against ``grants``."""

    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="adjustments")
    asset = models.CharField(
        max_length=ASSET_MAX_LENGTH, help_text="USD or a token code of the market registry (SOL, BONK…)."
    )
    amount = models.DecimalField(**MONEY, help_text="Positive credits the user, negative debits.")
    reason = models.CharField(max_length=255)
    txn = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.amount} {self.asset} to {self.account_id}: {self.reason}"
