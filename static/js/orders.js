// Open (resting) orders: the table on the trade page (this token's markets or all), with cancel,
// cancel-all and edit (a replace: PATCH with a fresh client_order_id, order_edit.js), kept live from
// the account stream (order_accepted / order_fill / order_canceled / order_expired / order_replaced /
// order_rejected, order_triggered). The list is read once from GET /orders?status=new (at most the open-order cap).
import { api, friendly } from "./api.js";
import { app, handleAuthError, throttle, toast } from "./app.js";
import { radioGroup } from "./controls.js";
import { dec, h, rows, time } from "./format.js";
import { bySymbol, fmtPrice, fmtQty } from "./markets.js";
import { OrderEditor } from "./order_edit.js";
import { heldText } from "./spot_ticket.js";

const TYPE_NAMES = { market: "market", limit: "limit", stop: "stop", stop_limit: "stop-limit" };
const ENDED = { order_canceled: "canceled", order_expired: "expired", order_replaced: "replaced", order_rejected: "rejected" };
const list = (d) => (Array.isArray(d) ? d : (d && d.results) || []);
/** An order from the API ({id}) or from an event ({order_id}), one shape. */
export const orderOf = (data) => ({ ...data, id: data.id || data.order_id });

export class OpenOrders {
  /** root: the open-orders card; ours: the symbols of the page token's markets; onChange(orders):
   *  after every change (chart lines, balances). */
  constructor(root, { ours, onChange }) {
    this.root = root;
    this.tbody = root.querySelector('[data-testid="orders-table"] tbody');
    this.ours = ours;
    this.onChange = onChange || (() => {});
    this.scope = "market";
    this.orders = new Map(); // id -> order (open ones only)
    this.ended = new Set(); // ids seen final: a replayed older event never brings one back
    this.editor = new OrderEditor(document.querySelector('[data-testid="order-edit-dialog"]'), { onReplaced: (o, n) => this.replaced(o, n) });
    this.refresh = throttle(() => this.load(), 1000);
    radioGroup(root.querySelector('[data-testid="orders-scope"]'), (v) => { this.scope = v; this.render(); });
    this.cancelAllBtn = root.querySelector('[data-testid="orders-cancel-all"]');
    this.cancelAllBtn?.addEventListener("click", () => this.cancelAll());
    app.stream.on("order_accepted", (f) => {
      this.upsert(orderOf(f.data));
      // an event without a field the table shows (a stop's stop price): read the list again
      if (f.data.type !== "limit" && f.data.type !== "market" && !("stop_price" in f.data)) this.refresh();
    });
    app.stream.on("order_triggered", (f) => {
      const id = f.data.order_id || f.data.id;
      if (this.orders.has(id)) this.upsert({ triggered_at: f.ts || new Date().toISOString(), ...orderOf(f.data) });
      this.refresh();
    });
    app.stream.on("order_fill", (f) => f.data.status !== "new" && this.end(f.data.order_id, "filled"));
    for (const [type, status] of Object.entries(ENDED)) {
      app.stream.on(type, (f) => {
        this.end(f.data.order_id || f.data.id, status);
        if (type === "order_rejected") toast(`Order rejected: ${f.data.reason || f.data.code || "refused"}.`, "err");
        if (type === "order_replaced") this.refresh(); // the new order, in case its event is still to come
      });
    }
    for (const t of ["resumed", "resync_required"]) app.stream.on(t, () => this.refresh());
  }

  async load() {
    if (!app.signedIn) { this.render(); return; }
    try {
      const open = list(await api("orders?status=new&limit=500"));
      this.orders = new Map(open.filter((o) => !this.ended.has(o.id)).map((o) => [o.id, o]));
    } catch (err) {
      if (handleAuthError(err)) return;
      toast(friendly(err), "err");
    }
    this.render();
  }

  /** A placed or accepted order: kept while it is open. */
  upsert(order) {
    if (this.ended.has(order.id)) return;
    if (order.status && order.status !== "new") { this.end(order.id, order.status); return; }
    this.orders.set(order.id, { ...(this.orders.get(order.id) || {}), ...order });
    this.render();
  }

  end(id, status) {
    if (!id) return;
    this.ended.add(id);
    if (this.orders.delete(id)) this.render();
    this.root.dataset.lastEnded = `${id}:${status}`;
  }

