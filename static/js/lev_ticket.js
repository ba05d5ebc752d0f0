// The leverage ticket: open a long or short on the page token's perp market (margin, leverage up to
// the market's limit), with the size, quantity, entry, fee and liquidation-price previews.
import { api, friendly, newClientOrderId } from "./api.js";
import { app, handleAuthError } from "./app.js";
import { formMessage, radioGroup } from "./controls.js";
import { leveragePreview } from "./estimates.js";
import { dec, usd } from "./format.js";
import { decimalsOf, fmtPrice, fmtQty, isHalted } from "./markets.js";

export class LeverageTicket {
  /** onOpened(position): after a position opened (chart marker, positions, balances). */
  constructor(form, { market, perpMarket, onOpened }) {
    this.form = form;
    this.market = market;
    this.perp = perpMarket;
    this.base = market.base.code;
    this.onOpened = onOpened;
    this.qtyDp = decimalsOf(perpMarket?.rules.qty_step ?? "0.001");
    this.rules = { position_fee_bps: app.config.leverage.position_fee_bps, maintenance_margin_rate: perpMarket?.rules.mmr ?? "0" };
    this.state = { side: "long", pending: null, sending: false };
    this.msg = form.querySelector('[data-testid="lev-msg"]');
    const max = Number(perpMarket?.rules.max_leverage ?? 1);
    form.leverage.max = String(max);
    if (Number(form.leverage.value) > max) form.leverage.value = String(max);
    radioGroup(form.querySelector('[data-testid="lev-side"]'), (v) => { this.state.side = v; this.render(); });
    form.margin.addEventListener("input", () => { this.state.pending = null; this.render(); });
    form.leverage.addEventListener("input", () => { this.state.pending = null; this.render(); });
    document.querySelectorAll("[data-lev]").forEach((b) => {
      if (Number(b.dataset.lev) > max) b.remove();
      b.addEventListener("click", () => { form.leverage.value = b.dataset.lev; this.render(); });
    });
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
  }

  money(v) { return `$${fmtPrice(v, this.market)}`; }

  render() {
    const L = this.form.leverage.value;
    const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
    $("lev-value").textContent = `${L}×`;
    const btn = $("lev-submit");
    btn.textContent = `Open ${this.state.side} ${L}×`;
    btn.className = `btn btn-block ${this.state.side === "long" ? "btn-buy" : "btn-sell"}`;
    btn.disabled = !this.perp || isHalted(this.perp) || this.state.sending;
    const est = leveragePreview({ side: this.state.side, margin: this.form.margin.value, leverage: L, index: Number(app.price?.price), spot: app.config.spot, lev: this.rules });
    const set = (k, v) => { $(`lev-${k}`).textContent = v; };
    if (!est) { ["size", "qty", "entry", "fee", "liq"].forEach((k) => set(k, "—")); return; }
    set("size", usd(String(est.size), 2));
    set("qty", `${dec(est.qty.toFixed(this.qtyDp), this.qtyDp)} ${this.base}`);
    set("entry", this.money(est.entry.toFixed(12)));
    set("fee", usd(String(est.fee), 4));
    set("liq", this.money(est.liq.toFixed(12)));
    $("lev-liq").dataset.value = est.liq.toFixed(6);
  }

  async submit() {
    if (!app.signedIn) { location.href = "/signin/?next=/trade/"; return; }
    const margin = this.form.margin.value.trim();
    if (!(Number(margin) > 0)) { formMessage(this.msg, "Enter the margin in USD.", false); return; }
    if (!this.perp || isHalted(this.perp)) { formMessage(this.msg, `${this.perp?.symbol || this.base} is not open for new positions.`, false); return; }
    const body = { symbol: this.perp.symbol, side: this.state.side, margin, leverage: this.form.leverage.value };
    const key = JSON.stringify(body);
    if (!this.state.pending || this.state.pending.key !== key) this.state.pending = { key, id: newClientOrderId("webpos") };
    this.state.sending = true;
    this.render();
    try {
      const p = await api("positions", { method: "POST", body: { ...body, client_order_id: this.state.pending.id } });
      this.state.pending = null;
      formMessage(this.msg, `Opened ${p.side} ${dec(p.leverage, 0)}×: ${fmtQty(p.qty, this.perp)} ${this.base} at ${this.money(p.entry_price)} · liquidation ${this.money(p.liquidation_price)} · fee ${usd(p.fee, 4)}`, true);
      this.onOpened(p);
    } catch (err) {
      if (err.code !== "network_error") this.state.pending = null;
      if (err.status === 404 && err.code === "not_found") formMessage(this.msg, "Leveraged trading is not enabled on this server yet.", false);
      else if (!handleAuthError(err)) formMessage(this.msg, friendly(err), false);
    } finally {
      this.state.sending = false;
      this.render();
    }
  }
}
