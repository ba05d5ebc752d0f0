"""The page's stream client (static/js/stream.js) does not wait forever on a socket the server
never subscribes: it closes it and connects again with its backoff."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import ready, tick

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_socket_never_subscribed_is_closed_and_retried(page):
    """A /ws/ that opens and takes the subscribe frame but never answers it: after 8 s the page
    shows the connection offline, then opens a second socket, which subscribes again."""
    tick("150.00")
    sockets, frames = [], []

    def silent_server(ws) -> None:  # a server that accepts and then says nothing
        sockets.append(ws)
        ws.on_message(lambda message: frames.append(message))

    page.clock.install()
    page.route_web_socket("**/ws/", silent_server)
    page.goto("/leaderboard/")
    ready(page)
    conn = page.get_by_test_id("conn")
    expect(conn).to_have_attribute("data-state", "connecting")
    assert len(sockets) == 1

    page.clock.run_for(7_000)
    expect(conn).to_have_attribute("data-state", "connecting")  # not yet given up
    assert len(sockets) == 1

    page.clock.run_for(1_500)  # past 8 s: closed; the retry waits 375-625 ms (attempt 0)
    page.clock.run_for(1_000)
    expect(conn).to_have_attribute("data-state", "connecting")
    assert len(sockets) == 2
    assert sum('"subscribe"' in f for f in frames if isinstance(f, str)) == 2
