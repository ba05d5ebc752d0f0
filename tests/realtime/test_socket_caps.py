"""Live sockets are capped per user and per client IP, across processes (Redis registry).

Over a cap the socket is accepted, told why in an error frame, and closed with 4008 and a reason.
"""

from __future__ import annotations

import time

import pytest
from channels.testing import WebsocketCommunicator

from realtime.connlimits import Cap, SocketRegistry, socket_registry
from tests.realtime.conftest import ORIGIN, app, receive, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


async def open_socket(path: str = "/ws/", *, ip: str | None = None, headers: list | None = None):
    """A socket from ``ip`` (the ASGI scope's peer address); accepted, or the test fails."""
    ws = WebsocketCommunicator(app(), path, headers=[ORIGIN, *(headers or [])])
    if ip is not None:
        ws.scope["client"] = (ip, 50000)  # the app task has not started yet: it sees this scope
    connected, code = await ws.connect(timeout=5)
    assert connected, f"refused at the handshake with {code}"
    return ws


async def assert_refused(ws, scope: str, limit: int) -> None:
    frame = await receive(ws)
    assert frame["type"] == "error" and frame["code"] == "too_many_connections", frame
    assert frame["extra"] == {"scope": scope, "limit": limit}
    closed = await ws.receive_output(timeout=5)
    label = "IP" if scope == "ip" else "user"
    assert closed == {"type": "websocket.close", "code": 4008, "reason": f"too many connections for this {label}"}


async def test_a_user_over_the_cap_is_closed_with_4008_and_a_freed_slot_admits_again(fast_ws):
    """With WS_MAX_SOCKETS_PER_USER = 2, a user's third socket (any credential) is refused with
    4008; another user is not affected; closing one socket frees its slot."""
    fast_ws.WS_MAX_SOCKETS_PER_USER = 2
    alice, bob = await signed_in(), await signed_in()
    first = await open_socket(f"/ws/?token={alice.token}")
    second = await open_socket(headers=alice.cookie_header)
    for ws in (first, second):
        assert (await receive(ws))["type"] == "authenticated"
    third = await open_socket(f"/ws/?token={alice.token}")
    await assert_refused(third, "user", 2)
    other = await open_socket(f"/ws/?token={bob.token}")
    assert (await receive(other))["type"] == "authenticated", "the cap is per user"
    await first.disconnect()
    again = await open_socket(f"/ws/?token={alice.token}")
    assert (await receive(again))["type"] == "authenticated", "a closed socket's slot is free again"
    for ws in (second, other, again):
        await ws.disconnect()


async def test_signing_in_with_an_auth_frame_counts_against_the_user_cap(fast_ws):
    """An anonymous socket that sends an auth frame for a user already at the cap is refused (4008)."""
    fast_ws.WS_MAX_SOCKETS_PER_USER = 1
    alice = await signed_in()
    held = await open_socket(f"/ws/?token={alice.token}")
    await receive(held)
    anonymous = await open_socket()
    await anonymous.send_json_to({"type": "auth", "token": alice.token})
    await assert_refused(anonymous, "user", 1)
    await held.send_json_to({"type": "auth", "token": alice.token})  # the same socket again: no second slot
    assert (await receive(held))["type"] == "authenticated"
    await held.disconnect()


async def test_an_ip_over_the_cap_is_closed_with_4008(fast_ws):
    """With WS_MAX_SOCKETS_PER_IP = 2, a third socket from one address is refused; another
    address is admitted."""
    fast_ws.WS_MAX_SOCKETS_PER_IP = 2
    held = [await open_socket(ip="203.0.113.7") for _ in range(2)]
    await assert_refused(await open_socket(ip="203.0.113.7"), "ip", 2)
    elsewhere = await open_socket(ip="203.0.113.8")
    await elsewhere.send_json_to({"type": "ping"})
    assert (await receive(elsewhere))["type"] == "pong"
    for ws in (*held, elsewhere):
        await ws.disconnect()


async def test_the_ip_is_read_like_the_http_rate_limits_forged_forwarded_for_does_not_escape(fast_ws):
    """Without trusted proxies X-Forwarded-For is ignored (a client cannot pick a fresh address);
    behind one trusted proxy the address it forwarded is the one counted."""
    fast_ws.WS_MAX_SOCKETS_PER_IP = 1
    fast_ws.AUTH_TRUSTED_PROXY_COUNT = 0
    held = await open_socket(ip="198.51.100.1")
    forged = await open_socket(ip="198.51.100.1", headers=[(b"x-forwarded-for", b"192.0.2.99")])
    await assert_refused(forged, "ip", 1)
    await held.disconnect()

    fast_ws.AUTH_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    client_a = await open_socket(ip=proxy, headers=[(b"x-forwarded-for", b"192.0.2.1")])
    client_b = await open_socket(ip=proxy, headers=[(b"x-forwarded-for", b"192.0.2.2")])
    await client_b.send_json_to({"type": "ping"})
    assert (await receive(client_b))["type"] == "pong", "two clients behind one proxy are two addresses"
    again_a = await open_socket(ip=proxy, headers=[(b"x-forwarded-for", b"192.0.2.1")])
    await assert_refused(again_a, "ip", 1)
    for ws in (client_a, client_b):
        await ws.disconnect()


async def test_a_crashed_processs_entries_stop_counting_and_live_ones_are_refreshed(fast_ws):
    """Entries are scored by expiry: one whose process stopped refreshing it (score in the past)
    does not count; one still refreshed (score ahead) does; the process refreshes its own."""
    from core.redis import redis_client

    fast_ws.WS_MAX_SOCKETS_PER_IP = 2
    key = Cap("ip", "203.0.113.50", 2).key
    now_ms = int(time.time() * 1000)
    redis_client().zadd(key, {"crashed-process-socket": now_ms - 1, "other-process-socket": now_ms + 60_000})
    mine = await open_socket(ip="203.0.113.50")
    members = {m.decode() for m in redis_client().zrange(key, 0, -1)}
    assert "crashed-process-socket" not in members and "other-process-socket" in members
    await assert_refused(await open_socket(ip="203.0.113.50"), "ip", 2)

    (member,) = members - {"other-process-socket"}
    before = redis_client().zscore(key, member)
    redis_client().zadd(key, {member: before - 30_000})  # as if half the TTL went by
    assert await socket_registry().refresh() >= 1
    assert redis_client().zscore(key, member) >= before, "the refresh pushes the expiry forward"
    await mine.disconnect()
    assert redis_client().zscore(key, member) is None, "a closed socket leaves the registry at once"


async def test_embedded_mode_counts_in_process(settings):
    """Without Redis the registry counts in the process: same caps, same release."""
    settings.REDIS_URL = ""
    registry = SocketRegistry()
    caps = [Cap("user", "7", 2)]
    assert await registry.claim("a", caps) is None
    assert await registry.claim("a", caps) is None, "a socket claiming again takes no second slot"
    assert await registry.claim("b", caps) is None
    assert await registry.claim("c", caps) == caps[0]
    await registry.release("a")
    assert await registry.claim("c", caps) is None
