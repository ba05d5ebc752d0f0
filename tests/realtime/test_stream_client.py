"""The page's WebSocket client (static/js/stream.js) under node with a stand-in WebSocket: it does
not hammer a server that accepts and then closes, a finished sign-in is not retried, and a socket
never subscribed is closed by the client's watchdog."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

HARNESS = r"""
const fs = await import("node:fs");
const src = fs.readFileSync(process.argv.at(-1), "utf8");
// Timers are kept until cleared; a run's "delays" are the ones still pending after it (the retry
// timers: the watchdog of each socket is cleared by its close or by "subscribed").
const timers = new Map();
let timerId = 0;
globalThis.location = { protocol: "http:", host: "127.0.0.1:8000" };
globalThis.setTimeout = (fn, ms) => { timers.set(++timerId, { fn, ms }); return timerId; };
globalThis.clearTimeout = (id) => { timers.delete(id); };
globalThis.setInterval = () => 0;
globalThis.clearInterval = () => {};
const sockets = [];
globalThis.WebSocket = class {
  static OPEN = 1;
  constructor() { this.readyState = 0; this.closedWith = []; sockets.push(this); }
  send() {}
  close(code) { this.closedWith.push(code ?? null); }
};
const { Stream } = await import("data:text/javascript," + encodeURIComponent(src));

function run(codes, { subscribed = false } = {}) {
  timers.clear();
  const stream = new Stream({ channels: ["prices", "account"] });
  const revoked = [];
  stream.on("revoked", (ev) => revoked.push(ev.code));
  for (const code of codes) {
    stream.connect();  // what the retry timer would do
    const ws = sockets.at(-1);
    ws.readyState = 1;
    ws.onopen();
    if (subscribed) ws.onmessage({ data: JSON.stringify({ type: "subscribed", data: { channels: [] } }) });
    ws.onclose({ code });
  }
  return { delays: [...timers.values()].map((t) => t.ms), revoked };
}

function silent() {  // opened, never answered: the watchdog is the only timer, and it closes
  timers.clear();
  const stream = new Stream({ channels: ["prices"] });
  stream.connect();
  const ws = sockets.at(-1);
  ws.readyState = 1;
  ws.onopen();
  const pending = [...timers.values()].map((t) => t.ms);
  for (const t of [...timers.values()]) t.fn();
  return { pending, closed: ws.closedWith };
}
console.log(JSON.stringify({
  capped: run([4008, 4008, 4008]),
  dropped: run([1006, 1006, 1006]),
  served: run([1006, 1006, 1006], { subscribed: true }),
  expired: run([4002]),
  revoked: run([4001]),
  silent: silent(),
}));
"""


@pytest.fixture(scope="module")
def outcomes() -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--input-type=module", "-e", HARNESS, str(ROOT / "static/js/stream.js")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_over_the_socket_cap_the_client_waits_long_between_tries(outcomes):
    """Close 4008 (too many sockets) after an accepted handshake: every retry waits >= 22.5 s
    (30 s with +-25 % jitter), not the 0.5 s of a fresh backoff."""
    assert all(delay >= 22_500 for delay in outcomes["capped"]["delays"]), outcomes["capped"]


def test_an_accepted_then_dropped_socket_keeps_backing_off(outcomes):
    """The backoff is reset only once the server has served (``subscribed``), not on open."""
    grown = outcomes["dropped"]["delays"]
    assert grown[2] >= 2_000 * 0.75, grown  # 0.5 s, 1 s, 2 s (each x 0.75..1.25)
    assert all(delay <= 625 for delay in outcomes["served"]["delays"]), outcomes["served"]


@pytest.mark.parametrize("case", ["expired", "revoked"])
def test_an_ended_sign_in_is_not_retried(outcomes, case):
    """4001 (revoked) and 4002 (expired) send the page to sign in again; no reconnect is scheduled."""
    assert outcomes[case]["delays"] == [] and outcomes[case]["revoked"] == [4002 if case == "expired" else 4001]


def test_a_socket_never_subscribed_is_closed_by_the_watchdog(outcomes):
    """An opened socket the server never answers ``subscribed`` has one timer pending, 8 s; when it
    fires, the client closes that socket (its close then schedules the usual retry)."""
    assert outcomes["silent"] == {"pending": [8_000], "closed": [None]}
