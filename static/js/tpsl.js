// Take-profit / stop-loss of an open position: shown in its row, set, changed or removed through
// PATCH /api/v1/positions/{id} {take_profit_price, stop_loss_price} (null removes one; a field
// left out stays as it is). The server validates the side, the entry and the liquidation price.
import { api, friendly } from "./api.js";
import { handleAuthError, toast } from "./app.js";
import { formMessage } from "./controls.js";
import { h } from "./format.js";
import { bySymbol, fmtPrice } from "./markets.js";

const FRIENDLY = {
  stop_beyond_liquidation: "The stop loss is beyond the liquidation price: the position would be liquidated first.",
  take_profit_wrong_side: "The take profit must be above the entry for a long, below it for a short.",
  stop_loss_wrong_side: "The stop loss must be below the market for a long, above it for a short.",
};

/** The TP / SL cell of a position row: the two prices and a button opening the editor. */
export function tpslCell(position, editor) {
  const market = bySymbol.get(position.symbol || "SOL-PERP");
  const price = (v) => (v === null || v === undefined ? "—" : `$${fmtPrice(v, market)}`);
  const set = position.take_profit_price || position.stop_loss_price;
  return h("td", { "data-testid": "position-tpsl" },
    h("span", { class: "mono", "data-testid": "position-tp", title: "Take profit" }, `TP ${price(position.take_profit_price)}`), " ",
    h("span", { class: "mono", "data-testid": "position-sl", title: "Stop loss" }, `SL ${price(position.stop_loss_price)}`), " ",
    position.take_profit_price === undefined ? null
      : h("button", { type: "button", class: "btn btn-sm", "data-testid": "tpsl-edit", onclick: () => editor.open(position) }, set ? "Edit" : "Set"));
}

export class TpSlEditor {
  /** dialog: the TP/SL dialog of the page; onSaved(position): after a change. */
  constructor(dialog, { onSaved }) {
    this.dialog = dialog;
    this.onSaved = onSaved;
    this.form = dialog?.querySelector("form");
    this.msg = dialog?.querySelector('[data-testid="tpsl-msg"]');
    if (!this.form) return;
    this.form.addEventListener("submit", (ev) => {
      const action = ev.submitter?.value;
      if (action !== "save" && action !== "clear") return;
      ev.preventDefault();
      this.save(action === "clear");
    });
  }

  open(position) {
    if (!this.dialog) return;
    this.position = position;
    const market = bySymbol.get(position.symbol || "SOL-PERP");
    this.form.take_profit_price.value = position.take_profit_price ?? "";
    this.form.stop_loss_price.value = position.stop_loss_price ?? "";
    this.dialog.querySelector('[data-testid="tpsl-what"]').textContent =
      `${position.side} ${position.symbol || "SOL-PERP"} · entry $${fmtPrice(position.entry_price, market)} · liquidation $${fmtPrice(position.liquidation_price, market)}`;
    formMessage(this.msg, "", true);
    this.dialog.showModal();
  }

  /** The PATCH body: each field changed (an emptied one as null), or everything null to clear. */
  body(clear) {
    const p = this.position;
    const body = {};
    for (const name of ["take_profit_price", "stop_loss_price"]) {
      const raw = clear ? "" : this.form[name].value.trim();
      if (raw && !(Number(raw) > 0)) return { error: "Prices must be greater than zero (or empty to remove)." };
      const value = raw || null;
      if (value === null ? p[name] !== null : Number(value) !== Number(p[name])) body[name] = value;
    }
    return Object.keys(body).length ? { body } : { error: "Nothing changed." };
  }

  async save(clear) {
    const { body, error } = this.body(clear);
    if (error) { formMessage(this.msg, error, false); return; }
    formMessage(this.msg, "Saving…", true);
    try {
      const saved = await api(`positions/${this.position.id}`, { method: "PATCH", body });
      this.dialog.close();
      const market = bySymbol.get(saved.symbol || "SOL-PERP");
      const price = (v) => (v ? `$${fmtPrice(v, market)}` : "none");
      toast(`TP ${price(saved.take_profit_price)} · SL ${price(saved.stop_loss_price)} on ${saved.side} ${saved.symbol || ""}.`);
      this.onSaved(saved);
    } catch (err) {
      if (handleAuthError(err)) return;
      const unsupported = err.status === 405;
      formMessage(this.msg, unsupported ? "Take profit / stop loss is not available on this server yet." : FRIENDLY[err.code] || friendly(err), false);
    }
  }
}
