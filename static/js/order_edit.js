// Editing an open order is a replace: PATCH /api/v1/orders/{id} {client_order_id, qty?,
// limit_price?, stop_price?, expire_at?} with only the fields changed; the answer (201) is the NEW
// order (`replaces` = the old id), the old one becomes `replaced`. A fresh client_order_id per
// intended edit, reused when the same edit is retried after a network error.
import { api, friendly, newClientOrderId } from "./api.js";
import { app, handleAuthError, toast } from "./app.js";
import { formMessage } from "./controls.js";
import { holdPreview } from "./estimates.js";
import { isoFromLocal, localInputValue } from "./format.js";
import { bySymbol, fmtPrice, fmtQty } from "./markets.js";
import { heldText } from "./spot_ticket.js";

const FIELDS = ["qty", "limit_price", "stop_price", "expire_at"];

export class OrderEditor {
  constructor(dialog, { onReplaced }) {
    this.dialog = dialog;
    this.onReplaced = onReplaced;
    this.form = dialog?.querySelector("form");
    this.msg = dialog?.querySelector('[data-testid="order-edit-msg"]');
    this.order = null;
    this.pending = null;
    if (!this.form) return;
    this.form.addEventListener("submit", (ev) => {
      if (ev.submitter?.value !== "save") return; // Close: the dialog closes itself
      ev.preventDefault();
      this.save();
    });
    this.form.addEventListener("input", () => this.renderHold());
  }

  /** The fields an order can change: qty; its limit price if it has one; its stop price while the
   *  stop waits (a triggered stop-limit is a resting limit); expire_at if it is gtd. */
  static fieldsOf(order) {
    const has = (f) => order[f] !== null && order[f] !== undefined;
    return FIELDS.filter((f) => f === "qty" || (f === "expire_at" ? order.time_in_force === "gtd"
      : f === "stop_price" ? has(f) && !order.triggered_at : has(f)));
  }

  open(order) {
    if (!this.dialog) return;
    this.order = order;
    this.pending = null;
    const market = bySymbol.get(order.symbol);
    const fields = OrderEditor.fieldsOf(order);
    for (const el of this.form.querySelectorAll("[data-edit-field]")) el.hidden = !fields.includes(el.dataset.editField);
    this.form.qty.value = order.qty ?? "";
    this.form.limit_price.value = order.limit_price ?? "";
    this.form.stop_price.value = order.stop_price ?? "";
    this.form.expire_at.value = order.expire_at ? localInputValue(new Date(order.expire_at)) : "";
    const prices = [order.stop_price ? `stop $${fmtPrice(order.stop_price, market)}` : null,
      order.limit_price ? `limit $${fmtPrice(order.limit_price, market)}` : null].filter(Boolean).join(", ");
    this.dialog.querySelector('[data-testid="order-edit-what"]').textContent =
      `${order.side} ${fmtQty(order.qty, market)} ${order.symbol} ${order.type.replace("_", "-")} (${prices}) · holds ${heldText(order.held_asset, order.held, market)}`;
    formMessage(this.msg, "", true);
    this.renderHold();
    this.dialog.showModal();
  }

  /** The changed fields, or an error message. */
  changes() {
    const order = this.order;
    const body = {};
    for (const name of OrderEditor.fieldsOf(order)) {
      const raw = this.form[name].value.trim();
      if (name === "expire_at") {
        const at = isoFromLocal(raw);
        if (!at || Date.parse(at) <= Date.now()) return { error: "Choose an expiry time in the future." };
        if (Date.parse(at) !== Date.parse(order.expire_at)) body.expire_at = at;
        continue;
      }
      if (!(Number(raw) > 0)) return { error: `Enter a ${name.replace("_", " ")} greater than zero.` };
      if (Number(raw) !== Number(order[name])) body[name] = raw;
    }
    if (!Object.keys(body).length) return { error: "Nothing changed." };
    return { body };
  }

  renderHold() {
    const o = this.order;
    if (!o) return;
    const base = bySymbol.get(o.symbol)?.base.code || o.held_asset;
    const hold = holdPreview({ side: o.side, type: o.type, qty: this.form.qty.value, limitPrice: this.form.limit_price.value,
      stopPrice: this.form.stop_price.value, spot: app.config.spot, base, leverage: o.leverage,
      positionFeeBps: app.config.leverage?.position_fee_bps });
    const el = this.dialog.querySelector('[data-testid="edit-hold"]');
    el.textContent = hold ? `${heldText(hold.asset, hold.amount, bySymbol.get(o.symbol))} (now ${heldText(o.held_asset, o.held, bySymbol.get(o.symbol))})` : "—";
    el.dataset.value = hold ? hold.amount : "";
  }

  async save() {
    const { body, error } = this.changes();
    if (error) { formMessage(this.msg, error, false); return; }
    const key = JSON.stringify([this.order.id, body]);
    if (!this.pending || this.pending.key !== key) this.pending = { key, id: newClientOrderId("webedit") };
    const save = this.dialog.querySelector('[data-testid="order-edit-save"]');
    save.disabled = true;
    formMessage(this.msg, "Replacing…", true);
    try {
      const created = await api(`orders/${this.order.id}`, { method: "PATCH", body: { ...body, client_order_id: this.pending.id } });
      this.pending = null;
      this.dialog.close();
      toast(`Order replaced: ${created.side} ${fmtQty(created.qty, bySymbol.get(created.symbol))} ${created.symbol} · holds ${heldText(created.held_asset, created.held, bySymbol.get(created.symbol))}.`);
      this.onReplaced(this.order, created);
    } catch (err) {
      if (err.code !== "network_error") this.pending = null;
      if (handleAuthError(err)) return;
      const unsupported = err.status === 405 || (err.status === 404 && err.code !== "not_found");
      formMessage(this.msg, unsupported ? "Editing orders is not available on this server yet: cancel and place a new one." : friendly(err), false);
    } finally {
      save.disabled = false;
    }
  }
}
