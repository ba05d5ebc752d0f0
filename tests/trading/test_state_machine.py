"""Hypothesis state machine: buys, sells, resets, replays and price moves keep a model of the
balances in agreement with the database, and the ledger invariants hold at every step."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.errors import DomainError
from portfolio.services import account_reset
from pricing.markets import market_get
from tests.portfolio.helpers import assert_books_ok, balances_of, make_user
from tests.trading.helpers import set_price
from trading.errors import IdempotencyKeyReused
from trading.execution import RuleViolation, plan_market_order
from trading.models import Fill
from trading.services import order_place
from trading.services.orders import market_rules, slippage_model

pytestmark = pytest.mark.django_db

QTYS = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("80"), places=3)
PRICES = st.decimals(min_value=Decimal("5"), max_value=Decimal("400"), places=2)


class OrderBooks(RuleBasedStateMachine):
    @initialize(price=PRICES)
    def start(self, price):
        self.user = make_user()
        self.usd, self.sol = Decimal("10000"), Decimal(0)
        self.price = price
        set_price(price)
        self.placed: list[tuple[str, dict, str]] = []  # (client_order_id, body, order id)
        self.counter = 0
        self.fills = 0

    def _expect(self, side: str, qty: Decimal):
        try:
            plan = plan_market_order(
                side=side,
                index_price=self.price,
                qty=qty,
                notional=None,
                rules=market_rules(market_get("SOL-USD")),
                model=slippage_model(),
                fee_bps=django_settings.TRADING_FEE_BPS,
            )
        except RuleViolation as violation:
            return violation.code, None
        if side == "buy" and plan.notional + plan.fee > self.usd:
            return "insufficient_funds", None
        if side == "sell" and qty > self.sol:
            return "insufficient_funds", None
        return None, plan

    def _place(self, side: str, qty: Decimal) -> None:
        self.counter += 1
        cid = f"sm-{self.counter}"
        body = {"symbol": "SOL-USD", "side": side, "type": "market", "qty": qty}
        code, plan = self._expect(side, qty)
        if code is not None:
            with pytest.raises(DomainError) as info:
                order_place(user=self.user, client_order_id=cid, **body)
            assert info.value.code == code
            return
        placed = order_place(user=self.user, client_order_id=cid, **body)
        assert not placed.replayed
        assert placed.order.filled_avg_price == plan.price
        self.usd += plan.cash_delta
        self.sol += qty if side == "buy" else -qty
        self.fills += 1
        self.placed.append((cid, body, str(placed.order.id)))

    @rule(qty=QTYS)
    def buy(self, qty):
        self._place("buy", qty)

    @rule(fraction=st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal("1"), Decimal("2")]))
    def sell(self, fraction):
        qty = (self.sol * fraction).quantize(Decimal("0.001"))
        if qty > 0:
            self._place("sell", qty)

    @rule(price=PRICES)
    def move_price(self, price):
        self.price = price
        set_price(price)

    @rule()
    def reset(self):
        account_reset(user=self.user, prices={"SOL": self.price})
        self.usd, self.sol = Decimal("10000"), Decimal(0)

    @precondition(lambda self: self.placed)
    @rule(data=st.data())
    def replay_same_body(self, data):
        cid, body, order_id = data.draw(st.sampled_from(self.placed))
        placed = order_place(user=self.user, client_order_id=cid, **body)
        assert placed.replayed and str(placed.order.id) == order_id

    @precondition(lambda self: self.placed)
    @rule(data=st.data())
    def replay_different_body(self, data):
        cid, body, _ = data.draw(st.sampled_from(self.placed))
        changed = {**body, "qty": body["qty"] + Decimal("0.001")}
        with pytest.raises(IdempotencyKeyReused):
            order_place(user=self.user, client_order_id=cid, **changed)

    @invariant()
    def balances_agree_with_the_model(self):
        balances = balances_of(self.user)
        assert balances["USD"] == self.usd
        assert balances["SOL"] == self.sol
        assert Fill.objects.filter(user=self.user).count() == self.fills

    @invariant()
    def books_reconcile(self):
        assert_books_ok()


def test_order_books_state_machine(db):
    """Random sequences of trades, resets, replays and price moves never break the books."""
    run_state_machine_as_test(
        OrderBooks,
        settings=settings(
            max_examples=20,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
