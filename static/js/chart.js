// Candlestick chart (TradingView lightweight-charts) fed by /market/candles and live ticks.
import { CandlestickSeries, ColorType, createChart, createSeriesMarkers, AreaSeries } from "../vendor/lightweight-charts.mjs";
import { api } from "./api.js";

const SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400 };
const THEME = {
  layout: { background: { type: ColorType.Solid, color: "#14181f" }, textColor: "#8b949e", fontSize: 11, attributionLogo: false },
  grid: { vertLines: { color: "#1e242d" }, horzLines: { color: "#1e242d" } },
  rightPriceScale: { borderColor: "#2a313c" },
  timeScale: { borderColor: "#2a313c", timeVisible: true, secondsVisible: false, rightOffset: 6, barSpacing: 8 },
  crosshair: { mode: 0 },
  autoSize: true,
};

export class CandleChart {
  /** symbol: the market or index whose candles to show; precision: places of its prices. */
  constructor(el, { symbol = "SOL-USD", precision = 2 } = {}) {
    this.el = el;
    this.symbol = symbol;
    this.chart = createChart(el, THEME);
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: "#16c784", downColor: "#f6465d", borderVisible: false, wickUpColor: "#16c784", wickDownColor: "#f6465d",
      priceFormat: { type: "price", precision, minMove: 10 ** -precision },
    });
    this.markers = createSeriesMarkers(this.series, []);
    this.fills = [];
    this.interval = "1m";
    this.last = null;
  }

  /** Show prices with `dp` places (a sub-cent token needs more than 2). */
  precision(dp) {
    if (dp === this.dp) return;
    this.dp = dp;
    this.series.applyOptions({ priceFormat: { type: "price", precision: dp, minMove: 10 ** -dp } });
  }

  async load(interval = this.interval) {
    this.interval = interval;
    const candles = await api(`market/candles?symbol=${encodeURIComponent(this.symbol)}&interval=${interval}&limit=500`);
    const bars = candles.map((c) => ({
      time: Date.parse(c.start) / 1000, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close),
    }));
    this.series.setData(bars);
    this.last = bars.at(-1) || null;
    this.el.dataset.bars = String(bars.length);
    this.el.dataset.interval = interval;
    this.renderMarkers();
    this.chart.timeScale().scrollToRealTime();
  }

  bucket(ts) {
    const s = SECONDS[this.interval];
    return Math.floor(ts / s) * s;
  }

  /** Fold one tick into the newest bar (or start a new one). */
  tick(priceStr, iso) {
    const price = Number(priceStr);
    const t = this.bucket(Date.parse(iso) / 1000);
    if (this.last && t < this.last.time) return;
    if (this.last && this.last.time === t) {
      this.last = { ...this.last, high: Math.max(this.last.high, price), low: Math.min(this.last.low, price), close: price };
    } else {
      this.last = { time: t, open: this.last ? this.last.close : price, high: price, low: price, close: price };
      this.el.dataset.bars = String(Number(this.el.dataset.bars || 0) + 1);
    }
    this.series.update(this.last);
    this.el.dataset.lastClose = priceStr;
  }

  addFill(fill) {
    this.fills.push(fill);
    this.renderMarkers();
  }

  renderMarkers() {
    const marks = this.fills.map((f) => ({
      time: this.bucket(Date.parse(f.filled_at || f.created_at) / 1000),
      position: f.side === "buy" || f.side === "long" ? "belowBar" : "aboveBar",
      color: f.side === "buy" || f.side === "long" ? "#16c784" : "#f6465d",
      shape: f.side === "buy" || f.side === "long" ? "arrowUp" : "arrowDown",
      text: `${f.side} ${Number(f.qty).toLocaleString("en-US", { maximumFractionDigits: 3 })}`,
    })).sort((a, b) => a.time - b.time);
    this.markers.setMarkers(marks);
    this.el.dataset.fillMarkers = String(marks.length);
  }
}

export class EquityChart {
  constructor(el) {
    this.el = el;
    this.chart = createChart(el, { ...THEME, timeScale: { ...THEME.timeScale, secondsVisible: true } });
    this.series = this.chart.addSeries(AreaSeries, {
      lineColor: "#9945ff", topColor: "rgba(153,69,255,.35)", bottomColor: "rgba(153,69,255,0)", lineWidth: 2,
      priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    this.points = [];
  }

  set(timestamps, equity) {
    const byTime = new Map();
    timestamps.forEach((t, i) => { if (equity[i] !== null) byTime.set(Math.floor(Date.parse(t) / 1000), Number(equity[i])); });
    this.points = [...byTime].map(([time, value]) => ({ time, value })).sort((a, b) => a.time - b.time);
    this.series.setData(this.points);
    this.el.dataset.points = String(this.points.length);
    this.chart.timeScale().fitContent();
  }

  /** Append a live equity point (from a fresh /portfolio read). */
  push(equityStr) {
    if (equityStr === null || equityStr === undefined) return;
    const time = Math.floor(Date.now() / 1000);
    const last = this.points.at(-1);
    const point = { time: last && last.time >= time ? last.time : time, value: Number(equityStr) };
    if (last && last.time === point.time) this.points[this.points.length - 1] = point; else this.points.push(point);
    this.series.update(point);
    this.el.dataset.points = String(this.points.length);
    this.el.dataset.lastEquity = equityStr;
  }
}
