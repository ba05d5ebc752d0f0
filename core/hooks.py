"""The few calls that point up the layers: one registry, every hook declared here.

Apps import one another one way (``trading`` → ``portfolio`` → ``pricing`` → ``realtime`` →
``accounts`` → ``core``). Where a lower app's flow must reach a higher app (a new user needs
books, a tick must reach the liquidation engine), the lower app calls a hook declared below and
the higher app registers the one implementation in its ``AppConfig.ready()``::

    hooks.user_created.register(account_open)   # portfolio/apps.py
    hooks.user_created(user=user)               # accounts, where a user is created

Each hook has exactly one implementing app (named with it) and a default that runs while none
is registered (an app used without the apps above it simply does less). A hook typed to return
``object`` is a notification: the caller ignores what the implementation returns. Calls are plain
function calls: an implementation's exception reaches the caller, which decides what a failure
means there. No Django signal carries our domain flow; grep a hook's name to find both ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    pass

P = ParamSpec("P")
R = TypeVar("R")


class Hook(Generic[P, R]):
    """One named call from a lower app to the implementation a higher app registered."""

    def __init__(self, name: str, default: Callable[P, R]) -> None:
        self.name = name
        self.implementation: Callable[P, R] = default

    def register(self, implementation: Callable[P, R]) -> None:
        """From the implementing app's ``AppConfig.ready()`` (registering again replaces)."""
        self.implementation = implementation

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.implementation(*args, **kwargs)

    @contextmanager
    def replaced(self, implementation: Callable[P, R]) -> Iterator[None]:
        """Tests: ``implementation`` answers inside the block; the registered one is restored after."""
        previous = self.implementation
        self.implementation = implementation
        try:
            yield
        finally:
            self.implementation = previous

    def __repr__(self) -> str:
        return f"<hook {self.name}>"


class Tick(Protocol):
    """What a hook needs of an accepted price (``pricing.selectors.PriceQuote`` is one): which
    index (``SOL-USD``), its price and when it was computed, and the marks of the perp markets on
    it (``((symbol, mark), ...)``; a perp not listed is marked at the index)."""

    @property
    def symbol(self) -> str: ...

    @property
    def price(self) -> Decimal: ...

    @property
    def bid(self) -> Decimal | None: ...

    @property
    def ask(self) -> Decimal | None: ...

    @property
    def computed_at(self) -> datetime: ...

    @property
    def marks(self) -> tuple[tuple[str, Decimal], ...]: ...


Check = Callable[[], list[str]]


# --- accounts calls -------------------------------------------------------------------------


def _user_created(*, user: Any) -> object:
    """Without portfolio a new user has no books. (``user`` is the ``accounts.User`` just created:
    core imports no app, so it is not named here.)"""
    return None


user_created = Hook("user_created", _user_created)
"""accounts calls it where a user is created (``UserManager.create_user``, a first sign-in, the
admin's add form), inside the transaction that creates the user. portfolio implements it: opens
the user's books with the starting grant (``portfolio.services.account_open``)."""


def _session_revoked(*, user_id: int, session_id: str) -> object:
    """Without realtime there are no sockets to close."""
    return None


session_revoked = Hook("session_revoked", _session_revoked)
"""accounts calls it after a revoking transaction commits, once per revoked credential:
``session_id`` is a session UUID, or ``"apikey-<key_id>"`` for an API key (what
``accounts.selectors.user_from_token`` returns). realtime implements it: closes that session's
sockets (``realtime.receivers.on_session_revoked``)."""


# --- pricing calls --------------------------------------------------------------------------


def _price_tick_accepted(*, quote: Tick) -> object:
    """Without trading nothing liquidates."""
    return None


price_tick_accepted = Hook("price_tick_accepted", _price_tick_accepted)
"""pricing calls it for every accepted index tick, after the record is stored and announced
(``pricing.services.ticks.price_tick_accept``; a failure is logged, never fails the ingest).
trading implements it: runs the engines at the tick (``trading.tasks.liquidate_on_price_tick``):
TP/SL and liquidations of each perp market at its mark (``quote.marks``), limit entries and the
spot markets' orders at the index."""


# --- realtime calls -------------------------------------------------------------------------


def _portfolio_snapshot(*, user_id: int) -> dict[str, Any] | None:
    """Without portfolio there is nothing to push."""
    return None


portfolio_snapshot = Hook("portfolio_snapshot", _portfolio_snapshot)
"""realtime's portfolio feed calls it (in a worker thread) for the price-driven
``portfolio_update`` of a user with account sockets. portfolio implements it: the portfolio
summary at the current index (``portfolio.feed.portfolio_ws_snapshot``)."""


def _trade_updates(*, user_id: int, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Without trading there are no orders to report."""
    return []


trade_updates = Hook("trade_updates", _trade_updates)
"""realtime's Alpaca stream (``realtime.alpaca_stream``) calls it (in a worker thread) for each
user event it relays: the ``data`` of each Alpaca ``trade_updates`` message the event means
(``[]`` for one it does not report). trading implements it (``trading.alpaca.stream.trade_updates``)."""


# --- pricing calls --------------------------------------------------------------------------


def _funding_last(*, symbols: list[str]) -> dict[str, dict[str, Any]]:
    """Without trading no perp market has been funded."""
    return {}


funding_last = Hook("funding_last", _funding_last)
"""pricing's markets API (``pricing.market_selectors``) calls it for the perp markets it shows:
``{symbol: {"rate": Decimal, "funding_time": datetime, "late": bool}}``, the last funding time
settled on each (left out: never funded). trading implements it
(``trading.funding_selectors.funding_last``)."""


# --- portfolio calls ------------------------------------------------------------------------


def _position_totals(*, account_ids: list[int] | None, prices: dict[str, Decimal]) -> dict[int, Any]:
    """Without trading no account has open positions."""
    return {}


position_totals = Hook("position_totals", _position_totals)
"""portfolio calls it (``portfolio.positions.position_totals_get``) for margin used and
unrealized PnL per account: ``{account_id: portfolio.positions.PositionTotals}`` for the
accounts with open positions. trading implements it (``trading.position_totals.position_totals``)."""


def _reconcile_checks() -> dict[str, Check]:
    """Without trading, portfolio's own checks are all there is."""
    return {}


reconcile_checks = Hook("reconcile_checks", _reconcile_checks)
"""portfolio's ``reconcile_run`` calls it for the invariants of the apps above it, by name (each
returns its breaches). trading implements it (``trading.reconcile.trading_checks``)."""
