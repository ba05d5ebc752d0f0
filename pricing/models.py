"""Market-data tables: the market registry (tokens and the markets on them), per-source health
for ops, and 1-minute candles of each index."""

from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# Prices and quantities are NUMERIC(38, 9) everywhere (portfolio.models.MONEY): a tick or a step
# finer than 1e-9 could not be stored, so the registry refuses one.
REGISTRY_DECIMAL: dict[str, Any] = {"max_digits": 38, "decimal_places": 9}


class Token(models.Model):
    """A base asset: its ledger code, its SPL mint and, per price source, the id that source
    knows it by (blank when the venue does not list it). One index price per token
    (``<code>-USD``): its spot market and its perp both trade on it."""

    code = models.CharField(max_length=16, unique=True, help_text="Ledger asset code, e.g. SOL, BONK.")
    name = models.CharField(max_length=64)
    mint = models.CharField(max_length=44, unique=True, help_text="SPL mint address (base58).")
    decimals = models.PositiveSmallIntegerField(help_text="The SPL token's decimals (SOL: 9).")
    pyth_feed_id = models.CharField(max_length=64, blank=True, help_text="Pyth Crypto.<X>/USD feed id, hex.")
    jupiter_id = models.CharField(max_length=44, blank=True, help_text="Jupiter price id (the mint).")
    backpack_symbol = models.CharField(max_length=32, blank=True)
    coinbase_product = models.CharField(max_length=32, blank=True)
    kraken_pair = models.CharField(max_length=32, blank=True)
    binance_symbol = models.CharField(max_length=32, blank=True)
    quorum = models.PositiveSmallIntegerField(
        default=2, help_text="Live sources that must agree for an index price (2 unless few venues list it)."
    )
    synthetic_start = models.DecimalField(**REGISTRY_DECIMAL, help_text="Synthetic mode: the walk's first price.")
    synthetic_volatility = models.DecimalField(
        max_digits=10, decimal_places=6, default="0.0005", help_text="Synthetic mode: max move per tick (fraction)."
    )
    synthetic_seed = models.CharField(max_length=32, blank=True, help_text="Synthetic mode: seed (default: code).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(name="token_decimals_in_range", condition=Q(decimals__lte=9)),
            models.CheckConstraint(name="token_quorum_positive", condition=Q(quorum__gte=1)),
            models.CheckConstraint(name="token_synthetic_start_positive", condition=Q(synthetic_start__gt=0)),
        ]

    def __str__(self) -> str:
        return self.code


class MarketKind(models.TextChoices):
    SPOT = "spot", "spot"
    PERP = "perp", "perpetual (isolated margin)"


class MarketStatus(models.TextChoices):
    ACTIVE = "active", "active"
    HALTED = "halted", "halted (no new orders or positions; closes and liquidations go on)"
    DELISTED = "delisted", "delisted"


