// The trade page's market picker: server-rendered rows (every listed market, its kind and status,
// from the page config), filtered as you type, with price and 24 h change from GET /api/v1/markets
// (MarketOut: symbol, status, price, change_24h, stale) refreshed every 15 s and on the current
// index's ticks. Choosing a market loads /trade/?market=SYMBOL.
import { api } from "./api.js";
import { bySymbol, fmtPrice } from "./markets.js";
import { pct, signClass } from "./format.js";

const REFRESH_MS = 15_000;

export class MarketPicker {
  constructor(root) {
    this.root = root;
    this.rows = [...root.querySelectorAll('[data-testid="market-row"]')];
    this.search = root.querySelector('[data-testid="market-search"]');
    this.search.addEventListener("input", () => this.filter(this.search.value));
    this.search.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      const first = this.rows.find((r) => !r.hidden);
      if (first) first.querySelector("a").click();
    });
  }

  filter(text) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    for (const row of this.rows) row.hidden = !words.every((w) => row.dataset.search.includes(w));
  }

  /** Fill the rows from a GET /api/v1/markets answer ({markets: [MarketOut]}). */
  render(answer) {
    const live = new Map((answer?.markets || []).map((m) => [m.symbol, m]));
    for (const row of this.rows) {
      const m = live.get(row.dataset.symbol);
      if (!m) continue;
      const market = bySymbol.get(m.symbol) || m;
      const price = row.querySelector('[data-testid="market-price"]');
      price.textContent = m.price === null || m.price === undefined ? "—" : `$${fmtPrice(m.price, market)}`;
      price.dataset.value = m.price ?? "";
      price.classList.toggle("stale", !!m.stale);
      price.title = m.stale ? "stale: last known price" : "";
      const change = row.querySelector('[data-testid="market-change"]');
      change.textContent = m.change_24h === null || m.change_24h === undefined ? "—" : pct(m.change_24h);
      change.className = `num ${signClass(m.change_24h)}`;
      if (m.status && m.status !== row.dataset.status) this.setStatus(row, m.status);
    }
  }

  setStatus(row, status) {
    row.dataset.status = status;
    const cell = row.lastElementChild;
    cell.replaceChildren();
    const badge = document.createElement("span");
    badge.className = `badge ${status === "active" ? "ok" : "bad"}`;
    if (status !== "active") badge.dataset.testid = "market-halted";
    badge.textContent = status;
    cell.append(badge);
  }

  /** A live tick of one index: its markets' price cells (the 24 h change waits for the next poll). */
  tick(data) {
    for (const row of this.rows) {
      if (row.dataset.index !== data.symbol) continue;
      const cell = row.querySelector('[data-testid="market-price"]');
      cell.textContent = `$${fmtPrice(data.price, bySymbol.get(row.dataset.symbol))}`;
      cell.dataset.value = data.price;
      cell.classList.remove("stale");
    }
  }

  async load() {
    try {
      this.render(await api("markets"));
    } catch {
      /* the markets endpoint may be missing or down: the rows keep their rules and status */
    }
  }

  start() {
    setInterval(() => this.load(), REFRESH_MS);
    return this.load();
  }
}
