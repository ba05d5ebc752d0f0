// Recent fills on the trade page: the last 20 from GET /trades, then live from order_fill events
// (a market order's fill, a resting order's maker fill, a triggered stop) and placed orders.
import { api } from "./api.js";
import { app, handleAuthError } from "./app.js";
import { h, rows, time, usd } from "./format.js";
import { bySymbol, fmtPrice, fmtQty } from "./markets.js";

export class FillsTable {
  /** tbody: the fills table's body; fallback: the market for rows without a symbol;
   *  onFill(fill): each new fill (chart markers). */
  constructor(tbody, { fallback, onFill }) {
    this.tbody = tbody;
    this.fallback = fallback;
    this.onFill = onFill || (() => {});
    this.fills = [];
    this.seen = new Set();
  }

  /** Add one fill (keyed by fill id, else order id) unless it is already listed. */
  add(f) {
    const key = f.fill_id || f.id || f.order_id;
    if (this.seen.has(key) || (f.order_id && this.seen.has(`order:${f.order_id}`))) return;
    this.seen.add(key);
    if (f.order_id) this.seen.add(`order:${f.order_id}`);
    this.fills.unshift(f);
    this.fills.sort((a, b) => Date.parse(b.filled_at || b.created_at) - Date.parse(a.filled_at || a.created_at));
    this.onFill(f);
    this.render();
  }

  render() {
    rows(this.tbody, this.fills.slice(0, 20), (f) => {
      const market = bySymbol.get(f.symbol) || this.fallback;
      return h("tr", { dataset: { orderId: f.order_id || "", liquidity: f.liquidity || "" } },
        h("td", {}, time(f.filled_at || f.created_at)),
        h("td", {}, h("span", { class: `badge ${f.side}` }, f.side), f.symbol ? h("small", { class: "muted" }, ` ${f.symbol}`) : null),
        h("td", { class: "num" }, fmtQty(f.qty, market)),
        h("td", { class: "num" }, `$${fmtPrice(f.price, market)}`),
        h("td", { class: "num" }, usd(f.notional, 2)),
        h("td", { class: "num" }, usd(f.fee, 4)),
        h("td", { class: "muted", "data-testid": "fill-liquidity" }, f.liquidity || "taker"));
    }, "No fills yet: place an order.", 7);
  }

  async load() {
    if (!app.signedIn) return this.render();
    try {
      const page = await api("trades?limit=20");
      (page.results || []).reverse().forEach((f) => this.add({ ...f, fill_id: f.id, filled_at: f.created_at }));
    } catch (err) { handleAuthError(err); }
    return this.render();
  }
}
