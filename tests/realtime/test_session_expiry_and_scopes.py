"""A socket dies with its sign-in session's expiry; an API key needs the ``read`` scope for the
account stream, exactly as for the HTTP reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from tests.realtime.conftest import connect, receive, receive_until, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _expire_soon(user, seconds: float = 1.5) -> None:
    from accounts.models import AuthSession

    AuthSession.objects.filter(user=user).update(expires_at=timezone.now() + timedelta(seconds=seconds))


async def _closes_at_expiry(ws) -> None:
    assert (await receive_until(ws, "session_expired", timeout=10))["data"] == {}
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4002, "reason": "session expired"}


@pytest.mark.parametrize("via", ["token", "cookie"])
async def test_a_socket_is_closed_with_4002_when_its_session_expires(fast_ws, via):
    """The session's end is known at connect: then the socket gets ``session_expired`` and close
    4002, whether it came in with the bearer token or the browser cookie."""
    session = await signed_in()
    await _expire_soon(session.user)
    ws = await (connect(f"/ws/?token={session.token}") if via == "token" else connect(headers=session.cookie_header))
    assert (await receive(ws))["type"] == "authenticated"
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    await _closes_at_expiry(ws)


async def test_an_auth_frame_session_expires_too(fast_ws):
    """Signing an anonymous socket in with an auth frame binds it to that session's end as well."""
    session = await signed_in()
    await _expire_soon(session.user)
    ws = await connect()
    await ws.send_json_to({"type": "auth", "token": session.token})
    assert (await receive(ws))["type"] == "authenticated"
    await _closes_at_expiry(ws)


@database_sync_to_async
def _key_without_read(user) -> str:
    from accounts.services import api_key_create

    _key, secret = api_key_create(user=user, name="no-read", scopes=[])
    return secret


async def test_an_api_key_without_read_gets_no_account_stream_as_on_http(fast_ws):
    """A key lacking ``read``: HTTP reads answer 403 scope_missing, and on the socket subscribe /
    resume of the account stream answer the same code; public prices stay open to it."""
    session = await signed_in()
    secret = await _key_without_read(session.user)

    @database_sync_to_async
    def http_status():
        response = session.client.get("/api/v1/portfolio", HTTP_AUTHORIZATION=f"Bearer {secret}")
        return response.status_code, response.json()["code"]

    assert await http_status() == (403, "scope_missing")
    ws = await connect(f"/ws/?token={secret}")
    assert (await receive(ws))["type"] == "authenticated"
    for frame in ({"type": "subscribe", "channels": ["prices", "account"]}, {"type": "resume", "after_seq": 0}):
        await ws.send_json_to(frame)
        reply = await receive(ws)
        assert (reply["type"], reply["code"]) == ("error", "scope_missing"), frame
        assert reply["extra"] == {"required_scope": "read"}
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"]})
    assert (await receive(ws))["data"]["channels"] == ["prices"]
    await ws.disconnect()


async def test_an_api_key_with_read_keeps_the_account_stream(fast_ws):
    """A read-only key subscribes to account; API keys have no expiry, so no expiry timer closes it."""
    from tests.accounts.helpers import create_api_key

    session = await signed_in()
    _key_id, secret = await database_sync_to_async(create_api_key)(session.user, ("read",))
    ws = await connect(f"/ws/?token={secret}")
    await receive(ws)
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    assert (await receive(ws))["data"] == {"channels": ["account"], "symbols": []}
    await ws.disconnect()
