"""``core.serializers.output_data``: the same answer as ``Serializer(instance).data`` for orders in
every state (resting, canceled, filled, a triggered stop-limit, a replacement), tied to a
serializer of that instance, from one set of fields built once and shared by threads; the cancel
and the order read still answer the browsable API's page."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest

from core.serializers import _built, output_data
from tests.portfolio.helpers import make_user
from tests.trading.helpers import set_price
from trading.models import Order
from trading.services import order_place
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel
from trading.services.order_replace import order_replace
from trading.services.stop_orders import stop_order_place
from trading.views import OrderOutputSerializer

pytestmark = pytest.mark.django_db


def _orders() -> list[Order]:
    set_price(D("100"))
    user = make_user()
    resting = limit_order_place(user=user, client_order_id="a", symbol="SOL-USD", side="buy", qty=D(2),
                                limit_price=D(95)).order  # fmt: skip
    canceled = limit_order_place(user=user, client_order_id="b", symbol="SOL-USD", side="buy", qty=D(1),
                                 limit_price=D(90)).order  # fmt: skip
    order_cancel(user=user, order_id=canceled.pk)
    order_place(user=user, client_order_id="m", symbol="SOL-USD", side="buy", type="market", qty=D(1))
    stop = stop_order_place(user=user, client_order_id="s", symbol="SOL-USD", side="buy", type="stop_limit",
                            qty=D(1), stop_price=D(105), limit_price=D(106)).order  # fmt: skip
    order_replace(user=user, order_id=resting.pk, limit_price=D(94), client_order_id="a2")
    return list(Order.objects.filter(user=user).order_by("created_at")) + [stop]


def test_the_same_answer_as_the_serializer_for_every_kind_of_order():
    orders = _orders()
    assert {o.status for o in orders} >= {"new", "canceled", "filled", "replaced"}
    assert any(o.replaces_id for o in orders) and any(o.stop_price for o in orders)
    for order in orders:
        data = output_data(OrderOutputSerializer, order)
        assert data == OrderOutputSerializer(order).data
        assert list(data) == list(OrderOutputSerializer(order).data)  # the same keys in the same order
        assert data.serializer.instance is order and type(data.serializer) is OrderOutputSerializer
    assert _built(OrderOutputSerializer) is _built(OrderOutputSerializer)  # the fields built once


def test_threads_sharing_the_fields_each_get_their_own_order():
    orders, answers, barrier = _orders(), {}, threading.Barrier(4)
    expected = {order.pk: OrderOutputSerializer(order).data for order in orders}

    def represent(offset: int) -> None:
        barrier.wait()
        for _ in range(50):
            for order in orders[offset:] + orders[:offset]:
                answers.setdefault(order.pk, []).append(output_data(OrderOutputSerializer, order))

    threads = [threading.Thread(target=represent, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(all(answer == expected[pk] for answer in given) for pk, given in answers.items())


def test_the_browsable_api_still_shows_an_order_and_its_cancel(client):
    set_price(D("100"))
    user = make_user()
    order = limit_order_place(user=user, client_order_id="a", symbol="SOL-USD", side="buy", qty=D(1),
                              limit_price=D(95)).order  # fmt: skip
    from accounts.services import api_key_create

    key, secret = api_key_create(user=user, name="t", scopes=["read", "trade"])
    headers = {"APCA-API-KEY-ID": key.key_id, "APCA-API-SECRET-KEY": secret, "Accept": "text/html"}
    page = client.get(f"/api/v1/orders/{order.pk}", headers=headers)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert str(order.pk) in page.content.decode()
    canceled = client.delete(f"/api/v1/orders/{order.pk}", headers=headers)
    assert canceled.status_code == 200 and "canceled" in canceled.content.decode()
