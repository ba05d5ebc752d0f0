"""Orders and their fills. An order's money lives in the portfolio ledger (``Fill.ledger_txn``).
Leveraged positions are in ``trading.position_models`` (imported here, so ``trading.models`` names
every model of the app)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portfolio.models import MONEY, LedgerTransaction
from trading.funding_models import FundingBasis, FundingPayment, FundingRun, FundingRunStatus  # noqa: F401
from trading.model_base import BPS_FIELD, SYMBOL_MAX_LENGTH, Side, StoredRejection
from trading.position_models import (  # noqa: F401  (registered here, imported from here)
    LEVERAGE_FIELD,
    POSITION_TRANSITIONS,
    RATE_FIELD,
    Position,
    PositionEvent,
    PositionEventKind,
    PositionOrder,
    PositionOrderAction,
    PositionRejection,
    PositionSide,
    PositionStatus,
)


class OrderType(models.TextChoices):
    MARKET = "market", "market"
    LIMIT = "limit", "limit"
    STOP = "stop", "stop (stop-market)"
    STOP_LIMIT = "stop_limit", "stop-limit"


STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)


class TimeInForce(models.TextChoices):
    """How long a limit order may rest: until canceled, until ``expire_at``, or not at all (fills
    are whole, so ``ioc`` and ``fok`` both mean "fill now or cancel")."""

    GTC = "gtc", "good till canceled"
    GTD = "gtd", "good till date (expire_at)"
    IOC = "ioc", "immediate or cancel"
    FOK = "fok", "fill or kill"


class OrderStatus(models.TextChoices):
    """A market order is born ``filled``; a limit order is born ``filled`` (marketable on
    arrival), ``canceled`` (ioc/fok that could not fill) or ``new`` (resting, its funds held); a
    stop is born ``new``. A resting order ends ``filled``, ``canceled``, ``expired``, ``rejected``
    (its stop triggered but the market could not take it: halted, no fresh price, outside its
    limit for an ioc/fok) or ``replaced`` (the old side of a replace).
    ``trading.services.order_states`` makes every change, by ``ORDER_TRANSITIONS``."""

    NEW = "new", "new (resting)"
    FILLED = "filled", "filled"
    CANCELED = "canceled", "canceled"
    EXPIRED = "expired", "expired"
    REJECTED = "rejected", "rejected"
    REPLACED = "replaced", "replaced"


FINAL_STATUSES: tuple[str, ...] = (
    OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED, OrderStatus.REPLACED
)  # fmt: skip
ORDER_TRANSITIONS: dict[str, set[str]] = {OrderStatus.NEW: set(FINAL_STATUSES)}
ORDER_TRANSITIONS.update({final: set() for final in FINAL_STATUSES})

# The resting limits (plain limits, perp limit entries, stop-limits whose stop triggered) and the
# stops still waiting for their stop price: each the predicate of its partial index, queried with
# exactly that predicate so PostgreSQL can use the index.
RESTING_LIMIT = Q(status="new") & (Q(stop_price__isnull=True) | Q(triggered_at__isnull=False))
WAITING_STOP = Q(status="new", stop_price__isnull=False, triggered_at__isnull=True)


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index=False: the composite indexes below lead with user (one index fewer per write).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", db_index=False)
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=SYMBOL_MAX_LENGTH)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=10, choices=OrderType.choices)
    qty = models.DecimalField(**MONEY, null=True, blank=True)
    notional = models.DecimalField(**MONEY, null=True, blank=True)
    filled_qty = models.DecimalField(**MONEY, default=0)
    filled_avg_price = models.DecimalField(**MONEY, null=True, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.FILLED)
    limit_price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_price = models.DecimalField(**MONEY, null=True, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)  # a stop's stop price crossed
    # The new order of a replace points at the one it replaced (which ends ``replaced``).
    replaces = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by")
    # Set on a perp limit entry only (an order on a perp market: buy = long, sell = short).
    leverage = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # db_default on the columns added for limit orders: the one-call fill's INSERT (a released SQL
    # function, trading/sql/fill_market_order_v2.sql) names only the columns it knew.
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, blank=True, default="", db_default="")
    expire_at = models.DateTimeField(null=True, blank=True)
    post_only = models.BooleanField(default=False, db_default=False)
    # What a resting order holds of the trader's funds (locked in the ledger): USD for a buy (its
    # worst-case cost), the base asset for a sell; 0 once it is final.
    held_asset = models.CharField(max_length=16, blank=True, default="", db_default="")
    held = models.DecimalField(**MONEY, default=0, db_default=0)
    fee = models.DecimalField(**MONEY, default=0)
    slippage_bps = models.DecimalField(**BPS_FIELD, default=0)
    index_price = models.DecimalField(**MONEY, null=True, blank=True)
    price_source = models.CharField(max_length=128, blank=True, default="")
    epoch = models.PositiveIntegerField(default=1)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    filled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # canceled, expired, rejected or replaced

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="order_unique_user_client_order_id"),
            models.CheckConstraint(
                name="order_limit_has_price_and_qty",
                condition=~Q(type__in=["limit", "stop_limit"]) | Q(limit_price__gt=0, qty__isnull=False),
            ),
            models.CheckConstraint(
                name="order_stop_has_stop_price",
                condition=Q(type__in=["stop", "stop_limit"], stop_price__gt=0, qty__isnull=False)
                | Q(~Q(type__in=["stop", "stop_limit"]), stop_price__isnull=True),
            ),
            models.CheckConstraint(name="order_held_non_negative", condition=Q(held__gte=0)),
            models.CheckConstraint(name="order_holds_only_while_new", condition=Q(status="new") | Q(held=0)),
            models.CheckConstraint(name="order_qty_positive", condition=Q(qty__isnull=True) | Q(qty__gt=0)),
            models.CheckConstraint(
                name="order_notional_positive", condition=Q(notional__isnull=True) | Q(notional__gt=0)
            ),
            models.CheckConstraint(
                name="order_qty_xor_notional",
                condition=Q(qty__isnull=True, notional__isnull=False) | Q(qty__isnull=False, notional__isnull=True),
            ),
            models.CheckConstraint(name="order_filled_qty_non_negative", condition=Q(filled_qty__gte=0)),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="order_user_created"),
            # The trigger engine's crossed-orders query (open orders only: a fill or cancel leaves it).
            models.Index(
                fields=["symbol", "side", "limit_price", "created_at"],
                name="order_open_sym_side_limit",
                condition=RESTING_LIMIT,
            ),
            models.Index(
                fields=["symbol", "side", "stop_price", "created_at"],
                name="order_open_sym_side_stop",
                condition=WAITING_STOP,
            ),
            models.Index(
                fields=["expire_at"], name="order_open_expiry", condition=Q(status="new", time_in_force="gtd")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.qty or self.notional} {self.symbol} ({self.status})"


class Fill(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fills", db_index=False)
    symbol = models.CharField(max_length=SYMBOL_MAX_LENGTH)
    side = models.CharField(max_length=4, choices=Side.choices)
    qty = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)
    notional = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    liquidity = models.CharField(max_length=5, default="taker")  # "maker" for a resting limit's fill
    ledger_txn = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="fill")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(name="fill_qty_positive", condition=Q(qty__gt=0)),
            models.CheckConstraint(name="fill_price_positive", condition=Q(price__gt=0)),
            models.CheckConstraint(name="fill_fee_non_negative", condition=Q(fee__gte=0)),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="fill_user_created")]

    def __str__(self) -> str:
        return f"{self.side} {self.qty} @ {self.price}"


class OrderRejection(StoredRejection):
    """A market order's stored rejection."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="rejection_unique_user_client_order_id")
        ]
