"""Price-driven portfolio updates are computed once per user per tick in a process, whatever the
number of that user's sockets, and each socket only ever gets its own user's snapshot."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from core import hooks
from realtime.groups import prices_group
from realtime.publish import event, publish
from tests.realtime import snapshot_probe
from tests.realtime.conftest import connect, receive, receive_until, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def probe(fast_ws):
    """The real snapshot, counted: registered as the ``portfolio_snapshot`` hook for the test."""
    snapshot_probe.CALLS.clear()
    with hooks.portfolio_snapshot.replaced(snapshot_probe.counting_snapshot):
        yield snapshot_probe.CALLS
    snapshot_probe.CALLS.clear()


async def _account_socket(token: str):
    ws = await connect(f"/ws/?token={token}")
    await receive(ws)
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    return ws


async def _tick(price: str) -> None:
    await sync_to_async(publish)(prices_group(), event("price_update", {"price": price}))


async def test_n_sockets_of_one_user_cost_one_snapshot_per_tick(probe):
    """Three sockets of one user: each tick gives each socket a portfolio_update, from ONE
    snapshot (one set of queries), not three."""
    alice = await signed_in()
    sockets = [await _account_socket(alice.token) for _ in range(3)]
    for n, price in enumerate(("150.00", "151.00"), start=1):
        await _tick(price)
        frames = [await receive_until(ws, "portfolio_update") for ws in sockets]
        assert len({f["ts"] for f in frames}) == 1, "one snapshot, the same frame for every socket"
        assert len(probe) == n, f"{len(probe)} snapshots for {n} tick(s) of one user with 3 sockets"
    queries_per_snapshot = probe[0][1]
    assert queries_per_snapshot > 0 and sum(q for _, q in probe) == 2 * queries_per_snapshot
    for ws in sockets:
        await ws.disconnect()


async def test_each_socket_gets_only_its_own_users_snapshot(probe):
    """Two users on one process: one snapshot each per tick, delivered to that user's sockets only."""
    alice, bob = await signed_in(), await signed_in()
    mine = [await _account_socket(alice.token) for _ in range(2)]
    theirs = await _account_socket(bob.token)
    await _tick("150.00")
    for ws in mine:
        assert (await receive_until(ws, "portfolio_update"))["data"]["probe_user_id"] == alice.user.id
    assert (await receive_until(theirs, "portfolio_update"))["data"]["probe_user_id"] == bob.user.id
    assert sorted(user for user, _ in probe) == sorted([alice.user.id, bob.user.id])
    for ws in (*mine, theirs):
        await ws.disconnect()


async def test_a_socket_that_left_the_account_stream_gets_no_more_updates(probe):
    """Unsubscribing from account stops price-driven updates to that socket; the user's other
    sockets keep theirs."""
    alice = await signed_in()
    staying, leaving = await _account_socket(alice.token), await _account_socket(alice.token)
    await leaving.send_json_to({"type": "unsubscribe", "channels": ["account"]})
    await receive_until(leaving, "unsubscribed")
    await _tick("150.00")
    await receive_until(staying, "portfolio_update")
    assert await leaving.receive_nothing(timeout=0.5)
    for ws in (staying, leaving):
        await ws.disconnect()
