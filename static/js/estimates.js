// Display-only previews of what the server will compute (docs/trading.md, issue 6 formulas).
// Numbers here are floats and are always labelled "est." on the page: the fill is the truth.

export function slippageBps(notional, spot) {
  const n = Math.max(0, notional);
  const raw = Number(spot.spread_bps) / 2 + Number(spot.impact_bps) * Math.sqrt(n / Number(spot.impact_ref_notional));
  return Math.min(Number(spot.max_slippage_bps), raw);
}

/** Spot market order preview. amount is in the base asset (any unit but "USD") or USD (unit "USD");
 *  spot carries the fee and slippage model and the market's qty_step. */
export function spotPreview({ side, amount, unit, index, spot }) {
  const a = Number(amount);
  if (!(a > 0) || !(index > 0)) return null;
  const inBase = unit !== "USD";
  const notionalGuess = inBase ? a * index : a;
  const bps = slippageBps(notionalGuess, spot);
  const price = side === "buy" ? index * (1 + bps / 1e4) : index * (1 - bps / 1e4);
  const step = Number(spot.qty_step);
  const qty = inBase ? a : Math.floor(a / price / step) * step;
  const notional = qty * price;
  const fee = (notional * Number(spot.fee_bps)) / 1e4;
  const total = side === "buy" ? notional + fee : notional - fee;
  return { qty, price, notional, fee, total, bps };
}

/** Leveraged position preview (lev: position_fee_bps and the perp market's mmr as
 *  maintenance_margin_rate): q = M·L/E; long P_liq = (E − M/q)/(1 − mmr), short (E + M/q)/(1 + mmr). */
export function leveragePreview({ side, margin, leverage, index, spot, lev }) {
  const M = Number(margin);
  const L = Number(leverage);
  if (!(M > 0) || !(L >= 1) || !(index > 0)) return null;
  const size = M * L;
  const bps = slippageBps(size, spot);
  const E = side === "long" ? index * (1 + bps / 1e4) : index * (1 - bps / 1e4);
  const q = size / E;
  const mmr = Number(lev.maintenance_margin_rate);
  const liq = side === "long" ? (E - M / q) / (1 - mmr) : (E + M / q) / (1 + mmr);
  const fee = (size * Number(lev.position_fee_bps)) / 1e4;
  return { size, entry: E, qty: q, liq: Math.max(0, liq), fee, bps, mmr };
}

/** Unrealized PnL of a position at a mark price (display fallback when the API gives none). */
export function positionPnl(position, mark) {
  const q = Number(position.qty);
  const E = Number(position.entry_price);
  return position.side === "long" ? (mark - E) * q : (E - mark) * q;
}
