// The spot ticket: market, limit, stop and stop-limit orders on the page token's spot market, with
// the fields each type takes, a preview of the fill and of what a resting order holds, and the
// submit (one client_order_id per intended order, reused on a retry after a network error).
import { api, friendly, newClientOrderId } from "./api.js";
import { app, handleAuthError } from "./app.js";
import { formMessage, radioGroup } from "./controls.js";
import { ORDER_FIELDS, holdPreview, restingPreview, spotPreview } from "./estimates.js";
import { dec, isoFromLocal, localInputValue, usd } from "./format.js";
import { fmtPrice, fmtQty, isHalted } from "./markets.js";

const TYPE_NAMES = { market: "market", limit: "limit", stop: "stop", stop_limit: "stop-limit" };

/** A USD amount with at least 2 and at most 6 places ("190.190000" -> "$190.19"). */
export function usdExact(v) {
  const [i, f = ""] = String(v).split(".");
  return usd(`${i}.${f}`, Math.max(2, f.replace(/0+$/, "").length));
}

/** What an order holds, as the page shows it ("$190.19", "2.000 SOL"). */
export function heldText(asset, amount, market) {
  if (amount === null || amount === undefined || !asset) return "—";
  return asset === "USD" ? usdExact(amount) : `${fmtQty(amount, market)} ${asset}`;
}

export class SpotTicket {
  /** form: the spot form; market: the page market (prices); spotMarket: its token's spot market
   *  (or null); portfolio(): the last /portfolio read; onOrder(order): after a placed order. */
  constructor(form, { market, spotMarket, portfolio, onOrder }) {
    this.form = form;
    this.market = market;
    this.spot = spotMarket;
    this.base = market.base.code;
    this.portfolio = portfolio;
    this.onOrder = onOrder;
    this.rules = { ...app.config.spot, qty_step: spotMarket?.rules.qty_step ?? "0.001" };
    this.state = { side: "buy", unit: "base", type: "market", pending: null, sending: false };
    this.$ = (s) => form.querySelector(s);
    this.msg = this.$('[data-testid="spot-msg"]');
    radioGroup(this.$('[data-testid="spot-side"]'), (v) => { this.state.side = v; this.render(); });
    this.selectUnit = radioGroup(this.$('[data-testid="spot-unit"]'), (v) => {
      this.state.unit = v;
      this.$('[data-bind="unit"]').textContent = v === "USD" ? "USD" : this.base;
      this.render();
    });
    radioGroup(this.$('[data-testid="spot-type"]'), (v) => this.setType(v));
    for (const name of ["amount", "limit_price", "stop_price", "time_in_force", "expire_at", "post_only"]) {
      form.elements[name].addEventListener(name === "time_in_force" || name === "post_only" ? "change" : "input", () => {
        this.state.pending = null;
        if (name === "time_in_force" && form.time_in_force.value === "gtd" && !form.expire_at.value) {
          form.expire_at.value = localInputValue(new Date(Date.now() + 86_400_000)); // tomorrow, same time
        }
        this.render();
      });
    }
    form.querySelectorAll("[data-fraction]").forEach((b) => b.addEventListener("click", () => this.fraction(Number(b.dataset.fraction))));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
  }

  money(v) { return `$${fmtPrice(v, this.market)}`; }

  setType(type) {
    this.state.type = type;
    this.state.pending = null;
    if (type !== "market" && this.state.unit === "USD") this.selectUnit("base"); // resting orders take qty
    this.render();
  }

  /** Show the fields of the chosen type (and TIF), then the button and the previews. */
  render() {
    const { type, side } = this.state;
    const form = this.form;
    const fields = ORDER_FIELDS[type];
    const tif = form.time_in_force;
    for (const el of form.querySelectorAll("[data-field]")) {
      const name = el.dataset.field;
      el.hidden = name === "expire_at" ? !fields.length || tif.value !== "gtd" : !fields.includes(name);
    }
    // a stop waits for its trigger, so only gtc/gtd; a stop-limit's ioc/fok apply to its limit once triggered
    for (const opt of tif.options) opt.hidden = opt.disabled = !!opt.dataset.types && !opt.dataset.types.split(" ").includes(type);
    if (tif.selectedOptions[0]?.disabled) tif.value = "gtc";
    this.$('[data-testid="spot-unit"] [data-value="USD"]').disabled = type !== "market";
    form.setAttribute("data-type", type);
    const btn = this.$('[data-testid="spot-submit"]');
    const verb = side === "buy" ? "Buy" : "Sell";
    btn.textContent = type === "market" ? `${verb} ${this.base}` : `${verb} ${this.base} · ${TYPE_NAMES[type]}`;
    btn.className = `btn btn-block ${side === "buy" ? "btn-buy" : "btn-sell"}`;
    btn.disabled = !this.spot || isHalted(this.spot) || this.state.sending;
    this.renderEstimate();
  }

