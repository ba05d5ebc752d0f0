"""The trigger bench's book: ``orders`` resting limit orders of ``users`` users (``orders // users``
each, at most ``TRADING_MAX_OPEN_ORDERS`` with the stops), and ``stops`` waiting stops that no
bench tick crosses (``_stops_add``), on SOL-USD or spread over ``markets`` spot markets
(the registry's, SOL-USD first; a user's orders all on one market), seeded set-based: the users and
their accounts in bulk, the orders, the ledger and the balances each one ``INSERT ... SELECT``.

Every index stands at 100 for the bench. Per user, half buys and half sells of 0.1 each: buys rest
at 75.00 .. 99.99 and sells at 100.01 .. 125.00 (2,500 price levels each side), each user's buys
spread over the range (one buy in each 5.00 band with 5 buys), so a tick at 95 crosses every buy
at 95 or more -- one per user, 10 % of the orders -- and a tick at 100 crosses none. Each user has
the grant (10,000 USD and 1 of their market's base asset, whose book holds it at 100) and each
order its ``hold`` ledger transaction (a buy holds ``qty x limit x 1.001`` USD rounded up, a sell
its 0.1), so ``manage.py reconcile`` passes on the seeded book. Run inside ``django.setup()``.
"""

from __future__ import annotations

LEVELS = 2500  # price levels per side, 0.01 apart


def bench_spot_markets(count: int) -> list[tuple[str, str]]:
    """``(symbol, base asset)`` of ``count`` active spot markets of the registry, SOL-USD first."""
    from pricing.models import Market

    rows = list(Market.objects.filter(kind="spot").order_by("sort_order").values_list("symbol", "base__code"))
    if count > len(rows):
        raise ValueError(f"the registry has {len(rows)} spot markets, not {count}")
    Market.objects.filter(symbol__in=[symbol for symbol, _base in rows[:count]]).update(status="active")
    return rows[:count]


def positions_seed(*, positions: int, tpsl: int) -> None:
    """The liquidation bench's book beside the orders (``liquidation_seed``: ``positions`` open
    SOL-PERP positions of as many users, long liquidation prices at 65 .. 90, short ones at 110 ..
    135: no bench tick liquidates), ``tpsl`` of them (every n-th pair of a long and a short) with
    a take-profit and a stop-loss that no bench tick crosses: a long's stop-loss 2 above its
    liquidation price (67 .. 92), its take-profit 40 above it (105 .. 130); a short's stop-loss 2
    below its liquidation price (108 .. 133), its take-profit 45 below it (65 .. 90). Seeded before
    the traders (their ids are older: the cancels pick the newest users)."""
    from django.db import connection
    from liquidation_seed import seed as liquidation_book

    from trading.models import Position

    if not positions:
        return
    liquidation_book(positions=positions, users=positions, markets=1)
    if not tpsl:
        return
    every = max(1, positions // tpsl)  # every n-th pair (a long and a short), both of it
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Position._meta.db_table} p SET "
            "stop_loss_price = CASE WHEN side = 'long' THEN liquidation_price + 2 ELSE liquidation_price - 2 END, "
            "take_profit_price = CASE WHEN side = 'long' THEN liquidation_price + 40 ELSE liquidation_price - 45 END "
            "FROM (SELECT id, row_number() OVER (ORDER BY substr(client_order_id, 2)::int) AS n "
            f"FROM {Position._meta.db_table}) r "
            "WHERE p.id = r.id AND ((r.n - 1) / 2) %% %s = 0",
            [every],
        )
        cursor.execute("VACUUM (ANALYZE)")