class Market(models.Model):
    """A tradable market: ``SOL-USD`` (spot) or ``SOL-PERP`` (perp) on a token, with its lot and
    price rules. Everything that trades reads these rules from ``pricing.markets``."""

    symbol = models.CharField(max_length=24, unique=True)
    kind = models.CharField(max_length=4, choices=MarketKind.choices)
    base = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="markets")
    quote = models.CharField(max_length=8, default="USD", editable=False)
    qty_step = models.DecimalField(**REGISTRY_DECIMAL)
    min_qty = models.DecimalField(**REGISTRY_DECIMAL)
    min_notional = models.DecimalField(**REGISTRY_DECIMAL, default=1)
    max_notional = models.DecimalField(**REGISTRY_DECIMAL, default=1000000)
    price_tick = models.DecimalField(**REGISTRY_DECIMAL)
    max_leverage = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    mmr = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    status = models.CharField(max_length=8, choices=MarketStatus.choices, default=MarketStatus.ACTIVE)
    # A perp market's id at each venue whose perp mark price and funding rate make its mark
    # (pricing.perp_sources; blank: that venue is not asked). Spot markets leave them blank.
    backpack_perp_symbol = models.CharField(max_length=32, blank=True, help_text="Backpack perp, e.g. SOL_USDC_PERP.")
    binance_perp_symbol = models.CharField(max_length=32, blank=True, help_text="Binance USD-M future, e.g. SOLUSDT.")
    hyperliquid_coin = models.CharField(max_length=32, blank=True, help_text="Hyperliquid perp coin, e.g. SOL.")
    perp_contract_size = models.DecimalField(
        max_digits=20, decimal_places=6, default=1,
        help_text="Units of the token one venue contract quotes: 1000 for Binance's 1000BONKUSDT and "
        "Hyperliquid's kBONK (their marks are divided by it). The same at every venue id above.",
    )  # fmt: skip
    sort_order = models.PositiveSmallIntegerField(default=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "symbol"]
        constraints = [
            models.CheckConstraint(name="market_qty_step_positive", condition=Q(qty_step__gt=0)),
            models.CheckConstraint(name="market_min_qty_ge_step", condition=Q(min_qty__gte=F("qty_step"))),
            models.CheckConstraint(name="market_price_tick_positive", condition=Q(price_tick__gt=0)),
            models.CheckConstraint(name="market_min_notional_positive", condition=Q(min_notional__gt=0)),
            models.CheckConstraint(name="market_perp_contract_size_positive", condition=Q(perp_contract_size__gt=0)),
            models.CheckConstraint(name="market_max_notional_ge_min", condition=Q(max_notional__gte=F("min_notional"))),
            models.CheckConstraint(
                name="market_perp_iff_margin_rules",
                condition=Q(kind="spot", max_leverage__isnull=True, mmr__isnull=True)
                | Q(kind="perp", max_leverage__gte=1, mmr__gte=0, mmr__lt=1),
            ),
        ]

    def __str__(self) -> str:
        return self.symbol


class SourceHealth(models.Model):
    """The last thing each price source did, updated on every ingest cycle."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        REJECTED = "rejected", "rejected by sanity checks"
        ERROR = "error", "error"
        RATE_LIMITED = "rate_limited", "rate limited"
        COOLDOWN = "cooldown", "cooling down"

    name = models.CharField(max_length=32, unique=True)
    last_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_price = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    last_quote = models.CharField(max_length=8, blank=True)
    last_source_time = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    successes = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "source health"

    def __str__(self) -> str:
        return f"{self.name}: {self.last_status or 'never polled'}"


class Candle(models.Model):
    """One minute of one index (``SOL-USD``, ``BONK-USD``; per price mode), built from accepted ticks.
    OHLC is NUMERIC(38, 9) like every price (a sub-cent token keeps its digits)."""

    symbol = models.CharField(max_length=16, default="SOL-USD")
    mode = models.CharField(max_length=16)  # live / replay / synthetic
    start = models.DateTimeField()
    open = models.DecimalField(**REGISTRY_DECIMAL)
    high = models.DecimalField(**REGISTRY_DECIMAL)
    low = models.DecimalField(**REGISTRY_DECIMAL)
    close = models.DecimalField(**REGISTRY_DECIMAL)
    ticks = models.PositiveIntegerField(default=1)
    sources = models.PositiveSmallIntegerField(default=1)  # most sources behind one tick
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "mode", "start"], name="pricing_candle_unique_minute"),
            models.CheckConstraint(
                condition=Q(low__gt=0)
                & Q(low__lte=F("open"))
                & Q(low__lte=F("close"))
                & Q(high__gte=F("open"))
                & Q(high__gte=F("close")),
                name="pricing_candle_ohlc_consistent",
            ),
            models.CheckConstraint(condition=Q(ticks__gte=1), name="pricing_candle_ticks_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.mode} {self.start:%Y-%m-%d %H:%M} C={self.close}"
