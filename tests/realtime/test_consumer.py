"""The /ws/ consumer: public prices, authenticated account stream, bad frames, limits."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from realtime.groups import prices_group, session_group, user_group
from realtime.publish import event, publish, user_event_emit
from tests.realtime.conftest import app, connect, make_user, receive, receive_until, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_group_names_are_built_in_one_place_and_validated():
    assert prices_group() == "prices.SOL-USD"
    assert user_group(7) == "user.7"
    assert session_group("0b5c-11") == "session.0b5c-11"
    for bad in (0, -1, "7", True):
        with pytest.raises(ValueError):
            user_group(bad)
    with pytest.raises(ValueError):
        prices_group("sol usd")
    with pytest.raises(ValueError):
        session_group("a.b*")


async def test_anyone_gets_public_price_ticks_after_subscribing(fast_ws):
    ws = await connect()
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"]})
    assert (await receive(ws))["data"]["channels"] == ["prices"]
    tick = event("price_update", {"symbol": "SOL-USD", "price": "150.25", "sources": ["pyth", "coinbase"]})
    assert await sync_to_async(publish)(prices_group(), tick)
    assert await receive(ws) == tick
    await ws.disconnect()


async def test_unsubscribed_socket_gets_no_ticks(fast_ws):
    ws = await connect()
    await ws.send_json_to({"type": "subscribe", "channel": "prices"})
    await receive(ws)
    await ws.send_json_to({"type": "unsubscribe", "channels": ["prices"]})
    assert (await receive(ws))["type"] == "unsubscribed"
    await sync_to_async(publish)(prices_group(), event("price_update", {"price": "1"}))
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_account_stream_needs_authentication(fast_ws):
    ws = await connect()
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    reply = await receive(ws)
    assert reply["type"] == "error" and reply["code"] == "auth_required"
    await ws.send_json_to({"type": "resume", "after_seq": 0})
    assert (await receive(ws))["code"] == "auth_required"
    await ws.disconnect()


async def test_cookie_session_gets_its_own_user_events_and_not_others(fast_ws):
    session, bob = await signed_in(), await make_user()
    alice = session.user
    ws = await connect(headers=session.cookie_header)
    hello = await receive(ws)
    assert hello["type"] == "authenticated" and hello["data"] == {"user_id": alice.id, "via": "cookie"}
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    await receive_until(ws, "subscribed")
    mine = await database_sync_to_async(user_event_emit)(
        user_id=alice.id, event_type="order_fill", data={"order": {"id": "o-1"}}
    )
    await database_sync_to_async(user_event_emit)(user_id=bob.id, event_type="order_fill", data={"order": {}})
    got = await receive(ws)
    assert got == mine and got["seq"] == 1
    assert await ws.receive_nothing(timeout=0.5), "bob's event must not reach alice"
    await ws.disconnect()


async def test_bad_frames_get_error_frames_and_the_socket_survives(fast_ws):
    ws = await connect()
    cases = [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_message"),
        ('{"no": "type"}', "bad_message"),
        ('{"type": "launch"}', "unknown_type"),
        ('{"type": "subscribe", "channels": ["secrets"]}', "unknown_channel"),
        ('{"type": "subscribe", "channels": "user.1"}', "unknown_channel"),
        ('{"type": "subscribe"}', "bad_message"),
        ('{"type": "resume", "after_seq": "x"}', "auth_required"),
        ('{"type": "auth", "token": 12}', "auth_failed"),
    ]
    for text, code in cases:
        await ws.send_to(text_data=text)
        reply = await receive(ws)
        assert (reply["type"], reply["code"]) == ("error", code), text
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive(ws))["code"] == "binary_not_supported"
    await ws.send_json_to({"type": "ping"})
    assert (await receive(ws))["type"] == "pong"
    await ws.disconnect()


async def test_oversized_frame_closes_with_1009(fast_ws, settings):
    settings.WS_MAX_FRAME_BYTES = 256
    ws = await connect()
    await ws.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 300}))
    assert (await receive(ws))["code"] == "frame_too_large"
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1009}


async def test_message_flood_is_rate_limited_then_closed(fast_ws, settings):
    settings.WS_RATE_PER_SECOND = 1
    settings.WS_RATE_BURST = 3
    settings.WS_RATE_MAX_VIOLATIONS = 2
    ws = await connect()
    for _ in range(3):
        await ws.send_json_to({"type": "ping"})
        assert (await receive(ws))["type"] == "pong"
    await ws.send_json_to({"type": "ping"})
    assert (await receive(ws))["code"] == "rate_limited"
    await ws.send_json_to({"type": "ping"})
    assert (await receive(ws))["code"] == "rate_limited"
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1008}


async def test_silent_client_is_closed_after_the_idle_timeout(settings):
    settings.WS_HEARTBEAT_SECONDS = 0.05
    settings.WS_IDLE_TIMEOUT_SECONDS = 0.2
    ws = await connect()
    frames = []
    while True:
        out = await ws.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            break
        frames.append(json.loads(out["text"])["type"])
    assert out["code"] == 4000
    assert "heartbeat" in frames


async def test_foreign_origin_is_refused():
    ws = WebsocketCommunicator(app(), "/ws/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await ws.connect()
    assert not connected


async def test_bad_url_token_is_refused_at_the_handshake(fast_ws):
    ws = WebsocketCommunicator(app(), "/ws/?token=nope", headers=[(b"origin", b"http://127.0.0.1:8000")])
    connected, code = await ws.connect()
    assert not connected
    assert code == 4003


async def test_logout_closes_the_cookie_sessions_sockets(fast_ws):
    session = await signed_in()
    ws = await connect(headers=session.cookie_header)
    assert (await receive(ws))["type"] == "authenticated"

    @database_sync_to_async
    def logout():
        response = session.client.post("/api/v1/auth/logout", HTTP_AUTHORIZATION=f"Bearer {session.token}")
        assert response.status_code in (200, 204), response.content

    await logout()
    assert (await receive(ws))["type"] == "session_revoked"
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}


async def test_a_plain_django_login_without_a_sign_in_session_is_anonymous(fast_ws):
    """An ops /admin/ login is not a trading session: the socket stays anonymous."""
    from django.test import Client

    user = await make_user()

    @database_sync_to_async
    def cookie():
        client = Client()
        client.force_login(user)
        key = client.cookies["sessionid"].value
        return [(b"cookie", f"sessionid={key}".encode())]

    ws = await connect(headers=await cookie())
    await ws.send_json_to({"type": "subscribe", "channels": ["account"]})
    assert (await receive(ws))["code"] == "auth_required"
    await ws.disconnect()


async def test_a_slow_first_subscribe_is_logged_once_with_where_the_time_went(fast_ws, caplog):
    """Over WS_SLOW_SUBSCRIBE_MS from connect to the first ``subscribed``: one warning naming the
    handshake, the client's wait and the subscribe; a later subscribe of the socket is not logged,
    nor a fast socket's (the default 2 s)."""
    fast_ws.WS_SLOW_SUBSCRIBE_MS = 0  # every socket is "slow"
    caplog.set_level("WARNING", logger="realtime.consumers")
    ws = await connect()
    for channels in (["prices"], ["prices"]):
        await ws.send_json_to({"type": "subscribe", "channels": channels})
        await receive_until(ws, "subscribed")
    await ws.disconnect()
    slow = [r.getMessage() for r in caplog.records if r.name == "realtime.consumers"]
    assert len(slow) == 1 and slow[0].startswith("slow subscribe: ")
    assert all(part in slow[0] for part in ("handshake", "client's subscribe", "channels prices"))

    caplog.clear()
    fast_ws.WS_SLOW_SUBSCRIBE_MS = 2000
    ws = await connect()
    await ws.send_json_to({"type": "subscribe", "channels": ["prices"]})
    await receive_until(ws, "subscribed")
    await ws.disconnect()
    assert [r for r in caplog.records if r.name == "realtime.consumers"] == []
