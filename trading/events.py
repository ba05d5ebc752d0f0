"""``order_fill`` event: one payload builder, published after commit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from portfolio.money import dec9
from realtime.publish import user_event_emit
from trading.models import Fill, Order


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_fill_data(order: Order, fill: Fill) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "client_order_id": order.client_order_id,
        "fill_id": str(fill.id),
        "symbol": fill.symbol,
        "side": fill.side,
        "qty": dec9(fill.qty),
        "price": dec9(fill.price),
        "notional": dec9(fill.notional),
        "fee": dec9(fill.fee),
        "liquidity": fill.liquidity,
        "status": order.status,
        "filled_at": _iso(fill.created_at),
    }


def order_fill_publish(*, order: Order, fill: Fill) -> None:
    """Store the event with the user's next seq (inside the fill's transaction); sent after commit."""
    user_event_emit(user_id=order.user_id, event_type="order_fill", data=order_fill_data(order, fill))


# --- positions -----------------------------------------------------------------------------


def _d(value) -> str | None:
    return None if value is None else dec9(Decimal(value))


def position_data(position) -> dict[str, Any]:
    return {
        "position_id": str(position.id),
        "client_order_id": position.client_order_id,
        "symbol": position.symbol,
        "side": position.side,
        "status": position.status,
        "qty": _d(position.qty),
        "margin": _d(position.margin),
        "leverage": str(position.leverage),
        "entry_price": _d(position.entry_price),
        "liquidation_price": _d(position.liquidation_price),
        "realized_pnl": _d(position.realized_pnl),
        "fees_paid": _d(position.fees_paid),
        "exit_price": _d(position.exit_price),
        "opened_at": _iso(position.opened_at),
        "closed_at": _iso(position.closed_at),
    }


def position_update_emit(*, position, reason: str) -> None:
    """``position_update`` (opened / reduced / closed), stored in the change's transaction."""
    user_event_emit(
        user_id=position.user_id, event_type="position_update", data={**position_data(position), "reason": reason}
    )


def position_liquidated_emit(*, position, price, pnl, insurance, computed_at) -> None:
    """``position_liquidated``: the tick price, the PnL at it and what insurance absorbed or received."""
    data = position_liquidated_data(
        position=position, price=price, pnl=pnl, insurance=insurance, computed_at=computed_at
    )
    user_event_emit(user_id=position.user_id, event_type="position_liquidated", data=data)


def portfolio_update_emit(*, account, balances=None, holding=None, positions=None) -> None:
    """``portfolio_update`` after a position change (balances, SOL book, margin in open positions)."""
    from portfolio.events import portfolio_update_data, position_totals_for

    if account.user_id:
        positions = positions if positions is not None else position_totals_for(account)
        data = portfolio_update_data(account, balances=balances, holding=holding, positions=positions)
        user_event_emit(user_id=account.user_id, event_type="portfolio_update", data=data)


# --- batched user events (the liquidation engine) --------------------------------------------


def user_events_emit_many(items: list[tuple[int, str, dict[str, Any]]]) -> None:
    """``user_event_emit`` for many ``(user_id, event_type, data)`` at once, same contract.

    Inside the caller's transaction: one statement bumps every user's counter by the number of
    its events (``RETURNING`` the new last seq), one bulk insert stores the events with
    consecutive seqs; after commit one ``async_to_sync`` call sends them all concurrently
    (``user_event_emit`` pays one event-loop thread per event, which dominates a tick that
    liquidates thousands). Wire shape and groups come from ``realtime.publish``/``groups``.
    Candidate to move into ``realtime.publish`` (owned by realtime).
    """
    from collections import Counter, defaultdict

    from django.db import connection, transaction

    from realtime.groups import user_group
    from realtime.models import UserEvent
    from realtime.publish import event

    if not items:
        return
    counts = Counter(user_id for user_id, _t, _d in items)
    users = sorted(counts)
    values = ", ".join(["(%s, %s)"] * len(users))
    params: list = []
    for user_id in users:
        params += [user_id, counts[user_id]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO realtime_user_event_counter (user_id, last_seq) VALUES {values} "
            "ON CONFLICT (user_id) DO UPDATE SET last_seq = realtime_user_event_counter.last_seq + EXCLUDED.last_seq "
            "RETURNING user_id, last_seq",
            params,
        )
        last = dict(cursor.fetchall())
    next_seq = {user_id: last[user_id] - counts[user_id] + 1 for user_id in users}
    rows, outgoing = [], []
    by_user: dict[int, int] = defaultdict(int)
    for user_id, event_type, data in items:
        seq = next_seq[user_id] + by_user[user_id]
        by_user[user_id] += 1
        payload = event(event_type, data, seq=seq)
        rows.append(UserEvent(user_id=user_id, seq=seq, type=event_type, payload=payload))
        outgoing.append((user_group(user_id), payload))
    UserEvent.objects.bulk_create(rows, batch_size=2000)
    transaction.on_commit(lambda: _publish_many(outgoing))


def _publish_many(outgoing: list[tuple[str, dict[str, Any]]]) -> None:
    """Send every event in one event-loop run; a failing layer is logged, never raised."""
    import asyncio
    import json
    import logging

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> list:
        sends = []
        for group, payload in outgoing:
            text = json.dumps(payload, separators=(",", ":"))
            sends.append(layer.group_send(group, {"type": "relay", "event": payload, "text": text}))
        return await asyncio.gather(*sends, return_exceptions=True)

    try:
        failures = [r for r in async_to_sync(send_all)() if isinstance(r, Exception)]
    except Exception:
        logging.getLogger("trading.events").warning("batched publish failed", exc_info=True)
        return
    if failures:
        logging.getLogger("trading.events").warning("%d of %d publishes failed", len(failures), len(outgoing))


def position_liquidated_data(*, position, price, pnl, insurance, computed_at) -> dict[str, Any]:
    return {
        **position_data(position),
        "price": _d(price),
        "pnl_at_price": _d(pnl),
        "margin_lost": _d(position.margin),
        "insurance": _d(insurance),
        "price_computed_at": _iso(computed_at),
    }