  renderEstimate() {
    const { type, side } = this.state;
    const form = this.form;
    const set = (k, v) => { this.$(`[data-est="${k}"]`).textContent = v; };
    const qtyDp = (q) => `${fmtQty(q.toFixed(12), this.spot)} ${this.base}`;
    const p = app.price || {};
    const index = Number(p.price);
    let est;
    if (type === "market") {
      est = spotPreview({ side, amount: form.amount.value, unit: this.state.unit, index, spot: this.rules });
    } else {
      est = restingPreview({ side, type, qty: form.amount.value, limitPrice: form.limit_price.value, stopPrice: form.stop_price.value,
        index, bid: Number(p.bid) || null, ask: Number(p.ask) || null, spot: this.rules });
    }
    set("fee-bps", est?.feeBps ?? this.rules.fee_bps);
    if (!est) ["price", "slippage", "qty", "fee", "total"].forEach((k) => set(k, "—"));
    else {
      const where = type === "limit" ? (est.now ? " now (taker)" : " (maker)") : type === "stop" ? " after the stop" : type === "stop_limit" ? " limit" : "";
      set("price", `${this.money(est.price.toFixed(12))}${where}`);
      set("slippage", est.maker || type === "stop_limit" ? "none at the limit" : `${est.bps.toFixed(2)} bps`);
      set("qty", qtyDp(est.qty));
      set("fee", usd(String(est.fee), 4));
      set("total", `${side === "buy" ? "cost" : "proceeds"} ${usd(String(est.total), 2)}`);
    }
    const hold = holdPreview({ side, type, qty: form.amount.value, limitPrice: form.limit_price.value, stopPrice: form.stop_price.value, spot: this.rules, base: this.base });
    form.querySelectorAll('[data-est-row="hold"]').forEach((el) => { el.hidden = type === "market"; });
    const holdEl = this.$('[data-est="hold"]');
    holdEl.textContent = hold ? heldText(hold.asset, hold.amount, this.spot) : "—";
    holdEl.dataset.value = hold ? hold.amount : "";
    holdEl.dataset.asset = hold ? hold.asset : "";
    this.renderHint(index);
  }

  renderHint(index) {
    const { type, side } = this.state;
    const hint = this.$('[data-testid="spot-type-hint"]');
    const stop = Number(this.form.stop_price.value);
    const maker = this.rules.maker_fee_bps;
    const texts = {
      limit: `Rests until the market reaches the limit, then fills at it as the maker (${maker} bps); a limit the market already crosses fills at once as the taker, never worse than the limit.`,
      stop: `Triggers on the first tick at or ${side === "buy" ? "above" : "below"} the stop, then fills at market as the taker.`,
      stop_limit: `Triggers on the first tick at or ${side === "buy" ? "above" : "below"} the stop, then rests as a limit order at the limit price.`,
    };
    let text = texts[type] || "";
    const wrongSide = stop > 0 && index > 0 && (side === "buy" ? stop <= index : stop >= index);
    if (type !== "market" && type !== "limit" && wrongSide) {
      text += ` The market (${this.money(String(index))}) is already ${side === "buy" ? "at or above" : "at or below"} this stop: the server refuses it.`;
    }
    hint.hidden = !text;
    hint.textContent = text;
    hint.classList.toggle("warn", type !== "market" && type !== "limit" && wrongSide);
  }

