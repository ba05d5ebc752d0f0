"""The bench's book: ``positions`` open positions of ``users`` users, bulk-inserted, on SOL-PERP
or spread over ``markets`` perp markets (the registry's perps, then bench-only tokens with a perp
each: ``bench_markets``). Positions are net (one open position per user and market), so
``users`` >= ``positions``.

Half long, half short, mmr 0, entry 100, margin 100 (on every market: the engine reads only the
liquidation prices); long liquidation prices spread over [65, 90), short ones over [110, 135),
the same on each market (so a tick at 85 on an index crosses 10% of its markets' positions, at 95
none). Each user has the grant and every open's margin lock in the ledger, so ``manage.py
reconcile`` passes on the seeded books. Run inside ``django.setup()``.
"""

from __future__ import annotations

import uuid


def bench_markets(count: int) -> list[str]:
    """``count`` active perp markets: the registry's perps (SOL-PERP first), then bench-only tokens
    (``BN0``, ``BN1`` ...) with a perp each, added as rows (no code change)."""
    from decimal import Decimal as D

    from pricing.models import Market, Token

    perps = list(Market.objects.filter(kind="perp").order_by("sort_order").values_list("symbol", flat=True))
    n = 0
    while len(perps) < count:
        code = f"BN{n}"
        token, _ = Token.objects.get_or_create(
            code=code, defaults={"name": f"Bench {n}", "mint": f"Bench{n}Mint", "decimals": 6,
                                 "synthetic_start": D(100)},
        )  # fmt: skip
        Market.objects.get_or_create(
            symbol=f"{code}-PERP",
            defaults={"kind": "perp", "base": token, "qty_step": D("0.001"), "min_qty": D("0.001"),
                      "price_tick": D("0.000001"), "max_leverage": D(20), "mmr": D("0.005"), "sort_order": 200 + n},
        )  # fmt: skip
        perps.append(f"{code}-PERP")
        n += 1
    Market.objects.filter(symbol__in=perps[:count]).update(status="active")
    return perps[:count]


def seed(*, positions: int, users: int, markets: int = 1) -> None:
    from decimal import Decimal as D

    from django.db import transaction

    from accounts.models import User
    from portfolio.models import (
        Balance,
        Epoch,
        LedgerAccount,
        LedgerEntry,
        LedgerTransaction,
        SpotHolding,
    )
    from portfolio.services import system_account_get
    from trading.models import Position, PositionEvent

    if users < positions:
        raise ValueError("net positions: one open SOL-PERP position per user, so users >= positions")
    per_user = 1
    symbols = bench_markets(markets)
    cycle = max(1, min(2500, positions // 2))  # liquidation prices repeat every `cycle` pairs
    margin = D(100)
    grants = system_account_get(code="grants")
    for code in ("house", "fees", "insurance"):
        system_account_get(code=code)
    with transaction.atomic():
        created = User.objects.bulk_create(
            [User(username=f"bench{i}", address=f"bench{i}") for i in range(users)], batch_size=5000
        )
        accounts = LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind="user", code=f"user:{u.pk}", user=u) for u in created], batch_size=5000
        )
        SpotHolding.objects.bulk_create([SpotHolding(account=a) for a in accounts], batch_size=5000)
        Epoch.objects.bulk_create(
            [Epoch(account=a, number=1, starting_equity=D(10000)) for a in accounts], batch_size=5000
        )
        Balance.objects.bulk_create(
            [
                Balance(account=a, asset="USD", total=D(10000), locked=margin * per_user if i < positions else 0)
                for i, a in enumerate(accounts)
            ]
            + [Balance(account=a, asset="SOL") for a in accounts],
            batch_size=5000,
        )
        Balance.objects.filter(account=grants, asset="USD", shard=0).update(total=-D(10000) * users)
        txns = LedgerTransaction.objects.bulk_create(
            [LedgerTransaction(reason="grant", reference_type="epoch", reference_id="1") for _ in accounts],
            batch_size=5000,
        )
        entries = []
        for account, txn in zip(accounts, txns, strict=True):
            entries += [
                LedgerEntry(txn=txn, account=account, asset="USD", amount=D(10000)),
                LedgerEntry(txn=txn, account=grants, asset="USD", amount=-D(10000)),
            ]
        LedgerEntry.objects.bulk_create(entries, batch_size=10000)

        rows, events = [], []
        margin_txns = LedgerTransaction.objects.bulk_create(
            [LedgerTransaction(reason="margin", reference_type="position") for _ in range(positions)],
            batch_size=5000,
        )
        for i in range(positions):
            account = accounts[i]
            side = "long" if i % 2 == 0 else "short"
            step = D(i // 2 % cycle) * 25 / cycle  # [0, 25): 0.00 .. 24.99 in steps of 0.01 at 100,000
            liq = D(65) + step if side == "long" else D(110) + step
            qty = (margin / abs(D(100) - liq)).quantize(D("0.000000001"))
            position = Position(
                id=uuid.uuid4(),
                user_id=account.user_id,
                account=account,
                client_order_id=f"b{i}",
                request_hash="bench",
                symbol=symbols[i // 2 % len(symbols)],  # pairs (a long and a short) per market
                side=side,
                leverage=(qty * 100 / margin).quantize(D("0.01")),
                mmr=D(0),
                entry_price=D(100),
                index_price=D(100),
                qty=qty,
                margin=margin,
                initial_qty=qty,
                initial_margin=margin,
                liquidation_price=liq,
            )
            rows.append(position)
            margin_txns[i].reference_id = str(position.id)
            events.append(
                PositionEvent(
                    position=position,
                    kind="open",
                    qty=qty,
                    price=D(100),
                    index_price=D(100),
                    margin=margin,
                    liquidation_price=liq,
                    ledger_txn=margin_txns[i],
                )  # fmt: skip
            )
        Position.objects.bulk_create(rows, batch_size=5000)
        LedgerTransaction.objects.bulk_update(margin_txns, ["reference_id"], batch_size=5000)
        entries = []  # each open's margin lock: free -> locked (what reconcile checks)
        for i, txn in enumerate(margin_txns):
            account = accounts[i]
            entries += [
                LedgerEntry(txn=txn, account=account, asset="USD", amount=-margin),
                LedgerEntry(txn=txn, account=account, asset="USD", amount=margin, bucket="locked"),
            ]
        LedgerEntry.objects.bulk_create(entries, batch_size=10000)
        PositionEvent.objects.bulk_create(events, batch_size=5000)
    from django.db import connection

    # The steady state autovacuum keeps a live table in (visibility map, hint bits, statistics),
    # not a table whose every row was written a minute ago.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
