"""The markets the exchange opens with: seeded by migration ``pricing/0003_seed_markets`` (and
restored by the test suite after a flush). Every instrument id here is real; ``docs/markets.md``
says where each was taken from. A blank id means the venue does not list the token (against
USD, USDC or USDT): that source is simply not asked for it.

Adding a market later is a row in the admin (or a new data migration), not a change here.
"""

from __future__ import annotations

TOKENS: list[dict[str, object]] = [
    {
        "code": "SOL", "name": "Solana", "mint": "So11111111111111111111111111111111111111112", "decimals": 9,
        "pyth_feed_id": "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
        "jupiter_id": "So11111111111111111111111111111111111111112",
        "backpack_symbol": "SOL_USDC", "coinbase_product": "SOL-USD", "kraken_pair": "SOLUSD",
        "binance_symbol": "SOLUSDT", "quorum": 2,
        "synthetic_start": "150", "synthetic_volatility": "0.0005", "synthetic_seed": "42",
    },
    {
        "code": "JUP", "name": "Jupiter", "mint": "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", "decimals": 6,
        "pyth_feed_id": "0a0408d619e9380abad35060f9192039ed5042fa6f82301d0e48bb52be830996",
        "jupiter_id": "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
        "backpack_symbol": "JUP_USDC", "coinbase_product": "", "kraken_pair": "JUPUSD",
        "binance_symbol": "JUPUSDT", "quorum": 2,
        "synthetic_start": "0.8", "synthetic_volatility": "0.0008", "synthetic_seed": "JUP",
    },
    {
        "code": "BONK", "name": "Bonk", "mint": "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", "decimals": 5,
        "pyth_feed_id": "72b021217ca3fe68922a19aaf990109cb9d84e9ad004b4d2025ad6f529314419",
        "jupiter_id": "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263",
        "backpack_symbol": "BONK_USDC", "coinbase_product": "BONK-USD", "kraken_pair": "BONKUSD",
        "binance_symbol": "BONKUSDT", "quorum": 2,
        "synthetic_start": "0.0000213", "synthetic_volatility": "0.001", "synthetic_seed": "BONK",
    },
    {
        "code": "WIF", "name": "dogwifhat", "mint": "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm", "decimals": 6,
        "pyth_feed_id": "4ca4beeca86f0d164160323817a4e42b10010a724c2217c6ee41b54cd4cc61fc",
        "jupiter_id": "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm",
        "backpack_symbol": "WIF_USDC", "coinbase_product": "WIF-USD", "kraken_pair": "WIFUSD",
        "binance_symbol": "WIFUSDT", "quorum": 2,
        "synthetic_start": "1.8", "synthetic_volatility": "0.001", "synthetic_seed": "WIF",
    },
    {
        "code": "JTO", "name": "Jito", "mint": "jtojtomepa8beP8AuQc6eXt5FriJwfFMwQx2v2f9mCL", "decimals": 9,
        "pyth_feed_id": "b43660a5f790c69354b0729a5ef9d50d68f1df92107540210b9cccba1f947cc2",
        "jupiter_id": "jtojtomepa8beP8AuQc6eXt5FriJwfFMwQx2v2f9mCL",
        "backpack_symbol": "JTO_USDC", "coinbase_product": "JTO-USD", "kraken_pair": "JTOUSD",
        "binance_symbol": "JTOUSDT", "quorum": 2,
        "synthetic_start": "2.5", "synthetic_volatility": "0.0008", "synthetic_seed": "JTO",
    },
    {
        "code": "PYTH", "name": "Pyth Network", "mint": "HZ1JovNiVvGrGNiiYvEozEVgZ58xaU3RKwX8eACQBCt3",
        "decimals": 6, "pyth_feed_id": "0bbf28e9a841a1cc788f6a361b17ca072d0ea3098a1e5df1c3922d06719579ff",
        "jupiter_id": "HZ1JovNiVvGrGNiiYvEozEVgZ58xaU3RKwX8eACQBCt3",
        "backpack_symbol": "PYTH_USDC", "coinbase_product": "PYTH-USD", "kraken_pair": "PYTHUSD",
        "binance_symbol": "PYTHUSDT", "quorum": 2,
        "synthetic_start": "0.35", "synthetic_volatility": "0.0008", "synthetic_seed": "PYTH",
    },
    {
        "code": "RAY", "name": "Raydium", "mint": "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", "decimals": 6,
        "pyth_feed_id": "91568baa8beb53db23eb3fb7f22c6e8bd303d103919e19733f2bb642d3e7987a",
        "jupiter_id": "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R",
        "backpack_symbol": "RAY_USDC", "coinbase_product": "", "kraken_pair": "RAYUSD",
        "binance_symbol": "RAYUSDT", "quorum": 2,
        "synthetic_start": "3.2", "synthetic_volatility": "0.0008", "synthetic_seed": "RAY",
    },
]  # fmt: skip

