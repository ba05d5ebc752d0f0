"""WebSocket test helpers: real ASGI app, real Redis channel layer."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def app():
    from config.asgi import application

    return application


async def connect(path: str = "/ws/", headers: list | None = None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(app(), path, headers=[ORIGIN, *(headers or [])])
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"refused with {code}"
    return communicator


async def receive(communicator, timeout: float = 5) -> dict:
    return await communicator.receive_json_from(timeout=timeout)


async def receive_until(communicator, wanted: str, timeout: float = 5) -> dict:
    """Skip frames (heartbeats, price ticks) until one of type ``wanted`` arrives."""
    while True:
        frame = await receive(communicator, timeout)
        if frame.get("type") == wanted:
            return frame


@database_sync_to_async
def make_user(address: str | None = None):
    from solders.keypair import Keypair

    from accounts.models import User

    addr = address or str(Keypair().pubkey())
    return User.objects.create_user(username=addr, address=addr)


class SignedIn:
    """A wallet signed in over HTTP (nonce -> sign -> verify): token, user, browser cookie."""

    def __init__(self, client, token: str, user) -> None:
        self.client = client
        self.token = token
        self.user = user

    @property
    def cookie_header(self) -> list[tuple[bytes, bytes]]:
        key = self.client.cookies[settings.SESSION_COOKIE_NAME].value
        return [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]


@database_sync_to_async
def signed_in() -> SignedIn:
    from django.test import Client

    from tests.accounts.helpers import sign_in

    client = Client()
    token, user = sign_in(client)
    return SignedIn(client, token, user)


@pytest.fixture
def fast_ws(settings):
    settings.WS_HEARTBEAT_SECONDS = 3600
    settings.WS_PORTFOLIO_COALESCE_MS = 200
    return settings
