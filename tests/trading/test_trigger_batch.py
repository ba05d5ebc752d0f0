"""The trigger engine's set-based batch on the real PostgreSQL: hand-computed maker fills of
several traders in one transaction, the same book filled one order per transaction and in a
batch (and through the ORM twins) to the last digit, a fixed number of statements whatever the
batch size, lanes, and races of two engine runs and a cancel."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolio.models import Balance, LedgerEntry, LedgerTransaction, SpotHolding
from portfolio.services import system_account_get
from realtime.models import UserEvent
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import user_events
from trading.models import Fill, Order
from trading.services import order_triggers
from trading.services.limit_orders import limit_order_place
from trading.services.order_end import order_cancel
from trading.services.order_triggers import (
    Touch,
    crossed_orders,
    order_triggers_lane_run,
    order_triggers_run,
    orders_fill_each,
)
from trading.services.orders import order_place
from trading.services.trigger_batch import SystemAccounts, fill_batch
from trading.trigger_pg import PORTABLE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_slippage(settings):
    """Market orders fill at the index (their figures stay round); the fees stay: taker 10 bps,
    maker 2 bps."""
    settings.TRADING_SPREAD_BPS = D(0)
    settings.TRADING_IMPACT_BPS = D(0)


def _limit(user, cid: str, side: str, qty: str, price: str) -> Order:
    placed = limit_order_place(
        user=user, client_order_id=cid, symbol="SOL-USD", side=side, qty=D(qty), limit_price=D(price)
    )
    assert placed.order.status == "new", placed.order.status
    return placed.order


def _market_buy(user, cid: str, qty: str) -> None:
    order_place(user=user, client_order_id=cid, symbol="SOL-USD", side="buy", type="market", qty=D(qty), notional=None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _two_traders() -> tuple:
    """Index 100: A rests buys 2 @ 96, 1 @ 97 and 1 @ 90. Index 90, then 90.005: B buys 1 and 2
    SOL at market (cost basis 90 + 180.01 = 270.01), then rests sells 1 @ 95 and 1 @ 94."""
    a, b = make_user(), make_user()
    set_price(D(100))
    orders = [_limit(a, "a1", "buy", "2", "96"), _limit(a, "a2", "buy", "1", "97"), _limit(a, "a3", "buy", "1", "90")]
    set_price(D(90))
    _market_buy(b, "m1", "1")
    set_price(D("90.005"))
    _market_buy(b, "m2", "2")
    orders += [_limit(b, "b1", "sell", "1", "95"), _limit(b, "b2", "sell", "1", "94")]
    return a, b, orders


def _book(user) -> dict:
    out = {}
    for row in Balance.objects.filter(account__user=user):
        out[row.asset] = (row.total, row.locked)
    return out


def test_one_batch_fills_both_sides_of_two_traders_oldest_first_by_hand():
    """A tick at 95.5 crosses A's buys at 96 and 97 (not 90) and B's sells at 95 and 94, in one
    transaction, each at its own limit as the maker (2 bps):
    A: 2 @ 96 = 192, fee 0.0384 (hold 192.192 released); 1 @ 97 = 97, fee 0.0194 (hold 97.097).
       USD 10000 - 192.0384 - 97.0194 = 9710.9422, still locked 90.09 (the buy at 90); SOL 3,
       cost basis 289.
    B: after the market buys USD 10000 - 90.09 - 180.19001 = 9729.71999, SOL 3 at 270.01.
       Sell 1 @ 95: fee 0.019, the book's share 270.01 / 3 = 90.003333 (half-even), realized
       4.996667; sell 1 @ 94: fee 0.0188, share 180.006667 / 2 = 90.0033335 -> 90.003334
       (half-even), realized 3.996666. USD 9729.71999 + 95 - 0.019 + 94 - 0.0188 = 9918.68219,
       SOL 1 at 90.003333, realized 8.993333."""
    a, b, orders = _two_traders()
    set_price(D("95.5"))
    report = order_triggers_run(index_symbol="SOL-USD", price=D("95.5"), computed_at=_now())
    a1, a2, a3, b1, b2 = orders
    assert report.filled == [str(o.id) for o in (a1, a2, b1, b2)] and report.skipped == 0
    assert Order.objects.get(pk=a3.pk).status == "new"
    for order, fee in ((a1, "0.0384"), (a2, "0.0194"), (b1, "0.019"), (b2, "0.0188")):
        order.refresh_from_db()
        assert (order.status, order.fee, order.held, order.filled_avg_price) == ("filled", D(fee), 0, order.limit_price)
        assert order.index_price == D("95.5") and order.slippage_bps == 0 and order.filled_qty == order.qty
        fill = Fill.objects.get(order=order)
        assert (fill.liquidity, fill.price, fill.qty, fill.fee) == ("maker", order.limit_price, order.qty, D(fee))
        entries = LedgerEntry.objects.filter(txn=fill.ledger_txn)
        assert entries.count() == 7 and fill.ledger_txn.memo == f"{order.side} {order.qty} SOL @ {order.limit_price}"
    assert _book(a) == {"USD": (D("9710.9422"), D("90.09")), "SOL": (D(3), 0)}
    assert _book(b) == {"USD": (D("9918.68219"), 0), "SOL": (D(1), 0)}
    book_a = SpotHolding.objects.get(account__user=a, asset="SOL")
    book_b = SpotHolding.objects.get(account__user=b, asset="SOL")
    assert (book_a.qty, book_a.cost_basis, book_a.fees_paid, book_a.trade_count) == (3, 289, D("0.0578"), 2)
    assert (book_b.qty, book_b.cost_basis, book_b.realized_pnl) == (1, D("90.003333"), D("8.993333"))
    assert (book_b.fees_paid, book_b.trade_count, book_b.volume) == (D("0.30781"), 4, D("459.01"))

    # A's events: each fill, then the books as that fill left them.
    tail = [e.payload for e in UserEvent.objects.filter(user=a).order_by("seq")][-4:]
    assert [e["type"] for e in tail] == ["order_fill", "portfolio_update"] * 2
    assert [e["data"]["client_order_id"] for e in tail[::2]] == ["a1", "a2"]
    first, second = tail[1]["data"], tail[3]["data"]
    assert first["balances"]["USD"] == {"free": "9620.774600000", "locked": "187.187000000", "total": "9807.961600000"}
    assert (
        first["holdings"]["SOL"]["qty"] == "2.000000000" and first["holdings"]["SOL"]["cost_basis"] == "192.000000000"
    )
    assert second["balances"]["USD"] == {"free": "9620.852200000", "locked": "90.090000000", "total": "9710.942200000"}
    assert second["balances"]["SOL"]["total"] == "3.000000000" and second["sol"]["fees_paid"] == "0.057800000"
    seqs = list(UserEvent.objects.filter(user=b).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    last_b = user_events(b, "portfolio_update")[-1]["data"]
    assert last_b["holdings"]["SOL"]["realized_pnl"] == "8.993333000"
    assert_books_ok()
    again = order_triggers_run(index_symbol="SOL-USD", price=D("95.5"), computed_at=_now())
    assert again.filled == [] and again.candidates == 0


# --- the same book, one order per transaction and in one batch -------------------------------


def _scenario() -> list:
    """Three traders with a mixed book: both sides, several fills on one spot book (average cost
    shares), an order the tick does not cross, one canceled, a JUP order (another index) still
    holding USD. Answers the users."""
    users = [make_user() for _ in range(3)]
    u0, u1, u2 = users
    set_price(D(100))
    set_price(D("0.8"), symbol="JUP-USD")
    _limit(u0, "p1", "buy", "0.731", "96.123457")
    _limit(u0, "p2", "buy", "1.5", "97")
    _limit(u0, "p3", "buy", "2", "90")  # not crossed
    order_cancel(user=u1, order_id=_limit(u1, "p4", "buy", "1", "99").pk)
    limit_order_place(user=u1, client_order_id="j1", symbol="JUP-USD", side="buy", qty=D("100"), limit_price=D("0.7"))
    _limit(u1, "p7", "buy", "0.25", "95.8")
    set_price(D("89.987"))
    _market_buy(u1, "m1", "1.337")
    _market_buy(u2, "m2", "0.5")
    set_price(D("91.000003"))
    _market_buy(u1, "m3", "0.4")
    _limit(u1, "p5", "sell", "0.333", "93.5")
    _limit(u1, "p6", "sell", "0.7", "94.000001")
    _limit(u2, "p8", "sell", "0.5", "95.7")
    _limit(u1, "p9", "sell", "0.704", "95.75")  # not crossed
    return users


_IDS_AND_TIMES = ("order_id", "fill_id", "position_id", "created_at", "filled_at", "closed_at")


def _snapshot(user) -> dict:
    """Everything the fills changed for ``user``, without ids and times."""
    orders = {o.pk: o for o in Order.objects.filter(user=user)}
    cid = {str(pk): o.client_order_id for pk, o in orders.items()}
    me = user.ledger_account.pk
    ledger = []
    for txn in LedgerTransaction.objects.filter(reference_id__in=list(cid)).order_by("pk"):
        entries = [
            ("me" if e.account_id == me else e.account.code, e.asset, e.bucket, e.amount)
            for e in txn.entries.order_by("pk")
        ]
        ledger.append((cid[txn.reference_id], txn.reason, txn.reference_type, txn.memo, entries))
    events = []
    for event in UserEvent.objects.filter(user=user).order_by("seq"):
        data = {k: v for k, v in event.payload["data"].items() if k not in _IDS_AND_TIMES}
        events.append((event.seq, event.type, data))
    return {
        "orders": sorted(
            (
                o.client_order_id,
                o.status,
                o.filled_qty,
                o.filled_avg_price,
                o.fee,
                o.slippage_bps,
                o.index_price,
                o.held,
                o.held_asset,
                o.filled_at is not None,
            )
            for o in orders.values()
        ),  # fmt: skip
        "fills": sorted(
            (f.order.client_order_id, f.symbol, f.side, f.qty, f.price, f.notional, f.fee, f.liquidity)
            for f in Fill.objects.filter(user=user).select_related("order")
        ),
        "ledger": ledger,
        "balances": _book(user),
        "holdings": sorted(
            SpotHolding.objects.filter(account__user=user).values_list(
                "asset", "qty", "cost_basis", "realized_pnl", "fees_paid", "volume", "trade_count"
            )
        ),
        "events": events,
    }


def _crossed_of(users, touch: Touch):
    ids = {u.pk for u in users}
    return [r for r in crossed_orders(symbols=["SOL-USD"], touch=touch, before=_now()) if r.user_id in ids]


def test_a_batch_equals_one_order_per_transaction_to_the_last_digit():
    """The same book (three traders) built three times; a tick (bid 95.71, ask 95.79, index 95.75)
    fills the first copy one order per transaction (the one-order path), the second in one batch,
    the third in one batch through the ORM twins (SQLite's statements): orders, fills, ledger
    transactions and entries, balances, spot books and events (seqs and payloads) are equal."""
    groups = [_scenario() for _copy in range(3)]
    touch = Touch(index=D("95.75"), buy=D("95.79"), sell=D("95.71"))
    system = SystemAccounts(house=system_account_get(code="house"), fees=system_account_get(code="fees"))
    markets = order_triggers._spot_markets("SOL-USD")
    each = orders_fill_each(_crossed_of(groups[0], touch), touch=touch, markets=markets)
    args = {"touch": touch, "before": _now(), "assets": {"SOL-USD": "SOL"}, "system": system}
    batch = fill_batch(rows=_crossed_of(groups[1], touch), **args)
    orm = fill_batch(rows=_crossed_of(groups[2], touch), sql=PORTABLE, **args)
    assert len(each) == len(batch) == len(orm) == 6
    for one, two, three in zip(*groups, strict=True):
        expected = _snapshot(one)
        assert _snapshot(two) == expected
        assert _snapshot(three) == expected
    assert_books_ok()


def test_statements_per_batch_do_not_grow_with_its_size():
    """A batch of 2 crossed orders (of 4) and one of 6 (of 12) run the same number of statements:
    eight in its transaction (every balance row its postings touch locked, the orders taken, the
    ledger's one -- transactions, entries and balances; its rows locked already --, the fills, the
    books locked and written, the two of the events; the test's transaction makes BEGIN and
    COMMIT a savepoint and its release)."""
    counts, inside = [], []
    for n in (2, 6):
        set_price(D(100))
        for i in range(n):
            user = make_user()
            _limit(user, f"s{n}-{i}", "buy", "1", "95")
            _limit(user, f"t{n}-{i}", "buy", "1", "80")
        with CaptureQueriesContext(connection) as queries:
            report = order_triggers_run(index_symbol="SOL-USD", price=D(94), computed_at=_now())
        assert len(report.filled) == n
        counts.append(len(queries.captured_queries))
        sqls = [q["sql"] for q in queries.captured_queries]
        inside.append(
            sqls.index(next(q for q in sqls if q.startswith("RELEASE SAVEPOINT")))
            - sqls.index(next(q for q in sqls if q.startswith("SAVEPOINT")))
            - 1
        )
    assert counts[0] == counts[1], counts
    assert inside == [8, 8], inside
    assert_books_ok()


def test_a_tick_that_crosses_nothing_runs_one_query():
    set_price(D(100))
    _limit(make_user(), "q1", "buy", "1", "95")
    with CaptureQueriesContext(connection) as queries:
        report = order_triggers_run(index_symbol="SOL-USD", price=D(96), computed_at=_now())
    assert report.filled == [] and report.candidates == 0 and len(queries.captured_queries) == 1


def test_a_failing_batch_falls_back_to_one_order_per_transaction(settings, monkeypatch):
    """A batch that raises leaves nothing half done: its orders are then filled one by one."""
    set_price(D(100))
    orders = [_limit(make_user(), f"f{i}", "buy", "1", "95") for i in range(3)]

    def broken(**_kwargs):
        raise RuntimeError("batch broke")

    monkeypatch.setattr(order_triggers, "fill_batch", broken)
    report = order_triggers_run(index_symbol="SOL-USD", price=D(94), computed_at=_now())
    assert report.filled == [str(o.pk) for o in orders]
    assert Fill.objects.filter(order__in=orders).count() == 3
    assert_books_ok()


def test_batches_of_a_configured_size_and_a_lane_run_by_ids(settings):
    """Batches of 2 over 5 crossed orders fill all five; a lane handed ids re-reads them and
    fills only those still resting (one canceled meanwhile stays canceled)."""
    settings.TRADING_TRIGGER_BATCH = 2
    set_price(D(100))
    users = [make_user() for _ in range(5)]
    orders = [_limit(u, f"l{i}", "buy", "1", "95") for i, u in enumerate(users)]
    report = order_triggers_run(index_symbol="SOL-USD", price=D(94), computed_at=_now())
    assert report.filled == [str(o.pk) for o in orders] and report.lanes == 1
    later = [_limit(u, f"k{i}", "buy", "1", "95") for i, u in enumerate(users)]
    order_cancel(user=users[1], order_id=later[1].pk)
    touch = Touch(index=D(94), buy=D(94), sell=D(94))
    done = order_triggers_lane_run(ids=[o.pk for o in later], index_symbol="SOL-USD", touch=touch, computed_at=_now())
    assert done == [str(o.pk) for o in later if o != later[1]]
    assert Order.objects.get(pk=later[1].pk).status == "canceled"
    assert_books_ok()


def test_lanes_split_only_on_the_real_stack_and_a_refused_lane_runs_here(settings, monkeypatch):
    from kombu.exceptions import OperationalError

    from trading import tasks

    settings.TRADING_TRIGGER_BATCH, settings.TRADING_TRIGGER_LANES = 2, 3
    assert settings.CELERY_TASK_ALWAYS_EAGER and order_triggers._lanes_wanted(10) == 1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert [order_triggers._lanes_wanted(n) for n in (2, 5, 100)] == [1, 3, 3]
    set_price(D(100))
    orders = [_limit(make_user(), f"r{i}", "buy", "1", "95") for i in range(8)]
    sent: list = []

    def refuse(*args, **kwargs):
        sent.append(args)
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(tasks.fill_resting_lane, "apply_async", refuse)
    report = order_triggers_run(index_symbol="SOL-USD", price=D(94), computed_at=_now())
    assert sent and report.lanes > 1 and report.dispatched == 0
    assert sorted(report.filled) == sorted(str(o.pk) for o in orders)
    assert_books_ok()


def test_the_lane_task_fills_its_orders():
    from trading.tasks import fill_resting_lane

    set_price(D(100))
    orders = [_limit(make_user(), f"t{i}", "buy", "1", "95") for i in range(2)]
    now = _now().isoformat()
    assert fill_resting_lane.run([str(o.pk) for o in orders], "SOL-USD", "94", "94", "94", now) == 2
    assert fill_resting_lane.run([str(o.pk) for o in orders], "SOL-USD", "94", "94", "94", now) == 0
    assert_books_ok()
