"""One TP/SL close batch as one durable transaction (``trading.services.position_triggers``).

The same outcome, to the last digit, as the trader's close command with a ``Trigger`` for each
position (``position_close``: docs/positions.md, "Take-profit and stop-loss"), in a fixed number of
statements whatever the batch size. The algorithm, for either database:

1. read the candidates still open and their owners' ledger accounts (no lock) and plan each
   close with the pure maths (``trading.margin.plan_close``: the tick's price moved against the
   taker by the slippage model, on the market's tick, the fee; the payout ``margin + pnl - fee``
   floored at zero, a gap past bankruptcy paid by ``insurance``);
2. one durable transaction: lock the owners' USD balance rows (the global lock order), check the
   tick's age again (``quote_fresh_check``, as the command does once its locks are held);
3. ONE ``UPDATE`` takes ``open -> closed`` for the positions whose trigger still fires (the row
   lock and the re-check: open, of the tick's markets, ``updated_at <= computed_at``, size and
   entry as planned, the trigger's price still set and crossed), clearing both prices (OCO);
4. one ``realized_pnl`` ledger transaction per position (``ledger_post_many_ids``), then the
   ``close`` history rows and the ``PositionOrder`` records under ``take_profit:<id>`` /
   ``stop_loss:<id>`` (one statement);
5. ``position_update`` (with the reason) per position and one ``portfolio_update`` per account,
   stored with the users' next seqs and published after commit.
The statements are ``trading.tpsl_pg``'s: on PostgreSQL one each, on SQLite the ORM twins.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal

from django.db import transaction

from portfolio.models import LedgerAccount, LedgerReason
from portfolio.services import Posting, ledger_post_many_ids, system_account_get
from pricing.selectors import PriceQuote
from realtime.publish import RawJSON, raw_json, user_events_emit_many
from trading.events import position_data
from trading.margin import ClosePlan, PerpRules, plan_close, taker_side
from trading.perp_markets import perp_market_of, perp_rules
from trading.services.command import quote_fresh_check
from trading.services.liquidation_batch import portfolio_updates
from trading.services.orders import slippage_model
from trading.services.position_book import close_legs, close_memo
from trading.services.positions import close_request_hash
from trading.tpsl import trigger_client_order_id
from trading.tpsl_pg import Closed, Held, TpslStatements, tpsl_statements

Event = tuple[int, str, dict | RawJSON]


def tpsl_close_batch(
    *,
    rows: Sequence[tuple],
    quote: PriceQuote,
    symbols: Sequence[str],
    sql: TpslStatements | None = None,
) -> list[tuple[str, str]]:
    """Close those of the candidates ``rows`` (``(position id, user id, kind)``) whose trigger
    still fires at the tick ``quote`` (its ``computed_at`` dates what a tick may judge), of the
    markets ``symbols`` (the tick's index's perps); ``(position id, kind)`` of each closed.
    ``sql``: the statement set (default: the connection's; tests run the ORM twins on PostgreSQL
    too). A tick that aged past the staleness budget while the batch waited for its locks raises
    ``PriceStale`` (nothing written)."""
    sql = sql or tpsl_statements()
    kinds = {str(position_id): kind for position_id, _user_id, kind in rows}
    held, accounts = sql.held_get(ids=list(kinds))
    if not held:
        return []
    price, computed_at = quote.price, quote.computed_at
    plans = _plans(held, price=price)
    planned = [
        (h.id, kinds[h.id], h.side, h.qty, h.margin, h.entry_price, plans[h.id].exit_price,
         plans[h.id].realized_pnl, plans[h.id].fee)
        for h in held
    ]  # fmt: skip
    system = [system_account_get(code=code) for code in ("house", "fees", "insurance")]
    with transaction.atomic(durable=True):
        sql.shared.owners_lock(account_ids=list(accounts))
        quote_fresh_check(quote)
        now = datetime.now(timezone.utc)
        closed = sql.transition(rows=planned, price=price, now=now, before=computed_at, symbols=list(symbols))
        if not closed:
            return []
        txn_ids = _post(closed, plans=plans, accounts=accounts, system=system)
        sql.records_insert(
            rows=[_record(p, plans[p.id], txn_id) for p, txn_id in zip(closed, txn_ids, strict=True)],
            index_price=price,
            computed_at=computed_at,
            now=now,
        )
        events: list[Event] = [(p.user_id, "position_update", _position_update(p)) for p in closed]
        events += portfolio_updates(sql.shared, accounts={p.account_id: accounts[p.account_id] for p in closed})
        user_events_emit_many(events)
    return [(p.id, p.kind) for p in closed]


def _post(
    closed: list[Closed], *, plans: dict[str, ClosePlan], accounts: dict[int, LedgerAccount], system: list
) -> list[int]:
    """One ``realized_pnl`` ledger transaction per position, the close command's legs and memo
    (``system``: the ``house``, ``fees`` and ``insurance`` accounts)."""
    house, fees, insurance = system
    return ledger_post_many_ids(
        postings=(  # a generator: each posting is built, read once and let go
            Posting(
                reason=LedgerReason.REALIZED_PNL,
                legs=close_legs(
                    account=accounts[p.account_id], house=house, fees=fees, insurance=insurance, plan=plans[p.id]
                ),
                reference_type="position",
                reference_id=p.id,
                memo=close_memo(side=p.side, symbol=p.symbol, plan=plans[p.id], reason=p.kind),
                shard_key=p.user_id,
            )
            for p in closed
        )
    )


def _plans(held: list[Held], *, price: Decimal) -> dict[str, ClosePlan]:
    """The whole position closed at the tick's ``price`` against the taker (``position_close``'s
    plan, market by market: its fee, slippage model and price tick)."""
    model = slippage_model()
    rules: dict[str, PerpRules] = {}
    out: dict[str, ClosePlan] = {}
    for h in held:
        market = rules.get(h.symbol) or rules.setdefault(h.symbol, perp_rules(perp_market_of(h.symbol)))
        out[h.id] = plan_close(
            side=h.side, entry=h.entry_price, qty=h.qty, margin=h.margin, close_qty=h.qty, index_price=price,
            fee_bps=market.fee_bps, model=model, price_tick=market.price_tick,
        )  # fmt: skip
    return out


def _record(p: Closed, plan: ClosePlan, txn_id: int) -> tuple:
    """The history row and the order record of ``p``'s close (``trading.tpsl_pg._RECORD_COLUMNS``)."""
    return (
        p.id, plan.qty, plan.exit_price, plan.released_margin, plan.fee, plan.realized_pnl, plan.insurance,
        p.liquidation_price, p.kind, txn_id, str(uuid.uuid4()), p.user_id, trigger_client_order_id(p.kind, p.id),
        close_request_hash(position_id=p.id, qty=None), p.symbol, taker_side(p.side, opening=False),
    )  # fmt: skip


def _position_update(p: Closed) -> RawJSON:
    """``trading.events.position_update_emit``'s data: the closed position, both prices cleared."""
    data = {**position_data(p), "take_profit_price": None, "stop_loss_price": None, "reason": p.kind}
    return raw_json(data)
