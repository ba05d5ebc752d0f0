"""The TP/SL engine's set-based close batch on the real PostgreSQL: the same book closed by the
trader's close command one position per transaction and in one batch (and through the ORM twins)
to the last digit, a fixed number of statements whatever the batch size, the re-check under the
row lock (a close, an edit, a size change or a second run that came first: the row drops out),
an aged tick, batches of a configured size, and the fall-back to the close command."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolio.models import Balance, LedgerTransaction
from pricing.errors import PriceStale
from realtime.models import UserEvent
from tests.portfolio.helpers import assert_books_ok, make_user
from tests.trading.helpers import set_price
from tests.trading.position_helpers import market_set, set_index_price
from trading.models import Position, PositionEvent, PositionOrder
from trading.services import position_triggers
from trading.services.position_triggers import position_triggers_run, tick_quote, tpsl_candidates
from trading.services.positions import close_request_hash, position_close, position_open, position_tpsl_set
from trading.services.tpsl_batch import tpsl_close_batch
from trading.tpsl_pg import PORTABLE_TPSL

pytestmark = pytest.mark.django_db
SOL = ["SOL-PERP"]


@pytest.fixture(autouse=True)
def costs(settings):
    """The normal costs, with odd figures: spread and impact slippage, a 10 bps fee, mmr 0.5 %."""
    settings.TRADING_SPREAD_BPS = D("3")
    settings.TRADING_IMPACT_BPS = D("7")
    settings.POSITION_FEE_BPS = D(10)
    settings.PORTFOLIO_START_USD = D(100000)
    market_set("SOL-PERP", mmr=D("0.005"))


def _open(user, cid: str, side: str, leverage: str, *, margin: str | None = "100", qty: str | None = None, **tpsl):
    prices = {name: D(value) for name, value in tpsl.items()}
    return position_open(
        user=user, side=side, leverage=D(leverage), margin=D(margin) if margin else None,
        qty=D(qty) if qty else None, client_order_id=cid, **prices,
    ).position  # fmt: skip


def _scenario() -> list:
    """Seven traders; at a tick of 107: A's long (entry ~100, TP 105) and B's long of qty 0.731
    (TP 104.5) take profit; C's long (entry ~120, SL 110) and D's short (entry ~100, SL 106) stop
    out; E's long at 10x from ~120 (SL 109, bankruptcy ~108) gapped past bankruptcy: insurance pays
    the rest; F's short from ~120 (TP 110) takes profit; G's long (TP 130) is not crossed."""
    users = [make_user() for _ in range(7)]
    a, b, c, d, e, f, g = users
    set_price(D(100))
    _open(a, "a", "long", "10", take_profit_price="105", stop_loss_price="95")
    _open(b, "b", "long", "3", margin=None, qty="0.731", take_profit_price="104.5")
    _open(d, "d", "short", "7", stop_loss_price="106", take_profit_price="90")
    _open(g, "g", "long", "2", take_profit_price="130")
    set_price(D("120.000003"))
    _open(c, "c", "long", "5", margin="250.5", stop_loss_price="110")
    _open(e, "e", "long", "10", stop_loss_price="109")
    _open(f, "f", "short", "4", take_profit_price="110", stop_loss_price="125")
    return users


_TIMES = ("position_id", "opened_at", "closed_at", "ts")


def _snapshot(user) -> dict:
    """Everything a close changed for ``user``, without ids and times (a position's id inside
    the client order id and the ledger reference is replaced by its own client order id)."""
    positions = {str(p.pk): p for p in Position.objects.filter(user=user)}
    name = {pk: p.client_order_id for pk, p in positions.items()}
    me = user.ledger_account.pk
    ledger = []
    for txn in LedgerTransaction.objects.filter(reference_id__in=list(name)).order_by("pk"):
        entries = [
            ("me" if e.account_id == me else e.account.code, e.asset, e.bucket, e.amount)
            for e in txn.entries.order_by("pk")
        ]
        ledger.append((name[txn.reference_id], txn.reason, txn.reference_type, txn.memo, entries))
    fields = ("client_order_id", "symbol", "side", "status", "leverage", "entry_price", "qty", "margin",
              "liquidation_price", "fee", "fees_paid", "realized_pnl", "exit_price", "take_profit_price",
              "stop_loss_price")  # fmt: skip
    events = []
    for event in UserEvent.objects.filter(user=user).order_by("seq"):
        data = {k: v for k, v in event.payload["data"].items() if k not in _TIMES}
        events.append((event.seq, event.type, data))
    return {
        "positions": sorted(tuple(getattr(p, f) for f in fields) for p in positions.values()),
        "history": sorted(
            (
                name[str(h.position_id)],
                h.kind,
                h.qty,
                h.price,
                h.index_price,
                h.margin,
                h.fee,
                h.realized_pnl,
                h.insurance,
                h.liquidation_price,
                h.reason,
                h.price_computed_at is not None,
            )
            for h in PositionEvent.objects.filter(position__user=user)
        ),  # fmt: skip
        "orders": sorted(
            (
                o.client_order_id.replace(str(o.position_id), name[str(o.position_id)]),
                o.request_hash if not o.client_order_id.startswith(("take_profit:", "stop_loss:")) else "trigger",
                o.symbol,
                o.side,
                o.action,
                o.qty,
                o.price,
                o.index_price,
                o.fee,
                o.realized_pnl,
                o.event.kind,
                o.event.reason,
            )
            for o in PositionOrder.objects.filter(user=user).select_related("event")
        ),  # fmt: skip
        "ledger": ledger,
        "balances": sorted(Balance.objects.filter(account__user=user).values_list("asset", "total", "locked")),
        "events": events,
    }


def _candidates(users) -> list:
    ids = {u.pk for u in users}
    return [row for row in tpsl_candidates(price=D(107), symbols=SOL) if row[1] in ids]


def test_a_batch_equals_the_close_command_to_the_last_digit():
    """The same book built three times; a tick at 107 closes the first copy by the trader's close
    command with the trigger, one position per transaction (the one-position path), the second in
    one batch, the third in one batch through the ORM twins (SQLite's statements): positions,
    history rows, order records, ledger transactions and entries, balances and events (seqs and
    payloads) are equal; the request hashes of the trigger records are the close command's."""
    groups = [_scenario() for _copy in range(3)]
    computed_at = set_index_price("SOL-USD", D(107))
    quote = tick_quote("SOL-USD", price=D(107), computed_at=computed_at)
    rows = [_candidates(users) for users in groups]
    assert [len(r) for r in rows] == [6, 6, 6]
    users_by_id = {u.pk: u for users in groups for u in users}
    each = [
        pid for pid, uid, kind in rows[0] if position_triggers._close(users_by_id[uid], pid, kind=kind, quote=quote)
    ]
    batch = tpsl_close_batch(rows=rows[1], quote=quote, symbols=SOL)
    orm = tpsl_close_batch(rows=rows[2], quote=quote, symbols=SOL, sql=PORTABLE_TPSL)
    assert len(each) == len(batch) == len(orm) == 6
    assert sorted(kind for _id, kind in batch) == ["stop_loss"] * 3 + ["take_profit"] * 3
    for one, two, three in zip(*groups, strict=True):
        expected = _snapshot(one)
        assert _snapshot(two) == expected, one.username
        assert _snapshot(three) == expected, one.username
    for copy in groups:
        records = PositionOrder.objects.filter(user__in=copy, action="close").order_by("user_id")
        assert {o.request_hash for o in records} == {
            close_request_hash(position_id=o.position_id, qty=None) for o in records
        }
    e_close = PositionEvent.objects.get(position__user=groups[1][4], kind="close")
    assert e_close.insurance < 0 and e_close.reason == "stop_loss"  # the gap past bankruptcy
    assert_books_ok()


def _traders(n: int, *, tp: str = "105") -> list:
    set_price(D(100))
    users = [make_user() for _ in range(n)]
    return [_open(u, f"t-{i}", "long", "10", take_profit_price=tp) for i, u in enumerate(users)]


def test_statements_per_batch_do_not_grow_with_its_size():
    """A batch of 2 and one of 6 run the same number of statements; in its transaction: lock the
    owners' USD rows, the close UPDATE, the ledger's four, the history rows and records, the
    three reads of the books, the events' two."""
    inside = []
    for n in (2, 6):
        _traders(n)
        computed_at = set_index_price("SOL-USD", D(107))
        quote = tick_quote("SOL-USD", price=D(107), computed_at=computed_at)
        rows = tpsl_candidates(price=D(107), symbols=SOL)
        with CaptureQueriesContext(connection) as queries:
            closed = tpsl_close_batch(rows=rows, quote=quote, symbols=SOL)
        assert len(closed) == n
        sqls = [q["sql"] for q in queries.captured_queries]
        start = sqls.index(next(q for q in sqls if q.startswith("SAVEPOINT")))
        end = sqls.index(next(q for q in sqls if q.startswith("RELEASE SAVEPOINT")))
        inside.append((start, end - start - 1))
    assert inside[0] == inside[1], inside
    assert inside[0][1] == 12, inside
    assert_books_ok()


def test_what_changed_before_the_lock_drops_out_and_a_second_run_closes_nothing():
    """Candidates listed at 107, then before the batch: one closed by hand, one's TP moved above
    the tick, one's TP cleared, one increased (its size changed after the tick). The batch closes
    only the other two; a second run of the same rows closes nothing."""
    positions = _traders(6)
    computed_at = set_index_price("SOL-USD", D(107))
    rows = tpsl_candidates(price=D(107), symbols=SOL, before=computed_at)
    assert len(rows) == 6
    owners = {p.pk: p.user for p in positions}
    p0, p1, p2, p3, p4, p5 = positions
    position_close(user=owners[p0.pk], position_id=p0.pk, client_order_id="hand")
    position_tpsl_set(user=owners[p1.pk], position_id=p1.pk, take_profit_price=D(108))
    position_tpsl_set(user=owners[p2.pk], position_id=p2.pk, take_profit_price=None)
    set_index_price("SOL-USD", D(107))
    _open(owners[p3.pk], "more", "long", "10")
    quote = tick_quote("SOL-USD", price=D(107), computed_at=computed_at)
    closed = tpsl_close_batch(rows=rows, quote=quote, symbols=SOL)
    assert sorted(pid for pid, _kind in closed) == sorted([str(p4.pk), str(p5.pk)])
    assert tpsl_close_batch(rows=rows, quote=quote, symbols=SOL) == []
    assert PositionEvent.objects.filter(kind="close", reason="take_profit").count() == 2
    assert Position.objects.get(pk=p1.pk).status == "open" and Position.objects.get(pk=p3.pk).status == "open"
    assert PositionEvent.objects.filter(position=p0, kind="close").get().reason == ""
    assert_books_ok()


def test_a_tick_that_aged_while_the_batch_waited_writes_nothing():
    _traders(2)
    computed_at = set_index_price("SOL-USD", D(107))
    rows = tpsl_candidates(price=D(107), symbols=SOL)
    quote = tick_quote("SOL-USD", price=D(107), computed_at=computed_at)
    aged = quote.__class__(**{**quote.__dict__, "computed_at": computed_at - timedelta(minutes=5)})
    with pytest.raises(PriceStale):
        tpsl_close_batch(rows=rows, quote=aged, symbols=SOL)
    assert not PositionEvent.objects.filter(kind="close").exists()
    assert Position.objects.filter(status="open").count() == 2


def _no_fallback(*args, **kwargs):
    raise AssertionError("the batch failed and fell back to the close command")


def test_batches_of_a_configured_size(settings, monkeypatch):
    """Batches of 2 over 5 crossed positions close all five, each under its trigger's id."""
    settings.POSITION_TPSL_BATCH = 2
    monkeypatch.setattr(position_triggers, "_close", _no_fallback)
    positions = _traders(5)
    computed_at = set_index_price("SOL-USD", D(107))
    report = position_triggers_run(index_symbol="SOL-USD", price=D(107), computed_at=computed_at)
    assert sorted(report.closed) == sorted((str(p.pk), "take_profit") for p in positions) and report.skipped == 0
    assert set(PositionOrder.objects.filter(action="close").values_list("client_order_id", flat=True)) == {
        f"take_profit:{p.pk}" for p in positions
    }
    again = position_triggers_run(index_symbol="SOL-USD", price=D(107), computed_at=computed_at)
    assert again.closed == [] and again.candidates == 0
    assert_books_ok()


def test_a_failing_batch_falls_back_to_the_close_command(monkeypatch):
    """A batch that raises leaves nothing half done: its positions are then closed one by one."""
    positions = _traders(3)
    computed_at = set_index_price("SOL-USD", D(107))

    def broken(**_kwargs):
        raise RuntimeError("batch broke")

    monkeypatch.setattr(position_triggers, "tpsl_close_batch", broken)
    report = position_triggers_run(index_symbol="SOL-USD", price=D(107), computed_at=computed_at)
    assert sorted(report.closed) == sorted((str(p.pk), "take_profit") for p in positions)
    assert PositionEvent.objects.filter(kind="close", reason="take_profit").count() == 3
    assert_books_ok()
