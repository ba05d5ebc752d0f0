"""The Channels stack end to end on the real Redis channel layer."""

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from realtime.groups import prices_group, user_group
from realtime.publish import event, publish

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect():
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://127.0.0.1:8000")])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def test_group_names_are_built_in_one_place_and_validated():
    assert prices_group() == "prices.SOL-USD"
    assert user_group(7) == "user.7"
    for bad in (0, -1, "7", True):
        with pytest.raises(ValueError):
            user_group(bad)
    with pytest.raises(ValueError):
        prices_group("sol usd")


async def test_a_published_price_event_reaches_a_subscribed_socket():
    from asgiref.sync import sync_to_async

    communicator = await _connect()
    await communicator.send_json_to({"type": "subscribe", "channel": "prices"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed", "channel": "prices"}
    payload = event("price_update", {"symbol": "SOL-USD", "price": "150.00"})
    assert await sync_to_async(publish)(prices_group(), payload) is True
    received = await communicator.receive_json_from(timeout=5)
    assert received == payload
    await communicator.disconnect()


async def test_unknown_frames_get_an_error_frame_not_a_crash():
    communicator = await _connect()
    await communicator.send_json_to({"type": "launch-missiles"})
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["type"] == "error" and reply["code"] == "bad_message"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_foreign_origin_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected
