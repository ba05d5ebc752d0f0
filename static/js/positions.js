// Open leveraged positions: a live table (mark, PnL, margin ratio, liquidation price, take profit /
// stop loss) with full and partial close. Used by the trade and portfolio pages.
import { api, friendly, newClientOrderId } from "./api.js";
import { app, handleAuthError, throttle, toast } from "./app.js";
import { positionPnl } from "./estimates.js";
import { dec, h, pct, rows, signClass, usd } from "./format.js";
import { bySymbol, fmtPrice, fmtQty } from "./markets.js";
import { TpSlEditor, tpslCell } from "./tpsl.js";

export const list = (d) => (Array.isArray(d) ? d : (d && d.results) || []);

export class PositionsTable {
  constructor(tbody, { onChange } = {}) {
    this.tbody = tbody;
    this.onChange = onChange;
    this.positions = [];
    this.typed = new Map(); // close quantities being typed survive the live re-renders
    this.available = true;
    this.refresh = throttle(() => this.load(), 1500);
    this.tpsl = new TpSlEditor(document.querySelector('[data-testid="tpsl-dialog"]'), { onSaved: () => this.load() });
    app.stream.on("price_update", () => this.positions.length && this.refresh());
    for (const t of ["position_liquidated", "position_update", "funding_payment", "order_fill", "resumed", "resync_required", "subscribed"]) {
      app.stream.on(t, (f) => {
        if (t === "position_liquidated") toast(`Position liquidated at ${usd(f.data?.price)} · PnL ${usd(f.data?.pnl, 2, { sign: true })}.`, "err");
        this.refresh();
      });
    }
  }

  async load() {
    if (!app.signedIn) { this.render(); return; }
    try {
      const open = list(await api("positions?status=open"));
      this.positions = await Promise.all(open.map((p) => (p.unrealized_pnl === undefined ? api(`positions/${p.id}`).catch(() => p) : p)));
      this.available = true;
    } catch (err) {
      if (handleAuthError(err)) return;
      if (err.status === 404 && err.code === "not_found") { this.available = false; this.positions = []; }
    }
    const focused = document.activeElement?.closest?.("tr")?.dataset.positionId;
    const field = document.activeElement?.dataset?.testid;
    this.render();
    if (focused && field) this.tbody.querySelector(`tr[data-position-id="${focused}"] [data-testid="${field}"]`)?.focus();
    if (this.onChange) this.onChange(this.positions);
  }

  render() {
    rows(this.tbody, this.positions, (p) => {
      const market = bySymbol.get(p.symbol || "SOL-PERP");
      const base = market?.base.code || "SOL";
      // the page's live tick marks only the positions on that index: at the perp's mark when the
      // tick carries it (price_update's `marks`), else at the index
      const onIndex = app.price && (market?.index_symbol || "SOL-USD") === app.indexSymbol;
      const live = onIndex ? (app.price.marks?.[p.symbol || "SOL-PERP"]?.mark ?? app.price.price) : null;
      const mark = live === null ? null : Number(live);
      const price = (v) => (v === null || v === undefined ? "—" : `$${fmtPrice(v, market)}`);
      const pnl = p.unrealized_pnl ?? (mark ? String(positionPnl(p, mark)) : null);
      const estimated = p.unrealized_pnl === undefined || p.unrealized_pnl === null;
      const qtyInput = h("input", { type: "text", inputmode: "decimal", "aria-label": "Quantity to close", placeholder: "qty", "data-testid": "close-qty", value: this.typed.get(p.id) || null });
      qtyInput.addEventListener("input", () => this.typed.set(p.id, qtyInput.value));
      return h("tr", { dataset: { positionId: p.id, side: p.side } },
        h("td", {}, h("span", { class: `badge ${p.side}` }, `${p.side} ${dec(p.leverage, 0)}×`), " ", h("span", { class: "muted", "data-testid": "position-symbol" }, p.symbol || "SOL-PERP")),
        h("td", { class: "num", title: base }, fmtQty(p.qty, market)),
        h("td", { class: "num" }, price(p.entry_price)),
        h("td", { class: "num" }, price(p.mark_price ?? live)),
        h("td", { class: "num", "data-testid": "position-liq" }, price(p.liquidation_price)),
        h("td", { class: "num" }, usd(p.margin)),
        // funding paid (-) or received (+) so far, out of or into the margin (docs/positions.md, "Funding")
        h("td", { class: `num ${signClass(p.funding_accrued)}`, "data-testid": "position-funding" }, p.funding_accrued === undefined ? "—" : usd(p.funding_accrued, 4, { sign: true })),
        h("td", { class: "num" }, p.margin_ratio !== undefined && p.margin_ratio !== null ? pct(p.margin_ratio, 2, {}) : "—"),
        h("td", { class: `num ${signClass(pnl)}`, "data-testid": "position-pnl" }, usd(pnl, 2, { sign: true }), estimated ? h("small", { class: "muted" }, " est.") : null),
        tpslCell(p, this.tpsl),
        h("td", {},
          h("span", { class: "partial" }, qtyInput,
            h("button", { type: "button", class: "btn btn-sm", "data-testid": "close-partial", onclick: () => this.close(p, qtyInput.value.trim()) }, "Close qty"),
            h("button", { type: "button", class: "btn btn-sm btn-danger", "data-testid": "close-full", onclick: () => this.close(p) }, "Close"))),
      );
    }, this.available ? "No open positions." : "Leveraged positions are not available on this server yet.", 11);
  }

  async close(position, qty) {
    if (qty !== undefined && !(Number(qty) > 0)) { toast("Enter the quantity to close.", "err"); return; }
    // One client_order_id per intended close: a retry after a network error reuses it, so the
    // server replays the close instead of closing twice.
    const key = `${position.id}:${qty || "all"}`;
    if (!this.pendingClose || this.pendingClose.key !== key) this.pendingClose = { key, id: newClientOrderId("webclose") };
    try {
      const body = qty ? { qty, client_order_id: this.pendingClose.id } : { client_order_id: this.pendingClose.id };
      this.typed.delete(position.id);
      const result = await api(`positions/${position.id}/close`, { method: "POST", body });
      this.pendingClose = null;
      const realized = result.close?.realized_pnl ?? result.position?.realized_pnl ?? result.realized_pnl;
      const base = bySymbol.get(position.symbol || "SOL-PERP")?.base.code || "SOL";
      const what = result.close?.kind === "liquidation" ? "Liquidated (the price had crossed its liquidation price):" : qty ? `Closed ${qty} ${base} of` : "Closed";
      toast(`${what} ${position.side} ${dec(position.leverage, 0)}×${realized !== undefined ? ` · realized PnL ${usd(realized, 2, { sign: true })}` : ""}`);
      document.dispatchEvent(new CustomEvent("position-closed", { detail: result }));
    } catch (err) {
      if (err.code !== "network_error") this.pendingClose = null;
      if (!handleAuthError(err)) toast(friendly(err), "err");
    }
    this.load();
  }
}
