// A perp market's header line: its mark and index (both from each price_update's `marks`, else
// GET /api/v1/markets/{symbol}), the funding rate charged now and a countdown to the next funding
// time (`next_funding_at`, refreshed from the markets API every 15 s and when the countdown ends).
import { api } from "./api.js";
import { dec } from "./format.js";
import { fmtPrice } from "./markets.js";

const REFRESH_MS = 15000;

function countdown(iso) {
  if (!iso) return "—";
  const left = Math.max(0, Math.floor((Date.parse(iso) - Date.now()) / 1000));
  const hh = String(Math.floor(left / 3600)).padStart(2, "0");
  const mm = String(Math.floor((left % 3600) / 60)).padStart(2, "0");
  const ss = String(left % 60).padStart(2, "0");
  return `${hh}:${mm}:${ss}`;
}

/** The rate per interval as a signed percentage with the interval: "+0.0013% / 1h". */
export function fundingText(rate, hours) {
  if (rate === null || rate === undefined) return "—";
  const text = dec(String(Number(rate) * 100), 4, { sign: true });
  return `${text}% / ${hours ?? "?"}h`;
}

export class PerpHeader {
  constructor(el, market) {
    this.el = el;
    this.market = market;
    this.nextAt = null;
  }

  set(field, text) {
    const cell = this.el.querySelector(`[data-testid="${field}"]`);
    if (cell) cell.textContent = text;
  }

  /** A price_update of the market's index: its `marks` entry for this perp. */
  tick(data) {
    const entry = data?.marks?.[this.market.symbol];
    if (!entry) return;
    this.set("perp-mark", `$${fmtPrice(entry.mark, this.market)}`);
    this.set("perp-index", `$${fmtPrice(entry.index, this.market)}`);
  }

  /** A GET /api/v1/markets/{symbol} answer. */
  render(m) {
    if (m.mark) this.set("perp-mark", `$${fmtPrice(m.mark, this.market)}`);
    if (m.index) this.set("perp-index", `$${fmtPrice(m.index, this.market)}`);
    this.set("funding-rate", fundingText(m.funding_rate, m.funding_interval_hours));
    this.el.querySelector('[data-testid="funding-rate"]').title = m.funding_basis === "venues"
      ? `the venues' median rate (${(m.mark_sources || []).join(", ")})`
      : "premium-index formula (no venue rate)";
    this.nextAt = m.next_funding_at;
    this.renderCountdown();
  }

  renderCountdown() {
    this.set("funding-countdown", countdown(this.nextAt));
    if (this.nextAt && Date.parse(this.nextAt) <= Date.now()) {
      this.nextAt = null;
      setTimeout(() => this.load(), 1000); // past the funding time: ask for the next one
    }
  }

  async load() {
    try {
      this.render(await api(`markets/${encodeURIComponent(this.market.symbol)}`));
    } catch {
      /* keep what is shown; the next poll retries */
    }
  }

  start() {
    setInterval(() => this.load(), REFRESH_MS);
    setInterval(() => this.renderCountdown(), 1000);
    return this.load();
  }
}