  replaced(old, created) {
    this.end(old.id, "replaced");
    this.upsert(created);
  }

  /** Open orders in the chosen scope, oldest first. */
  shown() {
    const all = [...this.orders.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    return this.scope === "all" ? all : all.filter((o) => this.ours.has(o.symbol));
  }

  render() {
    const shown = this.shown();
    this.root.querySelector('[data-testid="orders-count"]').textContent = this.orders.size ? `(${this.orders.size})` : "";
    if (this.cancelAllBtn) {
      this.cancelAllBtn.disabled = !shown.length;
      this.cancelAllBtn.textContent = this.scope === "all" ? "Cancel all" : "Cancel all here";
    }
    rows(this.tbody, shown, (o) => this.row(o),
      app.signedIn ? "No open orders." : "Sign in to see your open orders.", 11);
    this.onChange([...this.orders.values()]);
  }

  row(o) {
    const market = bySymbol.get(o.symbol);
    const price = (v) => (v === null || v === undefined ? "—" : `$${fmtPrice(v, market)}`);
    const tif = (o.time_in_force || "").toUpperCase() + (o.expire_at ? ` · ${time(o.expire_at)}` : "") + (o.post_only ? " · post-only" : "");
    const stopState = o.stop_price ? (o.triggered_at ? " triggered" : " waiting") : "";
    return h("tr", { dataset: { orderId: o.id, symbol: o.symbol, side: o.side, type: o.type } },
      h("td", {}, time(o.created_at)),
      h("td", {}, h("a", { href: `/trade/?market=${encodeURIComponent(o.symbol)}` }, o.symbol)),
      h("td", {}, h("span", { class: `badge ${o.side}` }, o.side)),
      h("td", { "data-testid": "order-type" }, TYPE_NAMES[o.type] || o.type, stopState ? h("small", { class: "muted" }, stopState) : null),
      h("td", { class: "num" }, fmtQty(o.qty, market)),
      h("td", { class: "num", "data-testid": "order-limit" }, price(o.limit_price)),
      h("td", { class: "num", "data-testid": "order-stop" }, price(o.stop_price)),
      h("td", {}, tif || "—"),
      h("td", { class: "num", "data-testid": "order-held" }, heldText(o.held_asset, o.held, market)),
      h("td", {}, h("span", { class: "badge open" }, o.status || "new"),
        o.filled_qty && Number(o.filled_qty) > 0 ? h("small", { class: "muted" }, ` ${dec(o.filled_qty, 3)} filled`) : null),
      h("td", {},
        h("span", { class: "partial" },
          h("button", { type: "button", class: "btn btn-sm", "data-testid": "order-edit", onclick: () => this.editor.open(o) }, "Edit"),
          h("button", { type: "button", class: "btn btn-sm btn-danger", "data-testid": "order-cancel", onclick: (ev) => this.cancel(o, ev.currentTarget) }, "Cancel"))),
    );
  }

  async cancel(order, btn) {
    if (btn) btn.disabled = true;
    try {
      const done = await api(`orders/${order.id}`, { method: "DELETE" });
      this.end(order.id, done.status);
      toast(`Canceled ${order.side} ${fmtQty(order.qty, bySymbol.get(order.symbol))} ${order.symbol} ${TYPE_NAMES[order.type] || order.type}.`);
    } catch (err) {
      if (handleAuthError(err)) return;
      toast(friendly(err), "err");
      if (err.code === "not_cancelable" || err.code === "not_found") this.end(order.id, err.extra?.status || "gone");
      else if (btn) btn.disabled = false;
    }
  }

  async cancelAll() {
    const symbols = this.scope === "all" ? [null] : [...this.ours];
    this.cancelAllBtn.disabled = true;
    let count = 0;
    try {
      for (const symbol of symbols) {
        if (symbol && ![...this.orders.values()].some((o) => o.symbol === symbol)) continue;
        const done = await api(symbol ? `orders?symbol=${encodeURIComponent(symbol)}` : "orders", { method: "DELETE" });
        for (const o of done.canceled || []) { this.end(o.id, o.status); count += 1; }
      }
      toast(count ? `Canceled ${count} open order${count === 1 ? "" : "s"}.` : "No open order to cancel.");
    } catch (err) {
      if (!handleAuthError(err)) toast(friendly(err), "err");
    }
    this.render();
  }
}
