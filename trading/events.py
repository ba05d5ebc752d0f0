"""``order_fill`` event: one payload builder, published after commit."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

from core.money import dec9
from core.timefmt import iso_utc_or_none
from realtime.publish import RawJSON, user_event_emit
from trading.models import Fill, Order


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
        "filled_at": iso_utc_or_none(fill.created_at),
    }


# --- positions -----------------------------------------------------------------------------


def _d(value) -> str | None:
    if value is None:
        return None
    return dec9(value if type(value) is Decimal else Decimal(value))


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
        "opened_at": iso_utc_or_none(position.opened_at),
        "closed_at": iso_utc_or_none(position.closed_at),
        "funding_accrued": _d(position.funding_accrued),
    }


def position_update_emit(*, position, reason: str) -> None:
    """``position_update`` (opened / increased / reduced / closed / flipped, take_profit /
    stop_loss for a close one of them made, tpsl_updated), stored in the change's transaction;
    with the position's take-profit and stop-loss (not in ``position_liquidated``: they end with
    the position)."""
    data = {
        **position_data(position),
        "take_profit_price": _d(position.take_profit_price),
        "stop_loss_price": _d(position.stop_loss_price),
        "reason": reason,
    }
    user_event_emit(user_id=position.user_id, event_type="position_update", data=data)


def portfolio_update_emit(*, account, balances=None, holdings=None, positions=None) -> None:
    """``portfolio_update`` after a position change (balances, spot books, margin in open positions)."""
    from portfolio.events import portfolio_update_data, position_totals_for

    if account.user_id:
        positions = positions if positions is not None else position_totals_for(account)
        data = portfolio_update_data(account, balances=balances, holdings=holdings, positions=positions)
        user_event_emit(user_id=account.user_id, event_type="portfolio_update", data=data)


def position_liquidated_data(*, position, price, pnl, insurance, computed_at) -> dict[str, Any]:
    return {
        **position_data(position),
        "price": _d(price),
        "pnl_at_price": _d(pnl),
        "margin_lost": _d(position.margin),
        "insurance": _d(insurance),
        "price_computed_at": iso_utc_or_none(computed_at),
    }


@lru_cache(maxsize=64)
def _word(value: str) -> str:
    """``json.dumps`` of a short, oft-repeated string (symbol, side, status, leverage)."""
    return json.dumps(value)


def _t(text: str | None) -> str:
    """A string known to need no escaping (decimal digits, UUID, RFC 3339 time) as JSON."""
    return "null" if text is None else f'"{text}"'


def position_liquidated_json(*, position, price, pnl, insurance, computed_at) -> RawJSON:
    """``position_liquidated_data`` as its JSON text, written directly: the engine builds thousands
    a tick, and a dict plus ``jsonable`` plus ``json.dumps`` cost ~3x more. It is exactly the text
    ``json.dumps(position_liquidated_data(...), separators=(",", ":"))`` gives, key for key and byte
    for byte (tests/trading/test_position_event_text.py); free text goes through ``json.dumps``."""
    q = json.dumps
    return RawJSON(
        f'{{"position_id":"{position.id}","client_order_id":{q(position.client_order_id)},'
        f'"symbol":{_word(position.symbol)},"side":{_word(position.side)},"status":{_word(position.status)},'
        f'"qty":{_t(_d(position.qty))},"margin":{_t(_d(position.margin))},"leverage":{_word(str(position.leverage))},'
        f'"entry_price":{_t(_d(position.entry_price))},"liquidation_price":{_t(_d(position.liquidation_price))},'
        f'"realized_pnl":{_t(_d(position.realized_pnl))},"fees_paid":{_t(_d(position.fees_paid))},'
        f'"exit_price":{_t(_d(position.exit_price))},"opened_at":{_t(iso_utc_or_none(position.opened_at))},'
        f'"closed_at":{_t(iso_utc_or_none(position.closed_at))},"funding_accrued":{_t(_d(position.funding_accrued))},'
        f'"price":{_t(_d(price))},"pnl_at_price":{_t(_d(pnl))},'
        f'"margin_lost":{_t(_d(position.margin))},"insurance":{_t(_d(insurance))},'
        f'"price_computed_at":{_t(iso_utc_or_none(computed_at))}}}'
    )


# --- the trigger engine's batches (thousands of fills a tick) --------------------------------


def order_fill_json(
    *, order_id: str, client_order_id: str, fill_id: str, symbol: str, side: str, qty: Decimal, price: Decimal,
    notional: Decimal, fee: Decimal, liquidity: str, status: str, filled_at: str,
) -> RawJSON:  # fmt: skip
    """``order_fill_data`` as its JSON text, written directly (byte for byte what the dict and
    ``json.dumps`` give: tests/trading/test_trigger_event_text.py). ``filled_at``: RFC 3339 UTC."""
    return RawJSON(
        f'{{"order_id":"{order_id}","client_order_id":{json.dumps(client_order_id)},"fill_id":"{fill_id}",'
        f'"symbol":{_word(symbol)},"side":{_word(side)},"qty":"{dec9(qty)}","price":"{dec9(price)}",'
        f'"notional":"{dec9(notional)}","fee":"{dec9(fee)}","liquidity":{_word(liquidity)},'
        f'"status":{_word(status)},"filled_at":"{filled_at}"}}'
    )


def _book_json(qty: Decimal, cost_basis: Decimal, realized_pnl: Decimal, fees_paid: Decimal) -> str:
    return (
        f'{{"qty":"{qty:f}","cost_basis":"{cost_basis:f}","realized_pnl":"{realized_pnl:f}",'
        f'"fees_paid":"{fees_paid:f}"}}'
    )


def portfolio_update_json(
    *, epoch: int, balances: list[tuple[str, Decimal, Decimal]], book: tuple[str, Decimal, Decimal, Decimal, Decimal]
) -> RawJSON:
    """``portfolio.events.portfolio_update_data(account, balances=..., holdings=[book])`` as its JSON
    text, written directly: ``balances`` ``(asset, total, locked)``, ``book`` ``(asset, qty,
    cost_basis, realized_pnl, fees_paid)`` (what a spot fill's update carries)."""
    rows = ",".join(
        f'{_word(asset)}:{{"free":"{total - locked:f}","locked":"{locked:f}","total":"{total:f}"}}'
        for asset, total, locked in sorted(balances)
    )
    asset, *figures = book
    text = _book_json(*figures)
    sol = f'"sol":{text},' if asset == "SOL" else ""
    return RawJSON(f'{{"epoch":{epoch},"balances":{{{rows}}},{sol}"holdings":{{{_word(asset)}:{text}}}}}')
