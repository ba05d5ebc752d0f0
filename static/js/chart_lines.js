// Horizontal price lines on the candle chart (lightweight-charts price lines): the open orders'
// limit and waiting stop prices, the positions' take-profit, stop-loss and liquidation prices, for the
// chart's token only. set() diffs by key, so live updates move, add and remove single lines.
import { LineStyle } from "../vendor/lightweight-charts.mjs";

const NEAR = 0.2; // lines within 20 % of the candles' range join the autoscale (a far liquidation price does not)
const COLORS = { buy: "#16c784", sell: "#f6465d", tp: "#14f195", sl: "#f0b90b", liq: "#f6465d" };

/** The lines of open orders and positions on `symbols` (the chart's token's spot and perp markets). */
export function priceLinesFor({ orders = [], positions = [], symbols }) {
  const lines = [];
  for (const o of orders) {
    if (!symbols.has(o.symbol)) continue;
    const side = o.side === "buy" ? "Buy" : "Sell";
    if (o.limit_price) lines.push({ key: `order:${o.id}:limit`, price: o.limit_price, color: COLORS[o.side], style: LineStyle.Solid, title: `${side} limit` });
    if (o.stop_price && !o.triggered_at) lines.push({ key: `order:${o.id}:stop`, price: o.stop_price, color: COLORS[o.side], style: LineStyle.Dashed, title: `${side} stop` });
  }
  for (const p of positions) {
    if (p.symbol && !symbols.has(p.symbol)) continue;
    const side = p.side === "long" ? "Long" : "Short";
    if (p.take_profit_price) lines.push({ key: `position:${p.id}:tp`, price: p.take_profit_price, color: COLORS.tp, style: LineStyle.Dotted, title: `${side} TP` });
    if (p.stop_loss_price) lines.push({ key: `position:${p.id}:sl`, price: p.stop_loss_price, color: COLORS.sl, style: LineStyle.Dotted, title: `${side} SL` });
    if (p.liquidation_price) lines.push({ key: `position:${p.id}:liq`, price: p.liquidation_price, color: COLORS.liq, style: LineStyle.LargeDashed, title: `${side} liq.` });
  }
  return lines;
}

export class PriceLines {
  /** series: the candlestick series; el: the chart element (data-price-lines lists the keys). */
  constructor(series, el) {
    this.series = series;
    this.el = el;
    this.lines = new Map(); // key -> {line, spec}
    series.applyOptions({ autoscaleInfoProvider: (original) => this.autoscale(original()) });
  }

  /** The candles' price range widened to the nearby lines, so a resting order stays in view. */
  autoscale(info) {
    if (!info?.priceRange || !this.lines.size) return info;
    let { minValue: lo, maxValue: hi } = info.priceRange;
    const mid = (lo + hi) / 2;
    for (const { spec } of this.lines.values()) {
      const p = Number(spec.price);
      if (Math.abs(p - mid) <= mid * NEAR) { lo = Math.min(lo, p); hi = Math.max(hi, p); }
    }
    return { ...info, priceRange: { minValue: lo, maxValue: hi } };
  }

  set(specs) {
    const wanted = new Map(specs.map((s) => [s.key, s]));
    for (const [key, { line }] of this.lines) {
      if (!wanted.has(key)) { this.series.removePriceLine(line); this.lines.delete(key); }
    }
    for (const [key, spec] of wanted) {
      const options = { price: Number(spec.price), color: spec.color, lineWidth: 1, lineStyle: spec.style, axisLabelVisible: true, title: spec.title };
      const have = this.lines.get(key);
      if (!have) this.lines.set(key, { line: this.series.createPriceLine(options), spec });
      else if (have.spec.price !== spec.price || have.spec.title !== spec.title) { have.line.applyOptions(options); have.spec = spec; }
    }
    // what is drawn, for tests and debugging: "Buy limit@95 Long liq.@120.6…"
    this.el.dataset.priceLines = [...this.lines.values()].map(({ spec }) => `${spec.title}@${spec.price}`).join(" | ");
    this.el.dataset.priceLineCount = String(this.lines.size);
  }
}
