"""Net positions (issue 14, item 3): one open position per user and market. An order on its side
increases it; on the other side it reduces, closes or flips it. So a long and a short of one
trader can never both be open, and a gap can never cost insurance through a hedged pair."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, connection, transaction

from core.errors import DomainError
from portfolio.models import LedgerEntry
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import tick
from trading.margin import liquidation_price
from trading.models import Position, PositionEvent, PositionOrder
from trading.services.positions import position_open

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_costs(settings):
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)
    settings.POSITION_FEE_BPS = D(0)


def _order(user, side: str, qty: str, coid: str, leverage: str = "10"):
    return position_open(user=user, side=side, leverage=D(leverage), qty=D(qty), client_order_id=coid).position


def _open_positions(user) -> list[Position]:
    return list(Position.objects.filter(user=user, status="open"))


def test_an_order_on_the_positions_side_increases_it():
    """Long 10 @ 100 then long 10 @ 110: one long of 20 at the average entry 105, margins added
    (100 + 110), the liquidation price from the new entry, margin and size."""
    user = make_user()
    set_price(D(100))
    first = _order(user, "long", "10", "a")
    set_price(D(110))
    same = _order(user, "long", "10", "b")
    assert same.pk == first.pk and [p.pk for p in _open_positions(user)] == [first.pk]
    same.refresh_from_db()
    assert same.qty == 20 and same.entry_price == 105 and same.margin == 210
    assert same.liquidation_price == liquidation_price("long", D(105), D(210), D(20), D("0.005"))
    assert same.leverage == D("10")
    assert [e.kind for e in PositionEvent.objects.filter(position=same).order_by("id")] == ["open", "increase"]
    assert PositionOrder.objects.get(client_order_id="b").action == "increase"
    assert balances_of(user)["USD_locked"] == 210
    assert_books_ok()


def test_a_smaller_opposite_order_reduces_it():
    """Long 10 @ 100, short 4 @ 105: long 6 stays open, +20 realized, 40 of 100 margin released."""
    user = make_user()
    set_price(D(100))
    long = _order(user, "long", "10", "a")
    set_price(D(105))
    after = _order(user, "short", "4", "b")
    assert after.pk == long.pk and after.side == "long" and after.qty == 6 and after.margin == 60
    assert after.realized_pnl == 20
    order = PositionOrder.objects.get(client_order_id="b")
    assert (order.action, order.side, order.qty, order.realized_pnl) == ("reduce", "sell", 4, 20)
    assert balances_of(user)["USD_locked"] == 60 and balances_of(user)["USD"] == D(10000) - 60 + 20
    assert_books_ok()


def test_an_equal_opposite_order_closes_it():
    user = make_user()
    set_price(D(100))
    long = _order(user, "long", "10", "a")
    closed = _order(user, "short", "10", "b")
    assert closed.pk == long.pk and closed.status == "closed" and _open_positions(user) == []
    assert PositionOrder.objects.get(client_order_id="b").action == "close"
    assert balances_of(user) == {"USD": D(10000), "USD_locked": D(0), "SOL": D(0), "SOL_locked": D(0)}
    assert_books_ok()


def test_a_larger_opposite_order_flips_it():
    """Long 10 @ 100, short 15 @ 95: the long closes (-50) and a short of 5 opens at 95 with its
    own margin (5 * 95 / 10 = 47.5)."""
    user = make_user()
    set_price(D(100))
    long = _order(user, "long", "10", "a")
    set_price(D(95))
    short = _order(user, "short", "15", "b")
    long.refresh_from_db()
    assert long.status == "closed" and long.realized_pnl == -50
    assert short.pk != long.pk and short.side == "short" and short.qty == 5 and short.entry_price == 95
    assert short.margin == D("47.5") and short.client_order_id == "b"
    assert [p.pk for p in _open_positions(user)] == [short.pk]
    order = PositionOrder.objects.get(client_order_id="b")
    assert (order.action, order.qty, order.position_id) == ("flip", 15, short.pk)
    assert balances_of(user)["USD_locked"] == D("47.5")
    assert balances_of(user)["USD"] == D(10000) - 50 - D("47.5")
    assert_books_ok()


def test_an_opposite_order_that_would_leave_dust_closes_the_position(settings):
    """Long 10, short 9.9995 (margin-sized orders are lamport-precise): the 0.0005 left would be
    below the minimum quantity, so the order closes the whole position."""
    user = make_user()
    set_price(D(100))
    _order(user, "long", "10", "a")
    after = position_open(
        user=user, side="short", leverage=D(10), margin=D("99.995"), client_order_id="b"
    ).position  # 99.995 * 10 / 100 = 9.9995 SOL
    assert after.status == "closed" and _open_positions(user) == []
    assert PositionOrder.objects.get(client_order_id="b").qty == 10
    assert_books_ok()


def test_a_hedged_pair_can_no_longer_drain_insurance_on_a_gap():
    """The review's case: a 20x long and a 20x short at once. The short closes the long, so a gap
    to 80 liquidates nothing and insurance pays nothing."""
    user = make_user()
    set_price(D(100))
    position_open(user=user, side="long", leverage=D(20), margin=D(500), client_order_id="long")
    position_open(user=user, side="short", leverage=D(20), margin=D(500), client_order_id="short")
    assert _open_positions(user) == []
    assert tick(D(80)) == []
    insurance = LedgerEntry.objects.filter(account__code="insurance").values_list("amount", flat=True)
    assert sum(insurance, D(0)) == 0
    assert_books_ok()


def test_the_database_refuses_a_second_open_position_on_a_market():
    user = make_user()
    set_price(D(100))
    position = _order(user, "long", "1", "a")
    duplicate = Position.objects.get(pk=position.pk)
    duplicate.pk, duplicate.client_order_id = None, "forged"
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(
            **{f.attname: getattr(duplicate, f.attname) for f in Position._meta.concrete_fields if f.attname != "id"}
        )


def test_an_increase_replays_without_increasing_again():
    user = make_user()
    set_price(D(100))
    _order(user, "long", "1", "a")
    first = position_open(user=user, side="long", leverage=D(10), qty=D(1), client_order_id="b")
    again = position_open(user=user, side="long", leverage=D(10), qty=D(1), client_order_id="b")
    assert again.replayed and again.position.pk == first.position.pk
    assert Position.objects.get(pk=first.position.pk).qty == 2
    with pytest.raises(DomainError) as reused:
        position_open(user=user, side="long", leverage=D(10), qty=D(2), client_order_id="b")
    assert reused.value.code == "idempotency_key_reused"
    assert_books_ok()


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_of_both_sides_end_in_one_net_position():
    """Eight threads send longs and shorts of one trader at once: the balance-row lock serialises
    them, so at most one position is ever open, and the open size is the net of what filled."""
    user = make_user()
    set_price(D(100))
    barrier = threading.Barrier(8)
    errors: list = []

    def send(i: int) -> None:
        try:
            barrier.wait()
            side = "long" if i % 2 == 0 else "short"
            position_open(user=user, side=side, leverage=D(5), qty=D(1 + i % 3), client_order_id=f"t-{i}")
        except Exception as exc:  # surfaced below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    net = sum(
        (D(1 + i % 3) if i % 2 == 0 else -D(1 + i % 3) for i in range(8)),
        D(0),
    )
    open_now = _open_positions(user)
    assert len(open_now) <= 1
    signed = sum((p.qty if p.side == "long" else -p.qty for p in open_now), D(0))
    assert signed == net
    assert PositionOrder.objects.filter(user=user).count() == 8
    assert_books_ok()
