"""The hook registry: every upward call is declared in core.hooks, implemented by the app named
with it, and calls reach exactly the registered implementation."""

from __future__ import annotations

import pytest

from core import hooks
from core.hooks import Hook
from portfolio.feed import portfolio_ws_snapshot
from portfolio.services.accounts import account_open
from realtime.receivers import on_session_revoked
from trading.alpaca.stream import trade_updates
from trading.funding_selectors import funding_last
from trading.position_totals import position_totals
from trading.reconcile import trading_checks
from trading.tasks import liquidate_on_price_tick

IMPLEMENTED_BY = {
    "user_created": account_open,  # portfolio
    "session_revoked": on_session_revoked,  # realtime
    "price_tick_accepted": liquidate_on_price_tick,  # trading
    "portfolio_snapshot": portfolio_ws_snapshot,  # portfolio
    "position_totals": position_totals,  # trading
    "reconcile_checks": trading_checks,  # trading
    "trade_updates": trade_updates,  # trading (the Alpaca stream's)
    "funding_last": funding_last,  # trading (the markets API's last funding)
}


def test_every_hook_is_registered_by_its_app_once_django_is_set_up():
    """Each hook declared in core.hooks answers with the implementation its docstring names."""
    declared = {name: hook for name, hook in vars(hooks).items() if isinstance(hook, Hook)}
    assert set(declared) == set(IMPLEMENTED_BY)
    for name, hook in declared.items():
        assert hook.name == name
        assert hook.implementation is IMPLEMENTED_BY[name], name


def test_a_hook_runs_its_default_until_an_implementation_is_registered():
    """Unregistered: the default answers; registered: the implementation gets the call's arguments."""
    hook = Hook("probe", lambda *, n: None)
    assert hook(n=1) is None
    hook.register(lambda *, n: n * 2)
    assert hook(n=21) == 42


def test_replaced_answers_inside_the_block_and_restores_even_on_error():
    """``replaced`` swaps the implementation for a test and puts the registered one back."""
    hook = Hook("probe", lambda: "registered")
    with hook.replaced(lambda: "probe"):
        assert hook() == "probe"
    assert hook() == "registered"
    with pytest.raises(RuntimeError), hook.replaced(lambda: "probe"):
        raise RuntimeError
    assert hook() == "registered"


def test_an_implementations_error_reaches_the_caller():
    """Hooks are plain calls: the caller decides what a failure means (nothing swallows it here)."""

    def broken():
        raise ValueError("bug")

    hook = Hook("probe", lambda: None)
    hook.register(broken)
    with pytest.raises(ValueError, match="bug"):
        hook()
