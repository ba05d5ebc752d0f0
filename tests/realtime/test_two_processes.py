"""Scale-out: two ASGI server processes on one Redis serve one user base.

An order placed through process A reaches the user's socket on process B
(order_fill, portfolio_update); a price tick reaches sockets on both.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest
from django.conf import settings
from solders.keypair import Keypair
from websockets.sync.client import connect as ws_connect

from tests.conftest import PYTHON, ROOT, free_port, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _server_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DEBUG="0",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        INPROCESS_JOBS="0",
        LOG_LEVEL="WARNING",
        WS_HEARTBEAT_SECONDS="3600",
    )


@pytest.fixture
def two_servers():
    procs, urls = [], []
    env = _server_env()
    for _ in range(2):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, proc in zip(urls, procs, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not start"
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


def _sign_in(base: str) -> str:
    keypair = Keypair()
    with httpx.Client(base_url=base, timeout=10) as client:
        issued = client.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())}).json()
        signature = str(keypair.sign_message(issued["message"].encode()))
        response = client.post("/api/v1/auth/verify", json={"message": issued["message"], "signature": signature})
        assert response.status_code == 200, response.text
        return response.json()["token"]


def _tick(price: str) -> None:
    from pricing.aggregate import IndexPrice
    from pricing.services import price_tick_accept

    index = IndexPrice(
        price=Decimal(price),
        bid=None,
        ask=None,
        sources=("pyth", "coinbase"),
        dispersion=Decimal("0.001"),
        usd_prices={},
    )
    price_tick_accept(index=index, mode="live", computed_at=datetime.now(timezone.utc))


def _socket(base: str, token: str):
    return ws_connect(base.replace("http://", "ws://") + f"/ws/?token={token}", origin=base, open_timeout=10)


def _subscribe(ws) -> None:
    _until(ws, "authenticated")
    ws.send(json.dumps({"type": "subscribe", "channels": ["prices", "account"]}))
    _until(ws, "subscribed")


def _until(ws, wanted: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame["type"] == wanted:
            return frame


def test_an_order_on_one_process_reaches_the_users_socket_on_the_other(two_servers):
    server_a, server_b = two_servers
    token = _sign_in(server_a)
    _tick("150.00")
    with _socket(server_a, token) as socket_a, _socket(server_b, token) as socket_b:
        _subscribe(socket_a)
        _subscribe(socket_b)
        response = httpx.post(
            f"{server_a}/api/v1/orders",
            json={"symbol": "SOL-USD", "side": "buy", "type": "market", "qty": "2", "client_order_id": "x-proc-1"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        order = response.json()
        fill = _until(socket_b, "order_fill")
        assert fill["data"]["order_id"] == order["id"]
        assert fill["data"]["qty"].startswith("2")
        update = _until(socket_b, "portfolio_update")
        assert update["seq"] == fill["seq"] + 1
        assert Decimal(update["data"]["balances"]["SOL"]["total"]) == Decimal("2")
        assert _until(socket_a, "order_fill")["seq"] == fill["seq"], "both processes deliver the same event"

        _tick("151.50")
        for ws in (socket_a, socket_b):
            tick = _until(ws, "price_update")
            assert tick["data"]["price"].startswith("151.5")
