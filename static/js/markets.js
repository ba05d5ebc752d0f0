// The market registry as the pages see it: the page config's `markets` (rules, status; server-
// rendered from pricing.markets.market_list()) plus live figures from GET /api/v1/markets
// (MarketOut: price, change_24h, stale, status). Display precision follows each market's rules.
import { dec } from "./format.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
export const markets = config.markets || [];
export const bySymbol = new Map(markets.map((m) => [m.symbol, m]));

// Used only when the page config lists no market at all (an empty registry): SOL as before.
const FALLBACK = {
  symbol: "SOL-USD", kind: "spot", status: "active", base: { code: "SOL", name: "Solana" }, quote: "USD", index_symbol: "SOL-USD",
  rules: { qty_step: "0.001", min_qty: "0.001", min_notional: "1", max_notional: "1000000", price_tick: "0.01", max_leverage: null, mmr: null },
};

/** The page's market (the trade page renders data-market), else the default one. */
export function currentMarket() {
  const chosen = document.querySelector("[data-market]")?.dataset.market;
  return bySymbol.get(chosen) || bySymbol.get(config.symbol) || markets[0] || FALLBACK;
}

/** The spot and perp markets trading on one token index (either may be missing). */
export function tokenMarkets(indexSymbol) {
  const on = markets.filter((m) => m.index_symbol === indexSymbol);
  return { spot: on.find((m) => m.kind === "spot") || null, perp: on.find((m) => m.kind === "perp") || null };
}

/** Places after the point of a decimal string ("0.000000001" -> 9, "1" -> 0, "0.010" -> 2). */
export function decimalsOf(step) {
  const s = String(step ?? "").trim();
  if (!s.includes(".")) return 0;
  return s.split(".")[1].replace(/0+$/, "").length;
}

/** How many places to show a price: 2 at or above 1 (bounded by the tick), below 1 enough for
 *  four significant digits (BONK 0.0000213 -> 8), never more than the market's price_tick allows. */
export function priceDp(value, tick) {
  const tickDp = tick ? decimalsOf(tick) : 9;
  const v = Math.abs(Number(value));
  if (!Number.isFinite(v) || v >= 1 || v === 0) return Math.min(2, tickDp);
  const zeros = Math.max(0, -Math.floor(Math.log10(v)) - 1);
  return Math.min(tickDp, zeros + 4);
}

export const fmtPrice = (value, market) => dec(value, priceDp(value, market?.rules?.price_tick));
export const fmtQty = (value, market) => dec(value, decimalsOf(market?.rules?.qty_step ?? "0.001"));
export const isHalted = (m) => !!m && m.status !== "active";