_SPOT = {"min_notional": "1", "max_notional": "1000000", "max_leverage": None, "mmr": None}
_PERP = {"min_notional": "1", "max_notional": "1000000"}

MARKETS: list[dict[str, object]] = [
    {"symbol": "SOL-USD", "kind": "spot", "base": "SOL", "qty_step": "0.001", "min_qty": "0.001",
     "price_tick": "0.000001", "sort_order": 10, **_SPOT},
    {"symbol": "SOL-PERP", "kind": "perp", "base": "SOL", "qty_step": "0.001", "min_qty": "0.001",
     "price_tick": "0.000001", "max_leverage": "20", "mmr": "0.005", "sort_order": 11, **_PERP},
    {"symbol": "JUP-USD", "kind": "spot", "base": "JUP", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "sort_order": 20, **_SPOT},
    {"symbol": "JUP-PERP", "kind": "perp", "base": "JUP", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "max_leverage": "10", "mmr": "0.01", "sort_order": 21, **_PERP},
    {"symbol": "BONK-USD", "kind": "spot", "base": "BONK", "qty_step": "1", "min_qty": "1",
     "price_tick": "0.000000001", "sort_order": 30, **_SPOT},
    {"symbol": "BONK-PERP", "kind": "perp", "base": "BONK", "qty_step": "1", "min_qty": "1",
     "price_tick": "0.000000001", "max_leverage": "10", "mmr": "0.01", "sort_order": 31, **_PERP},
    {"symbol": "WIF-USD", "kind": "spot", "base": "WIF", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "sort_order": 40, **_SPOT},
    {"symbol": "WIF-PERP", "kind": "perp", "base": "WIF", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "max_leverage": "10", "mmr": "0.01", "sort_order": 41, **_PERP},
    {"symbol": "JTO-USD", "kind": "spot", "base": "JTO", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "sort_order": 50, **_SPOT},
    {"symbol": "JTO-PERP", "kind": "perp", "base": "JTO", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "max_leverage": "10", "mmr": "0.01", "sort_order": 51, **_PERP},
    {"symbol": "PYTH-USD", "kind": "spot", "base": "PYTH", "qty_step": "0.1", "min_qty": "0.1",
     "price_tick": "0.000001", "sort_order": 60, **_SPOT},
    {"symbol": "RAY-USD", "kind": "spot", "base": "RAY", "qty_step": "0.01", "min_qty": "0.01",
     "price_tick": "0.000001", "sort_order": 70, **_SPOT},
]  # fmt: skip


# The seeded perps' ids at the venues whose perp marks and funding rates make their mark
# (pricing.perp_sources). Binance and Hyperliquid list BONK per 1,000 BONK (1000BONKUSDT, kBONK):
# its perp_contract_size is 1000; Backpack's BONK perp is not listed here.
PERP_VENUE_IDS: dict[str, dict[str, str]] = {
    "SOL-PERP": {"backpack_perp_symbol": "SOL_USDC_PERP", "binance_perp_symbol": "SOLUSDT", "hyperliquid_coin": "SOL"},
    "JUP-PERP": {"backpack_perp_symbol": "JUP_USDC_PERP", "binance_perp_symbol": "JUPUSDT", "hyperliquid_coin": "JUP"},
    "WIF-PERP": {"backpack_perp_symbol": "WIF_USDC_PERP", "binance_perp_symbol": "WIFUSDT", "hyperliquid_coin": "WIF"},
    "JTO-PERP": {"backpack_perp_symbol": "JTO_USDC_PERP", "binance_perp_symbol": "JTOUSDT", "hyperliquid_coin": "JTO"},
    "BONK-PERP": {"binance_perp_symbol": "1000BONKUSDT", "hyperliquid_coin": "kBONK", "perp_contract_size": "1000"},
}


def seed_markets(token_model, market_model) -> int:
    """Create the seed tokens and markets that are missing (never changes an existing row);
    answers how many rows it created. Takes the models so a migration can pass its historical ones."""
    created = 0
    tokens = {}
    for data in TOKENS:
        token, made = token_model.objects.get_or_create(code=data["code"], defaults=data)
        tokens[token.code] = token
        created += made
    for data in MARKETS:
        fields = {key: value for key, value in data.items() if key != "base"}
        venue_ids = PERP_VENUE_IDS.get(str(data["symbol"]), {})
        fields.update({k: v for k, v in venue_ids.items() if _has_field(market_model, k)})
        _market, made = market_model.objects.get_or_create(
            symbol=data["symbol"], defaults={**fields, "base": tokens[str(data["base"])]}
        )
        created += made
    return created


def _has_field(model, name: str) -> bool:
    """Whether ``model`` (maybe a migration's historical one) has the field ``name``."""
    return any(field.name == name for field in model._meta.get_fields())
