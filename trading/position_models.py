"""Leveraged positions (any perp market of the registry, isolated margin): the position, its
money-moving steps, the perp commands' idempotency records and stored rejections."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portfolio.models import MONEY, DecimalSpec, LedgerTransaction
from trading.model_base import BPS_FIELD, Side, StoredRejection

# --- leveraged positions (any perp market of the registry, isolated margin) ----------------

# A perp market's symbol (``pricing.Market.symbol``): free text, validated by the registry
# (``pricing.markets.market_for_trading``) when a command names it.
PERP_SYMBOL_FIELD: dict = {"max_length": 24, "default": "SOL-PERP"}


class PositionSide(models.TextChoices):
    LONG = "long", "long"
    SHORT = "short", "short"


class PositionStatus(models.TextChoices):
    OPEN = "open", "open"
    CLOSED = "closed", "closed"
    LIQUIDATED = "liquidated", "liquidated"


# Every allowed status change; ``trading.services.positions.position_transition`` enforces it.
# A partial close leaves the position open (no transition).
POSITION_TRANSITIONS: dict[str, set[str]] = {
    PositionStatus.OPEN: {PositionStatus.CLOSED, PositionStatus.LIQUIDATED},
    PositionStatus.CLOSED: set(),
    PositionStatus.LIQUIDATED: set(),
}
LEVERAGE_FIELD: DecimalSpec = {"max_digits": 8, "decimal_places": 2}
RATE_FIELD: DecimalSpec = {"max_digits": 10, "decimal_places": 6}


class Position(models.Model):
    """An isolated-margin position, one open per user and market (net: an order on the other
    side reduces, closes or flips it). ``qty``/``margin``/``liquidation_price`` are the open
    remainder (kept as last open when the position ends); the margin is locked in the ledger.
    ``updated_at`` is when its size or margin (so its liquidation price) last changed: a price
    tick acts only on positions whose liquidation price was set before it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index=False: the composite indexes below lead with user / account (a liquidation
    # rewrites every index of the row: two fewer).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="positions", db_index=False
    )
    account = models.ForeignKey(
        "portfolio.LedgerAccount", on_delete=models.PROTECT, related_name="positions", db_index=False
    )
    client_order_id = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    symbol = models.CharField(**PERP_SYMBOL_FIELD)
    side = models.CharField(max_length=5, choices=PositionSide.choices)
    status = models.CharField(max_length=10, choices=PositionStatus.choices, default=PositionStatus.OPEN)
    leverage = models.DecimalField(**LEVERAGE_FIELD)
    mmr = models.DecimalField(**RATE_FIELD)
    entry_price = models.DecimalField(**MONEY)
    index_price = models.DecimalField(**MONEY)
    slippage_bps = models.DecimalField(**BPS_FIELD, default=0)
    price_source = models.CharField(max_length=128, blank=True, default="")
    qty = models.DecimalField(**MONEY)
    margin = models.DecimalField(**MONEY)
    initial_qty = models.DecimalField(**MONEY)
    initial_margin = models.DecimalField(**MONEY)
    liquidation_price = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY, default=0)  # opening fee
    fees_paid = models.DecimalField(**MONEY, default=0)  # opening + closing fees
    realized_pnl = models.DecimalField(**MONEY, default=0)
    # Funding paid (< 0) or received (> 0) so far, out of or into ``margin`` (docs/positions.md,
    # "Funding"); db_default: the set-based inserts name only the columns they know.
    funding_accrued = models.DecimalField(**MONEY, default=0, db_default=0)
    exit_price = models.DecimalField(**MONEY, null=True, blank=True)  # last close/liquidation price
    # Take-profit / stop-loss (docs/positions.md): the index price at which the trigger engine
    # closes the whole position at market; both cleared when the position ends (OCO).
    take_profit_price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_loss_price = models.DecimalField(**MONEY, null=True, blank=True)
    epoch = models.PositiveIntegerField(default=1)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="position_unique_user_client_order_id"),
            # Net positions: at most one open position per user and market.
            models.UniqueConstraint(
                fields=["user", "symbol"], condition=Q(status="open"), name="position_one_open_per_user_symbol"
            ),
            models.CheckConstraint(name="position_qty_positive", condition=Q(qty__gt=0)),
            models.CheckConstraint(name="position_margin_positive", condition=Q(margin__gt=0)),
            models.CheckConstraint(name="position_entry_positive", condition=Q(entry_price__gt=0)),
            models.CheckConstraint(name="position_leverage_at_least_one", condition=Q(leverage__gte=1)),
            models.CheckConstraint(name="position_mmr_in_range", condition=Q(mmr__gte=0, mmr__lt=1)),
            models.CheckConstraint(name="position_liq_price_non_negative", condition=Q(liquidation_price__gte=0)),
            models.CheckConstraint(
                name="position_tp_positive", condition=Q(take_profit_price__isnull=True) | Q(take_profit_price__gt=0)
            ),
            models.CheckConstraint(
                name="position_sl_positive", condition=Q(stop_loss_price__isnull=True) | Q(stop_loss_price__gt=0)
            ),
            models.CheckConstraint(
                name="position_closed_at_iff_ended",
                condition=Q(status="open", closed_at__isnull=True) | (~Q(status="open") & Q(closed_at__isnull=False)),
            ),
        ]
        indexes = [
            # The engine's crossed-positions query, per market: symbol = S, long liq >= P, short
            # liq <= P (equality on the first two columns, range on the last). Partial (open rows
            # only), like the per-account one: an ended position leaves both, so a liquidation or
            # close writes two index entries fewer.
            models.Index(
                fields=["symbol", "side", "liquidation_price"],
                name="position_open_sym_side_liq",
                condition=Q(status="open"),
            ),
            # The TP/SL trigger engine's crossed-positions query, per market and side: a range on
            # the trigger price over the open positions that have one (most have none).
            models.Index(
                fields=["symbol", "side", "take_profit_price"],
                name="position_open_sym_side_tp",
                condition=Q(status="open", take_profit_price__isnull=False),
            ),
            models.Index(
                fields=["symbol", "side", "stop_loss_price"],
                name="position_open_sym_side_sl",
                condition=Q(status="open", stop_loss_price__isnull=False),
            ),
            models.Index(fields=["user", "status", "opened_at"], name="position_user_status_opened"),
            models.Index(fields=["account"], name="position_open_account", condition=Q(status="open")),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.qty} {self.symbol} x{self.leverage} ({self.status})"


