// The /ws/ client: subscribe, keep-alive pings, reconnect with backoff and resume from the last
// account seq. Pages listen with stream.on("price_update", fn) etc.

const PING_MS = 25_000; // the server closes sockets idle for 60 s
const USER_EVENTS = new Set([
  "order_fill", "portfolio_update", "position_liquidated", "position_update", "funding_payment",
  "order_accepted", "order_canceled", "order_expired", "order_replaced", "order_rejected", "order_triggered",
]);
// Close codes (docs/realtime.md): the sign-in ended (revoked 4001, expired 4002): do not reconnect;
// too many sockets for this user/IP (4008) or rate-limited (1008): wait long before trying again.
const SIGNED_OUT = new Set([4001, 4002]);
const SLOW_RETRY = new Set([1008, 4008]);
const SLOW_RETRY_MS = 30_000;
// A socket not subscribed this long after it was opened (a handshake or a subscribe the server
// never answered) is closed and retried with the usual backoff, rather than "connecting" forever.
const SUBSCRIBE_TIMEOUT_MS = 8_000;

export class Stream {
  constructor({ path = "/ws/", channels = ["prices"], symbols = null } = {}) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.channels = channels;
    this.symbols = symbols; // market or index symbols for `prices`; null = every listed market's index
    this.lastPriceAt = new Map(); // index symbol -> newest computed_at shown
    this.handlers = new Map();
    this.lastSeq = null; // last account-event seq seen, for resume
    this.attempt = 0;
    this.closedByUs = false;
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  emit(type, payload) {
    for (const fn of this.handlers.get(type) || []) {
      try { fn(payload); } catch (err) { console.warn("stream handler failed", type, err); }
    }
  }

  connect() {
    this.closedByUs = false;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.emit("state", "connecting");
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => { if (this.ws === ws) ws.close(); }, SUBSCRIBE_TIMEOUT_MS);
    ws.onopen = () => {
      // attempt is reset on "subscribed", not here: a socket the server accepts and then closes
      // (over a cap) must keep backing off instead of reconnecting every 500 ms
      this.send({ type: "subscribe", channels: this.channels, ...(this.symbols ? { symbols: this.symbols } : {}) });
      if (this.lastSeq !== null && this.channels.includes("account")) this.send({ type: "resume", after_seq: this.lastSeq });
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
    };
    ws.onmessage = (msg) => {
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (frame.type === "price_update") {
        // a late or replayed tick (or the snapshot on subscribe) never moves an index back in time
        const at = Date.parse(frame.data?.computed_at);
        const symbol = frame.data?.symbol || "SOL-USD";
        if (at < (this.lastPriceAt.get(symbol) ?? -Infinity)) return;
        this.lastPriceAt.set(symbol, at);
      }
      if (typeof frame.seq === "number" && USER_EVENTS.has(frame.type)) this.lastSeq = Math.max(this.lastSeq ?? 0, frame.seq);
      if (frame.type === "resumed" && typeof frame.data?.last_seq === "number") this.lastSeq = Math.max(this.lastSeq ?? 0, frame.data.last_seq);
      if (frame.type === "subscribed") { clearTimeout(this.watchdog); this.attempt = 0; this.emit("state", "live"); }
      if (frame.type === "resync_required") this.lastSeq = frame.data?.last_seq ?? null;
      this.emit(frame.type, frame);
      this.emit("*", frame);
    };
    ws.onclose = (ev) => {
      clearInterval(this.pinger);
      clearTimeout(this.watchdog);
      this.emit("state", "offline");
      if (SIGNED_OUT.has(ev.code)) { this.emit("revoked", ev); return; }
      if (this.closedByUs) return;
      const base = SLOW_RETRY.has(ev.code) ? SLOW_RETRY_MS : Math.min(10_000, 500 * 2 ** this.attempt);
      const delay = base * (0.75 + Math.random() / 2);
      this.attempt += 1;
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
  }
}