  /** 25 % / 50 % / max of what is free: a buy at the price it would hold (limit, or stop with the
   *  maximum slippage) plus the fee, a sell of the base asset. */
  fraction(f) {
    const p = this.portfolio();
    if (!p) return;
    const { type, side, unit } = this.state;
    const index = Number(app.price?.price);
    const step = Number(this.rules.qty_step);
    const dp = (String(this.rules.qty_step).split(".")[1] || "").length;
    const lots = (q) => (Math.floor(q / step) * step).toFixed(dp);
    const fee = Number(this.rules.fee_bps) / 1e4;
    const form = this.form;
    let amount;
    if (side === "buy") {
      const free = Number(p.balances.USD.free) * f;
      const price = type === "market" ? index : type === "stop" ? Number(form.stop_price.value) * (1 + Number(this.rules.max_slippage_bps) / 1e4) : Number(form.limit_price.value);
      if (type === "market" && unit === "USD") amount = (free * (1 - fee - 0.005)).toFixed(2);
      else amount = price > 0 ? lots((free * (type === "market" ? 1 - fee - 0.005 : 1)) / (price * (1 + fee))) : "";
    } else {
      const held = p.balances?.[this.base] ?? (p.holdings || []).find((x) => x.asset === this.base);
      const free = Number(lots(Number(held?.free ?? 0) * f));
      amount = unit === "base" ? free.toFixed(dp) : index ? (free * index * 0.99).toFixed(2) : "";
    }
    form.amount.value = amount;
    this.state.pending = null;
    this.render();
  }

  /** The order body from the form, or a message saying what is missing. */
  body() {
    const { type, side, unit } = this.state;
    const form = this.form;
    const amount = form.amount.value.trim();
    if (!(Number(amount) > 0)) return { error: "Enter an amount greater than zero." };
    if (!this.spot || isHalted(this.spot)) return { error: `${this.spot?.symbol || this.base} is not open for new orders.` };
    const body = { symbol: this.spot.symbol, side, type };
    if (type === "market") return { body: { ...body, [unit === "base" ? "qty" : "notional"]: amount } };
    body.qty = amount;
    for (const [name, label] of [["stop_price", "stop"], ["limit_price", "limit"]]) {
      if (!ORDER_FIELDS[type].includes(name)) continue;
      const v = form[name].value.trim();
      if (!(Number(v) > 0)) return { error: `Enter the ${label} price.` };
      body[name] = v;
    }
    body.time_in_force = form.time_in_force.value;
    if (body.time_in_force === "gtd") {
      const at = isoFromLocal(form.expire_at.value);
      if (!at || Date.parse(at) <= Date.now()) return { error: "Choose an expiry time in the future." };
      body.expire_at = at;
    }
    if (type === "limit" && form.post_only.checked) body.post_only = true;
    return { body };
  }

  async submit() {
    if (!app.signedIn) { location.href = "/signin/?next=/trade/"; return; }
    const { body, error } = this.body();
    if (error) { formMessage(this.msg, error, false); return; }
    const key = JSON.stringify(body);
    // Retrying the same ticket after a network error reuses its id, so it can never fill twice.
    if (!this.state.pending || this.state.pending.key !== key) this.state.pending = { key, id: newClientOrderId() };
    this.state.sending = true;
    this.render();
    formMessage(this.msg, "Sending…", true);
    try {
      const order = await api("orders", { method: "POST", body: { ...body, client_order_id: this.state.pending.id } });
      this.state.pending = null;
      formMessage(this.msg, this.outcome(order), order.status !== "canceled" && order.status !== "rejected");
      this.onOrder(order);
    } catch (err) {
      if (err.code !== "network_error") this.state.pending = null;
      if (!handleAuthError(err)) formMessage(this.msg, friendly(err), false);
    } finally {
      this.state.sending = false;
      this.render();
    }
  }

  /** What happened to a placed order, in words. */
  outcome(order) {
    const what = `${order.side} ${fmtQty(order.qty ?? order.filled_qty, this.spot)} ${this.base}`;
    const prices = [order.stop_price ? `stop ${this.money(order.stop_price)}` : null, order.limit_price ? `limit ${this.money(order.limit_price)}` : null].filter(Boolean).join(", ");
    if (order.status === "filled") {
      return `Filled: ${order.side === "buy" ? "bought" : "sold"} ${fmtQty(order.filled_qty, this.spot)} ${this.base} at ${this.money(order.filled_avg_price)} · fee ${usd(order.fee, 4)} · slippage ${dec(order.slippage_bps, 2)} bps`;
    }
    if (order.status === "new") return `Open: ${what} ${TYPE_NAMES[order.type] || order.type} (${prices}) · holds ${heldText(order.held_asset, order.held, this.spot)}`;
    if (order.status === "canceled") return `Not filled: ${what} could not fill at once within its limit (${(order.time_in_force || "").toUpperCase()}), so it was canceled.`;
    return `${order.status}: ${what}`;
  }
}