class PositionEventKind(models.TextChoices):
    OPEN = "open", "open"
    INCREASE = "increase", "increase (same side)"
    CLOSE = "close", "close (all or part)"
    LIQUIDATION = "liquidation", "liquidation"


class PositionCloseReason(models.TextChoices):
    """Why a close happened when the trader did not send it: the position's take-profit or
    stop-loss fired (``trading.services.position_triggers``). Blank for every other step."""

    TAKE_PROFIT = "take_profit", "take-profit"
    STOP_LOSS = "stop_loss", "stop-loss"


class PositionEvent(models.Model):
    """One money-moving step of a position (open, each close, the liquidation) and its ledger transaction."""

    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=12, choices=PositionEventKind.choices)
    qty = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)  # fill price (open/close) or the tick price (liquidation)
    index_price = models.DecimalField(**MONEY)
    margin = models.DecimalField(**MONEY)  # locked (open) or released/forfeited (close/liquidation)
    fee = models.DecimalField(**MONEY, default=0)
    realized_pnl = models.DecimalField(**MONEY, default=0)
    insurance = models.DecimalField(**MONEY, default=0)  # + to the fund, - paid by it
    liquidation_price = models.DecimalField(**MONEY)  # the position's liquidation price at that moment
    price_computed_at = models.DateTimeField(null=True, blank=True)  # the tick's own time (liquidation, TP/SL)
    # take_profit / stop_loss for a close the trigger engine made; db_default: the liquidation
    # batch's INSERT names only the columns it knows.
    reason = models.CharField(max_length=16, choices=PositionCloseReason.choices, blank=True, default="", db_default="")
    ledger_txn = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="position_event")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(name="position_event_qty_positive", condition=Q(qty__gt=0)),
            models.CheckConstraint(name="position_event_price_positive", condition=Q(price__gt=0)),
            models.UniqueConstraint(
                fields=["position"], condition=Q(kind="liquidation"), name="position_event_one_liquidation"
            ),
        ]
        indexes = [models.Index(fields=["kind", "created_at"], name="position_event_kind_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.qty} @ {self.price}"


class PositionRejection(StoredRejection):
    """A position command's stored rejection (an order by side, or a close)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_order_id"], name="position_rejection_unique_user_client_order_id"
            )
        ]


class PositionOrderAction(models.TextChoices):
    """What a perp order did to the user's net position on its market."""

    OPEN = "open", "opened a position"
    INCREASE = "increase", "increased the position"
    REDUCE = "reduce", "reduced the position"
    CLOSE = "close", "closed the position"
    FLIP = "flip", "closed the position and opened the other side"
    LIQUIDATION = "liquidation", "settled a crossed position as its liquidation"


class PositionOrder(models.Model):
    """A trader's command on a perp market (open by side, or close) and what it did: the
    idempotency record of its ``client_order_id`` (unique per user with ``PositionRejection``'s).

    ``position`` is the position the command answers with (the new one after a flip); ``event``
    the step it wrote on it (its open, increase, close or liquidation history row)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    client_order_id = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    symbol = models.CharField(**PERP_SYMBOL_FIELD)
    side = models.CharField(max_length=4, choices=Side.choices)  # the taker side: buy or sell
    action = models.CharField(max_length=12, choices=PositionOrderAction.choices)
    qty = models.DecimalField(**MONEY)  # filled
    price = models.DecimalField(**MONEY)  # fill price (the index for a liquidation)
    index_price = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY, default=0)
    realized_pnl = models.DecimalField(**MONEY, default=0)
    # db_index=False: the (position, created_at) index leads with it; events are never deleted.
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="orders", db_index=False)
    event = models.ForeignKey(
        PositionEvent, on_delete=models.PROTECT, related_name="+", null=True, blank=True, db_index=False
    )
    created_by = models.ForeignKey(  # set when ops closed the position from the admin
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True, db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="position_order_unique_client_order_id"),
            models.CheckConstraint(name="position_order_qty_positive", condition=Q(qty__gt=0)),
        ]
        indexes = [models.Index(fields=["position", "created_at"], name="position_order_position_time")]

    def __str__(self) -> str:
        return f"{self.action} {self.side} {self.qty} {self.symbol}"
