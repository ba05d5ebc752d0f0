"""Every way into the account stream: URL token, auth frame, API key; revocation closes sockets."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from realtime.publish import user_event_emit
from tests.realtime.conftest import connect, receive, receive_until, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


async def _account_event_arrives(ws, user_id: int) -> None:
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    sent = await database_sync_to_async(user_event_emit)(user_id=user_id, event_type="order_fill", data={"x": 1})
    assert await receive_until(ws, "order_fill") == sent


async def test_session_token_on_the_url(fast_ws):
    session = await signed_in()
    ws = await connect(f"/ws/?token={session.token}")
    hello = await receive(ws)
    assert hello["data"] == {"user_id": session.user.id, "via": "token"}
    await _account_event_arrives(ws, session.user.id)
    await ws.disconnect()


async def test_auth_frame_upgrades_an_anonymous_socket(fast_ws):
    session = await signed_in()
    ws = await connect()
    await ws.send_json_to({"type": "auth", "token": "sps_not-a-real-token"})
    assert (await receive(ws))["code"] == "auth_failed"
    await ws.send_json_to({"type": "auth", "token": session.token})
    assert (await receive(ws))["type"] == "authenticated"
    await _account_event_arrives(ws, session.user.id)
    await ws.disconnect()


async def test_a_socket_cannot_switch_to_another_user(fast_ws):
    alice, bob = await signed_in(), await signed_in()
    ws = await connect(f"/ws/?token={alice.token}")
    await receive(ws)
    await ws.send_json_to({"type": "auth", "token": bob.token})
    assert (await receive(ws))["code"] == "already_authenticated"
    await database_sync_to_async(user_event_emit)(user_id=bob.user.id, event_type="order_fill", data={})
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_api_key_secret_as_token_and_its_revocation_closes_the_socket(fast_ws):
    from accounts.services import api_key_revoke
    from tests.accounts.helpers import create_api_key

    session = await signed_in()
    key_id, secret = await database_sync_to_async(create_api_key)(session.user, ("read",))
    ws = await connect(f"/ws/?token={secret}")
    assert (await receive(ws))["type"] == "authenticated"
    await _account_event_arrives(ws, session.user.id)
    await database_sync_to_async(api_key_revoke)(user=session.user, key_id=key_id)
    assert (await receive_until(ws, "session_revoked"))["type"] == "session_revoked"
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}


async def test_deleting_a_session_closes_its_token_sockets(fast_ws):
    session = await signed_in()
    ws = await connect(f"/ws/?token={session.token}")
    await receive(ws)

    @database_sync_to_async
    def delete_session():
        from accounts.models import AuthSession

        sid = AuthSession.objects.get(user=session.user).pk
        response = session.client.delete(f"/api/v1/auth/sessions/{sid}", HTTP_AUTHORIZATION=f"Bearer {session.token}")
        assert response.status_code in (200, 204), response.content

    await delete_session()
    assert (await receive_until(ws, "session_revoked"))["type"] == "session_revoked"
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}
