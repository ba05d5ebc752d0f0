// Display-only previews of what the server will compute (docs/trading.md, issue 6 formulas).
// Numbers here are floats and are always labelled "est." on the page: the fill is the truth.
import { bpsFactor, decProductUp, isDecimal } from "./format.js";

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

/** The order types of the spot ticket and the fields each takes (docs/trading.md). */
export const ORDER_FIELDS = {
  market: [],
  limit: ["limit_price", "time_in_force", "post_only"],
  stop: ["stop_price", "time_in_force"],
  stop_limit: ["stop_price", "limit_price", "time_in_force"],
};

/** What a resting order will hold while open (exact, as the server computes it): a buy its
 *  worst-case cost in USD, `qty × limit × (1 + taker fee)` (a stop: `qty × stop × (1 + max
 *  slippage) × (1 + taker fee)`), rounded up to the micro-dollar; a sell its qty of the base asset.
 *  Null until the fields it needs are filled in; a market order holds nothing. */
export function holdPreview({ side, type, qty, limitPrice, stopPrice, spot, base, leverage, positionFeeBps }) {
  if (type === "market" || !isDecimal(qty) || !(Number(qty) > 0)) return null;
  if (leverage) { // a position's limit entry holds margin + fee in USD, either side (display only)
    const notional = Number(qty) * Number(limitPrice);
    if (!(notional > 0)) return null;
    return { asset: "USD", amount: (notional / Number(leverage) + (notional * Number(positionFeeBps)) / 1e4).toFixed(6) };
  }
  if (side === "sell") return { asset: base, amount: String(qty).trim() };
  const fee = bpsFactor(spot.fee_bps);
  const price = type === "stop" ? stopPrice : limitPrice;
  if (!isDecimal(price) || !(Number(price) > 0)) return null;
  const factors = type === "stop" ? [qty, price, bpsFactor(spot.max_slippage_bps), fee] : [qty, price, fee];
  return { asset: "USD", amount: decProductUp(factors.map((v) => String(v).trim()), 6) };
}

/** Preview of a resting order's fill (floats, display only): a limit that the market already
 *  crosses fills now as the taker (slipped price, never worse than the limit), else it rests and
 *  fills at its limit as the maker; a stop fills at market (the stop ± modelled slippage) as the
 *  taker once triggered; a stop-limit becomes its limit. */
export function restingPreview({ side, type, qty, limitPrice, stopPrice, index, bid, ask, spot }) {
  const q = Number(qty);
  const limit = Number(limitPrice);
  const stop = Number(stopPrice);
  if (!(q > 0)) return null;
  const buy = side === "buy";
  let price;
  let bps = 0;
  let maker = false;
  let now = false;
  if (type === "limit") {
    if (!(limit > 0) || !(index > 0)) return null;
    const touch = buy ? ask || index : bid || index;
    now = buy ? touch <= limit : touch >= limit;
    if (now) {
      bps = slippageBps(q * index, spot);
      price = buy ? Math.min(limit, index * (1 + bps / 1e4)) : Math.max(limit, index * (1 - bps / 1e4));
    } else { price = limit; maker = true; }
  } else if (type === "stop") {
    if (!(stop > 0)) return null;
    bps = slippageBps(q * stop, spot);
    price = buy ? stop * (1 + bps / 1e4) : stop * (1 - bps / 1e4);
  } else {
    if (!(stop > 0) || !(limit > 0)) return null;
    price = limit;
  }
  const notional = q * price;
  const feeBps = Number(maker ? spot.maker_fee_bps : spot.fee_bps); // a stop-limit: the taker fee, at worst
  const fee = (notional * feeBps) / 1e4;
  return { qty: q, price, bps, notional, fee, feeBps, maker, now, total: buy ? notional + fee : notional - fee };
}
