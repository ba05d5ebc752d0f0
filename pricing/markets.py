"""The market registry as the rest of the platform reads it: frozen specs of every token and
market, loaded from the database (``Token``/``Market`` rows) and kept in each process for
``MARKET_REGISTRY_TTL_SECONDS``; a change saved in this process (admin) clears it at once, other
processes see it within the TTL.

Trading asks ``market_for_trading`` (unknown / delisted -> 404 ``market_not_found``; the other
kind -> 422 ``market_kind_mismatch``; halted -> 422 ``market_halted`` for anything that opens
exposure). Prices are per token: ``index_symbol`` (``SOL-USD``) names the Redis record both
``SOL-USD`` and ``SOL-PERP`` trade on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from core.errors import DomainError
from pricing.models import Market, MarketKind, MarketStatus, Token

SOURCE_ID_FIELDS = {
    "pyth": "pyth_feed_id",
    "jupiter": "jupiter_id",
    "backpack": "backpack_symbol",
    "coinbase": "coinbase_product",
    "kraken": "kraken_pair",
    "binance": "binance_symbol",
}

# A perp market's id per venue publishing perp marks and funding rates (pricing.perp_sources).
PERP_VENUE_FIELDS = {
    "backpack": "backpack_perp_symbol",
    "binance": "binance_perp_symbol",
    "hyperliquid": "hyperliquid_coin",
}


class MarketNotFound(DomainError):
    status = 404
    code = "market_not_found"
    message = "No such market."


class MarketHalted(DomainError):
    status = 422
    code = "market_halted"
    message = "This market is halted: no new orders or positions; closing stays open."


class MarketKindMismatch(DomainError):
    status = 422
    code = "market_kind_mismatch"
    message = "This endpoint does not trade that kind of market."


@dataclass(frozen=True)
class TokenSpec:
    code: str
    name: str
    mint: str
    decimals: int
    source_ids: dict[str, str]  # source name -> instrument id (only the venues that list it)
    quorum: int
    synthetic_start: Decimal
    synthetic_volatility: Decimal
    synthetic_seed: str

    @property
    def index_symbol(self) -> str:
        return f"{self.code}-USD"

    @property
    def quantum(self) -> Decimal:
        """The smallest amount of the token: ``10**-decimals``."""
        return Decimal(1).scaleb(-self.decimals)


@dataclass(frozen=True)
class MarketSpec:
    symbol: str
    kind: str
    base: TokenSpec
    quote: str
    qty_step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    price_tick: Decimal
    max_leverage: Decimal | None
    mmr: Decimal | None
    status: str
    sort_order: int
    venue_ids: dict[str, str] = field(default_factory=dict)  # perp venue -> its id (only those listed)
    contract_size: Decimal = Decimal(1)  # units of the token one venue contract quotes (1000BONKUSDT: 1000)

    @property
    def index_symbol(self) -> str:
        return self.base.index_symbol

    @property
    def asset(self) -> str:
        """The ledger asset a spot fill moves (a perp moves USD only)."""
        return self.base.code

    @property
    def is_perp(self) -> bool:
        return self.kind == MarketKind.PERP

    @property
    def listed(self) -> bool:
        return self.status != MarketStatus.DELISTED


@dataclass(frozen=True)
class Registry:
    markets: dict[str, MarketSpec]  # by symbol, in display order
    tokens: dict[str, TokenSpec]  # by code

    def index_symbols(self, *, listed_only: bool = True) -> list[str]:
        """Every token's index that some (listed) market trades on, in market order."""
        out: dict[str, None] = {}
        for market in self.markets.values():
            if market.listed or not listed_only:
                out.setdefault(market.index_symbol)
        return list(out)

    def token_for_index(self, index_symbol: str) -> TokenSpec | None:
        code = index_symbol.removesuffix("-USD")
        return self.tokens.get(code)


def _token_spec(row: Token) -> TokenSpec:
    ids = {name: getattr(row, field).strip() for name, field in SOURCE_ID_FIELDS.items()}
    return TokenSpec(
        code=row.code, name=row.name, mint=row.mint, decimals=row.decimals,
        source_ids={name: value for name, value in ids.items() if value}, quorum=row.quorum,
        synthetic_start=row.synthetic_start, synthetic_volatility=row.synthetic_volatility,
        synthetic_seed=row.synthetic_seed or row.code,
    )  # fmt: skip