def seed(*, orders: int, users: int, markets: int = 1, stops: int = 0) -> None:
    from django.conf import settings
    from django.db import connection, transaction

    from accounts.models import User
    from core.pgrows import json_param, rows_sql
    from portfolio.models import Balance, Epoch, LedgerAccount, LedgerEntry, LedgerTransaction, SpotHolding
    from portfolio.services import system_account_get
    from trading.models import Order

    per_user, stops_per_user = orders // users, stops // users
    if per_user * users != orders or per_user % 2 or stops_per_user * users != stops or stops_per_user % 2:
        raise ValueError("orders and stops must each be an even number per user")
    if per_user + stops_per_user > settings.TRADING_MAX_OPEN_ORDERS:
        raise ValueError("more open orders per user than TRADING_MAX_OPEN_ORDERS")
    symbols = bench_spot_markets(markets)
    grants = system_account_get(code="grants")
    for code in ("house", "fees", "insurance"):
        system_account_get(code=code)
    fee = 1 + settings.TRADING_FEE_BPS / 10000  # a resting buy holds its worst case: the taker fee
    with transaction.atomic():
        created = User.objects.bulk_create(
            [User(username=f"trader{i}", address=f"trader{i}") for i in range(users)], batch_size=5000
        )
        accounts = LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind="user", code=f"user:{u.pk}", user=u) for u in created], batch_size=5000
        )
        Epoch.objects.bulk_create(
            [Epoch(account=a, number=1, starting_equity=10100) for a in accounts], batch_size=5000
        )
        people = rows_sql("p", i="int", user_id="bigint", account_id="bigint", symbol="text", asset="text")
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE bench_users ON COMMIT DROP AS SELECT p.*, "
                f"nextval(pg_get_serial_sequence('{LedgerTransaction._meta.db_table}', 'id')) AS txn_id FROM {people}",
                [json_param((i, a.user_id, a.pk, *symbols[i % len(symbols)]) for i, a in enumerate(accounts))],
            )
            half = per_user // 2
            cursor.execute(  # k < half: buy number k; else sell number k - half; each spread over the levels
                "CREATE TEMP TABLE bench_orders ON COMMIT DROP AS SELECT o.*, NULL::numeric AS stop_price, "
                "gen_random_uuid() AS order_id, "
                "CASE WHEN o.side = 'buy' THEN ceil(0.1 * o.limit_price * %s * 1000000) / 1000000 ELSE 0.1 END "
                "AS held, "
                f"nextval(pg_get_serial_sequence('{LedgerTransaction._meta.db_table}', 'id')) AS txn_id FROM ("
                "SELECT g AS n, u.user_id, u.account_id, u.symbol, u.asset, "
                "CASE WHEN g %% %s < %s THEN 'buy' ELSE 'sell' END AS side, "
                "CASE WHEN g %% %s < %s THEN 75 + ((u.i + (g %% %s) * %s) %% %s) * 0.01 "
                "ELSE 100.01 + ((u.i + (g %% %s - %s) * %s) %% %s) * 0.01 END AS limit_price "
                "FROM generate_series(0, %s - 1) g JOIN bench_users u ON u.i = g / %s) o",
                [fee, per_user, half, per_user, half, per_user, LEVELS // half, LEVELS,
                 per_user, half, LEVELS // half, LEVELS, orders, per_user],
            )  # fmt: skip
            _stops_add(cursor, per_user=stops_per_user, orders=orders, fee=fee)
            _orders_insert(cursor, Order._meta.db_table)
            _ledger_insert(cursor, LedgerTransaction._meta.db_table, LedgerEntry._meta.db_table, grants.pk)
            _books_insert(cursor, Balance._meta.db_table, SpotHolding._meta.db_table, grants.pk)
    with connection.cursor() as cursor:
        # The steady state autovacuum keeps a live table in (visibility map, hint bits, statistics),
        # not a table whose every row was written a minute ago.
        cursor.execute("VACUUM (ANALYZE)")


def _stops_add(cursor, *, per_user: int, orders: int, fee) -> None:
    """``per_user`` waiting stops per user (half buy stops at 125.01 .. 150.00, half sell stops at
    50.00 .. 74.99, 0.1 each: no bench tick crosses them) after the limits (``n`` from ``orders``);
    a buy stop holds ``qty x stop x (1 + max slippage) x (1 + taker fee)`` USD rounded up
    (``trading.limits.stop_hold``), a sell its 0.1."""
    from django.conf import settings

    from portfolio.models import LedgerTransaction

    if not per_user:
        return
    slipped = fee * (1 + settings.TRADING_MAX_SLIPPAGE_BPS / 10000)
    half = per_user // 2
    cursor.execute(
        "INSERT INTO bench_orders (n, user_id, account_id, symbol, asset, side, limit_price, stop_price, order_id, "
        "held, txn_id) SELECT s.n, s.user_id, s.account_id, s.symbol, s.asset, s.side, NULL, s.stop_price, "
        "gen_random_uuid(), CASE WHEN s.side = 'buy' THEN ceil(0.1 * s.stop_price * %s * 1000000) / 1000000 "
        f"ELSE 0.1 END, nextval(pg_get_serial_sequence('{LedgerTransaction._meta.db_table}', 'id')) FROM ("
        "SELECT %s + u.i * %s + g AS n, u.user_id, u.account_id, u.symbol, u.asset, "
        "CASE WHEN g < %s THEN 'buy' ELSE 'sell' END AS side, "
        "CASE WHEN g < %s THEN 125.01 + ((u.i + g * 97) %% %s) * 0.01 ELSE 50 + ((u.i + g * 97) %% %s) * 0.01 END "
        "AS stop_price FROM bench_users u CROSS JOIN generate_series(0, %s - 1) g) s",
        [slipped, orders, per_user, half, half, LEVELS, LEVELS, per_user],
    )


def _orders_insert(cursor, table: str) -> None:
    """The orders, oldest first by ``n`` (a millisecond apart, all before now)."""
    cursor.execute(
        f"INSERT INTO {table} (id, user_id, client_order_id, symbol, side, type, qty, notional, filled_qty, "
        "filled_avg_price, status, limit_price, stop_price, triggered_at, replaces_id, leverage, time_in_force, "
        "expire_at, post_only, held_asset, held, fee, slippage_bps, index_price, price_source, epoch, request_hash, "
        "created_at, filled_at, closed_at) "
        "SELECT o.order_id, o.user_id, 'bench-' || o.n, o.symbol, o.side, "
        "CASE WHEN o.stop_price IS NULL THEN 'limit' ELSE 'stop' END, 0.1, NULL, 0, NULL, 'new', "
        "o.limit_price, o.stop_price, NULL, NULL, NULL, 'gtc', NULL, false, "
        "CASE WHEN o.side = 'buy' THEN 'USD' ELSE o.asset END, o.held, 0, 0, 100, 'bench', 1, 'bench', "
        "now() - (SELECT count(*) FROM bench_orders) * interval '1 millisecond' + o.n * interval '1 millisecond', "
        "NULL, NULL FROM bench_orders o ORDER BY o.n"
    )


def _ledger_insert(cursor, txns: str, entries: str, grants_id: int) -> None:
    """The grants (10,000 USD and 1 of the base asset per user) and every order's hold."""
    cursor.execute(
        f"INSERT INTO {txns} (id, reason, reference_type, reference_id, memo, created_at) "
        "SELECT txn_id, 'grant', 'epoch', '1', 'starting grant', now() FROM bench_users "
        "UNION ALL SELECT txn_id, 'hold', 'order', order_id::text, 'hold: bench', now() FROM bench_orders"
    )
    cursor.execute(
        f"INSERT INTO {entries} (txn_id, account_id, asset, bucket, amount, created_at) "
        "SELECT txn_id, account_id, 'USD', 'free', 10000, now() FROM bench_users "
        "UNION ALL SELECT txn_id, %s, 'USD', 'free', -10000, now() FROM bench_users "
        "UNION ALL SELECT txn_id, account_id, asset, 'free', 1, now() FROM bench_users "
        "UNION ALL SELECT txn_id, %s, asset, 'free', -1, now() FROM bench_users "
        "UNION ALL SELECT o.txn_id, o.account_id, CASE WHEN o.side = 'buy' THEN 'USD' ELSE o.asset END, 'free', "
        "-o.held, now() FROM bench_orders o "
        "UNION ALL SELECT o.txn_id, o.account_id, CASE WHEN o.side = 'buy' THEN 'USD' ELSE o.asset END, 'locked', "
        "o.held, now() FROM bench_orders o",
        [grants_id, grants_id],
    )


def _books_insert(cursor, balances: str, holdings: str, grants_id: int) -> None:
    """Each user's USD, SOL and base-asset rows as the entries sum them, the base asset's book (1
    at 100; an empty SOL book when the base is another token, as the account's opening makes it),
    and the grants account's rows."""
    cursor.execute(
        "CREATE TEMP TABLE bench_holds ON COMMIT DROP AS SELECT u.account_id, u.asset, "
        "COALESCE(sum(o.held) FILTER (WHERE o.side = 'buy'), 0) AS usd, "
        "COALESCE(sum(o.held) FILTER (WHERE o.side = 'sell'), 0) AS base "
        "FROM bench_users u LEFT JOIN bench_orders o ON o.user_id = u.user_id GROUP BY u.account_id, u.asset"
    )
    cursor.execute(
        f"INSERT INTO {balances} (account_id, asset, shard, total, locked, allow_negative, updated_at) "
        "SELECT account_id, 'USD', 0, 10000, usd, false, now() FROM bench_holds "
        "UNION ALL SELECT account_id, asset, 0, 1, base, false, now() FROM bench_holds "
        "UNION ALL SELECT account_id, 'SOL', 0, 0, 0, false, now() FROM bench_holds WHERE asset <> 'SOL'"
    )
    cursor.execute(
        f"INSERT INTO {holdings} (account_id, asset, qty, cost_basis, realized_pnl, fees_paid, volume, trade_count, "
        "updated_at) SELECT account_id, asset, 1, 100, 0, 0, 0, 0, now() FROM bench_users "
        "UNION ALL SELECT account_id, 'SOL', 0, 0, 0, 0, 0, 0, now() FROM bench_users WHERE asset <> 'SOL'"
    )
    cursor.execute(
        f"INSERT INTO {balances} (account_id, asset, shard, total, locked, allow_negative, updated_at) "
        "SELECT %s, g.asset, 0, -g.amount, 0, true, now() FROM (SELECT asset, count(*) AS amount FROM bench_users "
        "GROUP BY asset UNION ALL SELECT 'USD', 10000 * count(*) FROM bench_users) g "
        f"ON CONFLICT (account_id, asset, shard) DO UPDATE SET total = {balances}.total + EXCLUDED.total",
        [grants_id],
    )
