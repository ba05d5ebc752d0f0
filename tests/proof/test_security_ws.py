"""WebSocket abuse limits on real web tiers (nginx + gunicorn + daphne, as `make run` serves)
sharing one Redis and the test database.

Sockets per IP and per user are capped across processes (close 4008 after an error frame); the
sockets of a killed process stop counting within ``WS_SOCKET_TTL_SECONDS`` while live ones stay
counted; a user's sockets share one portfolio snapshot per tick; a session's end closes its
socket (4002); an API key without ``read`` gets no account stream.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from solders.keypair import Keypair
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.proof.stack import WebTier, web_tier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TIMEOUT = 15  # seconds: a bounded guard against hangs, not a timing assertion
TTL = 3  # WS_SOCKET_TTL_SECONDS of the servers under test


def _socket(sockets: ExitStack, server: WebTier, query: str = ""):
    """A client socket, closed when ``sockets`` unwinds (if not closed before)."""
    url = f"ws://127.0.0.1:{server.port}/ws/{query}"
    return sockets.enter_context(ws_connect(url, origin=server.url, open_timeout=TIMEOUT))


def _frame(ws, wanted: str | None = None) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if wanted is None or frame["type"] == wanted:
            return frame


def _served(ws) -> bool:
    """The server answers a ping (the socket was admitted)."""
    ws.send(json.dumps({"type": "ping"}))
    return _frame(ws, "pong")["type"] == "pong"


def _admitted(sockets: ExitStack, server: WebTier):
    """A new socket if the server admits it (answers a ping), None if it refuses it with 4008."""
    ws = _socket(sockets, server)
    try:
        ws.send(json.dumps({"type": "ping"}))
        frame = _frame(ws)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4008, closed
        return None
    if frame["type"] == "error":
        assert frame["code"] == "too_many_connections", frame
        ws.close()
        return None
    return ws


def _refused(ws, scope: str, limit: int) -> int:
    """An error frame naming the cap, then the close; answers the close code the client saw."""
    frame = _frame(ws)
    assert (frame["type"], frame["code"], frame["extra"]) == (
        "error",
        "too_many_connections",
        {"scope": scope, "limit": limit},
    ), frame
    return _close_code(ws)


def _close_code(ws) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=TIMEOUT)
    return closed.value.rcvd.code


def _sign_in(base: str, keypair: Keypair) -> str:
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        issued = client.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
        signature = str(keypair.sign_message(issued["message"].encode()))
        response = client.post("/api/v1/auth/verify", json={"message": issued["message"], "signature": signature})
        assert response.status_code == 200, response.text
        return response.json()["token"]


def test_the_ip_cap_holds_across_processes_and_a_killed_processs_sockets_age_out(figures):
    """Cap 3 per IP over two servers: 2 sockets on A + 1 on B, the next one (on either) gets
    ``too_many_connections`` and close 4008. After B is killed (-9) its socket stops counting
    within the TTL, so A admits one more; A's own sockets, refreshed, still count past the TTL."""
    env = {"WS_MAX_SOCKETS_PER_IP": "3", "WS_SOCKET_TTL_SECONDS": str(TTL)}
    server_b = WebTier(**env).start()
    try:
        with web_tier(**env) as server_a, ExitStack() as sockets:
            opened_at = time.monotonic()
            held_a = [_socket(sockets, server_a), _socket(sockets, server_a)]
            held_b = _socket(sockets, server_b)
            assert all(_served(ws) for ws in (*held_a, held_b))
            for server in (server_a, server_b):
                assert _refused(_socket(sockets, server), "ip", 3) == 4008

            server_b.kill9()
            killed_at = time.monotonic()
            while (ws := _admitted(sockets, server_a)) is None:  # B's entry is no longer refreshed: it expires
                assert time.monotonic() - killed_at < TTL + TIMEOUT, "the killed process's socket still counts"
                time.sleep(0.25)
            held_a.append(ws)
            figures["seconds_until_killed_socket_stopped_counting"] = round(time.monotonic() - killed_at, 2)

            time.sleep(max(0.0, opened_at + TTL + 1 - time.monotonic()))  # past the TTL of A's first claims
            over = _socket(sockets, server_a)
            assert _refused(over, "ip", 3) == 4008, "A's live sockets are refreshed, so they still count"
            held_a[0].close()
            assert _served(_socket(sockets, server_a)), "a closed socket frees its slot"
    finally:
        server_b.stop()


def test_user_cap_shared_snapshot_session_expiry_and_scopes_on_a_real_server(figures):
    """One server, cap 3 per user. A session about to end: its socket gets ``session_expired`` and
    close 4002. A key without ``read``: ``scope_missing`` on the account stream. Two token sockets
    (with the key's: 3): a fourth gets close 4008. A price tick: both account sockets get the same
    portfolio_update frame (one snapshot for the user)."""
    from accounts.models import AuthSession
    from accounts.services import api_key_create
    from pricing.aggregate import IndexPrice
    from pricing.services import price_tick_accept

    keypair = Keypair()
    env = {"WS_MAX_SOCKETS_PER_USER": "3", "WS_PORTFOLIO_COALESCE_MS": "100"}
    with web_tier(**env) as server, ExitStack() as sockets:
        short = _sign_in(server.url, keypair)
        session = AuthSession.objects.get(user__address=str(keypair.pubkey()))
        AuthSession.objects.filter(pk=session.pk).update(expires_at=datetime.now(timezone.utc) + timedelta(seconds=2))
        ws = _socket(sockets, server, f"?token={short}")
        assert _frame(ws)["type"] == "authenticated"
        assert _frame(ws, "session_expired")["data"] == {}
        assert _close_code(ws) == 4002

        token = _sign_in(server.url, keypair)
        _key, secret = api_key_create(user=session.user, name="no-read", scopes=[])
        keyed = _socket(sockets, server, f"?token={secret}")
        assert _frame(keyed)["type"] == "authenticated"
        keyed.send(json.dumps({"type": "subscribe", "channels": ["account"]}))
        assert _frame(keyed)["code"] == "scope_missing"

        mine = [_socket(sockets, server, f"?token={token}") for _ in range(2)]
        for ws in mine:
            _frame(ws, "authenticated")
            ws.send(json.dumps({"type": "subscribe", "channels": ["account"]}))
            _frame(ws, "subscribed")
        assert _refused(_socket(sockets, server, f"?token={token}"), "user", 3) == 4008

        index = IndexPrice(
            price=Decimal("150"), bid=None, ask=None, sources=("pyth",), dispersion=Decimal("0"), usd_prices={}
        )
        price_tick_accept(index=index, mode="live", computed_at=datetime.now(timezone.utc))
        frames = [_frame(ws, "portfolio_update") for ws in mine]
        assert frames[0] == frames[1], "one snapshot, one frame, for both sockets of the user"
        assert frames[0]["data"]["reason"] == "price"