def _venue_ids(row: Market) -> dict[str, str]:
    ids = {venue: getattr(row, name).strip() for venue, name in PERP_VENUE_FIELDS.items()}
    return {venue: value for venue, value in ids.items() if value} if row.kind == MarketKind.PERP else {}


def registry_load() -> Registry:
    """Read the registry from the database (two queries)."""
    tokens = {row.pk: _token_spec(row) for row in Token.objects.all()}
    markets = {
        row.symbol: MarketSpec(
            symbol=row.symbol,
            kind=row.kind,
            base=tokens[row.base_id],
            quote=row.quote,
            qty_step=row.qty_step,
            min_qty=row.min_qty,
            min_notional=row.min_notional,
            max_notional=row.max_notional,
            price_tick=row.price_tick,
            max_leverage=row.max_leverage,
            mmr=row.mmr,
            status=row.status,
            sort_order=row.sort_order,
            venue_ids=_venue_ids(row),
            contract_size=row.perp_contract_size,
        )  # fmt: skip
        for row in Market.objects.order_by("sort_order", "symbol")
    }
    return Registry(markets=markets, tokens={spec.code: spec for spec in tokens.values()})


class _Cache:
    """The registry of this process, reloaded when older than the TTL."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.registry: Registry | None = None
        self.loaded_at = 0.0

    def get(self) -> Registry:
        ttl = settings.MARKET_REGISTRY_TTL_SECONDS
        registry = self.registry
        if registry is not None and time.monotonic() - self.loaded_at < ttl:
            return registry
        with self.lock:
            if self.registry is None or time.monotonic() - self.loaded_at >= ttl:
                self.registry = registry_load()
                self.loaded_at = time.monotonic()
            return self.registry

    def clear(self, **_kwargs: object) -> None:
        with self.lock:
            self.registry = None


_cache = _Cache()
registry_clear = _cache.clear
post_save.connect(registry_clear, sender=Market, dispatch_uid="markets-registry-market-save")
post_save.connect(registry_clear, sender=Token, dispatch_uid="markets-registry-token-save")
post_delete.connect(registry_clear, sender=Market, dispatch_uid="markets-registry-market-delete")
post_delete.connect(registry_clear, sender=Token, dispatch_uid="markets-registry-token-delete")


def registry_get() -> Registry:
    return _cache.get()


def market_list(*, include_delisted: bool = False) -> list[MarketSpec]:
    return [m for m in registry_get().markets.values() if include_delisted or m.listed]


def market_get(symbol: str) -> MarketSpec:
    """The market named ``symbol`` (exact, upper case), delisted included; else 404."""
    market = registry_get().markets.get(symbol) if isinstance(symbol, str) else None
    if market is None:
        raise MarketNotFound(extra={"symbol": str(symbol)[:32]})
    return market


def market_for_trading(symbol: str, *, kind: str, opening: bool = True) -> MarketSpec:
    """The market a command trades on: listed, of ``kind``, and active when it opens exposure."""
    market = market_get(symbol)
    if not market.listed:
        raise MarketNotFound("This market is delisted.", extra={"symbol": symbol, "status": market.status})
    if market.kind != kind:
        other = "/api/v1/positions" if market.is_perp else "/api/v1/orders"
        raise MarketKindMismatch(
            f"{symbol} is a {market.kind} market: trade it on {other}.",
            extra={"symbol": symbol, "kind": market.kind, "expected_kind": kind},
        )
    if opening and market.status == MarketStatus.HALTED:
        raise MarketHalted(extra={"symbol": symbol})
    return market


def index_symbol_for(symbol: str) -> str:
    """The price index a market or index symbol reads (``SOL-PERP`` -> ``SOL-USD``); 404 if unknown."""
    registry = registry_get()
    market = registry.markets.get(symbol)
    if market is not None:
        return market.index_symbol
    if registry.token_for_index(symbol) is not None:
        return symbol
    raise MarketNotFound(extra={"symbol": str(symbol)[:32]})
