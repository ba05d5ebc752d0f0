// Trade page: market picker, live price, candle chart with order/position price lines, the spot
// and leverage tickets, balances, open orders, positions (TP/SL), fills. The market is the page's
// (?market=, rendered as data-market): its token's spot market takes the spot ticket, its perp the
// leverage ticket; rules come from the registry.
import { api, friendly } from "./api.js";
import { app, handleAuthError, throttle, toast } from "./app.js";
import { CandleChart } from "./chart.js";
import { PriceLines, priceLinesFor } from "./chart_lines.js";
import { tabList } from "./controls.js";
import { FillsTable } from "./fills.js";
import { ago, dec, usd } from "./format.js";
import { LeverageTicket } from "./lev_ticket.js";
import { bySymbol, decimalsOf, fmtPrice, priceDp } from "./markets.js";
import { OpenOrders } from "./orders.js";
import { MarketPicker } from "./picker.js";
import { PerpHeader } from "./perp_header.js";
import { PositionsTable } from "./positions.js";
import { SpotTicket } from "./spot_ticket.js";

const $ = (s, root = document) => root.querySelector(s);
const grid = $("[data-market]");
const market = app.market;
const spotMarket = bySymbol.get(grid.dataset.spot) || null;
const perpMarket = bySymbol.get(grid.dataset.perp) || null;
const base = market.base.code;
const qtyDp = decimalsOf(spotMarket?.rules.qty_step ?? perpMarket?.rules.qty_step ?? "0.001");
const ours = new Set([spotMarket?.symbol, perpMarket?.symbol].filter(Boolean));
let portfolio = null;
const money = (v) => `$${fmtPrice(v, market)}`; // a price of this market, at its precision
$('[data-testid="spot-amount"]').placeholder = (0).toFixed(qtyDp); // "0" for BONK's lot of 1, "0.001" steps: "0.000"

// --- picker, price header + chart --------------------------------------------------------------
const picker = new MarketPicker($('[data-testid="market-picker"]'));
const chart = new CandleChart($('[data-testid="chart"]'), { symbol: market.index_symbol, precision: Math.min(decimalsOf(market.rules.price_tick), 2) });
const lines = new PriceLines(chart.series, chart.el);
const drawn = { orders: [], positions: [] };
const drawLines = () => lines.set(priceLinesFor({ ...drawn, symbols: ours }));
let prevPrice = null;

function showPrice(p) {
  if (!p || (p.symbol && p.symbol !== market.index_symbol)) return;
  chart.precision(priceDp(p.price, market.rules.price_tick));
  const el = $('[data-testid="price"]');
  el.textContent = money(p.price);
  el.dataset.value = p.price;
  if (prevPrice !== null && p.price !== prevPrice) {
    el.classList.remove("flash-up", "flash-down");
    void el.offsetWidth;
    el.classList.add(Number(p.price) > Number(prevPrice) ? "flash-up" : "flash-down");
  }
  prevPrice = p.price;
  $('[data-bind="bid"]').textContent = p.bid ? money(p.bid) : "—";
  $('[data-bind="ask"]').textContent = p.ask ? money(p.ask) : "—";
  $('[data-testid="price-source"]').textContent = (p.sources || []).join(", ") || "—";
  $('[data-testid="price-mode"]').textContent = p.mode || "—";
  $('[data-testid="price-age"]').dataset.at = p.computed_at;
  renderAge();
  spot.render();
  lev.render();
}
function renderAge() {
  const el = $('[data-testid="price-age"]');
  el.textContent = ago(el.dataset.at);
}
setInterval(renderAge, 1000);

const perpMeta = $('[data-testid="perp-meta"]');
const perpHeader = perpMeta && market.kind === "perp" ? new PerpHeader(perpMeta, market) : null;
perpHeader?.start();

app.stream.on("price_update", (f) => {
  picker.tick(f.data);
  if (f.data.symbol && f.data.symbol !== market.index_symbol) return;
  showPrice(f.data);
  perpHeader?.tick(f.data);
  chart.tick(f.data.price, f.data.computed_at);
});

document.querySelectorAll("[data-interval]").forEach((btn) =>
  btn.addEventListener("click", async () => {
    document.querySelectorAll("[data-interval]").forEach((b) => b.setAttribute("aria-pressed", String(b === btn)));
    await chart.load(btn.dataset.interval).catch((e) => toast(friendly(e), "err"));
  }),
);

// --- tabs: a perp market opens on its own ticket (the leverage one); a spot market on the spot one
const tickets = tabList($('[role=tablist][aria-label="Ticket"]'));
if (market.kind === "perp") tickets.show(tickets.tabs.find((t) => t.id === "tab-lev"));

// --- balances ------------------------------------------------------------------------------------
async function loadPortfolio() {
  if (!app.signedIn) return;
  try {
    portfolio = await api("portfolio");
  } catch (err) {
    handleAuthError(err);
    return;
  }
  const p = portfolio;
  $('[data-testid="balance-usd"]').textContent = usd(p.balances.USD.free);
  const held = p.balances?.[base] ?? (p.holdings || []).find((x) => x.asset === base);
  $('[data-testid="balance-sol"]').textContent = `${dec(held?.free ?? "0", qtyDp)} ${base}`;
  $('[data-testid="lev-available"]').textContent = usd(p.balances.USD.free);
  $('[data-testid="equity"]').textContent = usd(p.equity);
}
const refreshPortfolio = throttle(loadPortfolio, 500);

// --- fills, open orders, positions -----------------------------------------------------------------
const fills = new FillsTable($('[data-testid="fills-table"] tbody'), {
  fallback: spotMarket || market,
  onFill: (f) => { if (!f.symbol || ours.has(f.symbol)) chart.addFill(f); },
});
const orders = new OpenOrders($('[data-testid="open-orders"]'), {
  ours,
  onChange: (open) => { drawn.orders = open; drawLines(); },
});
const positions = new PositionsTable($('[data-testid="positions-table"] tbody'), {
  onChange: (open) => { drawn.positions = open; drawLines(); },
});
app.stream.on("order_fill", (f) => { fills.add({ ...f.data }); refreshPortfolio(); });
for (const t of ["portfolio_update", "position_liquidated", "subscribed", "resync_required"]) app.stream.on(t, refreshPortfolio);
document.addEventListener("position-closed", refreshPortfolio);

// --- tickets -------------------------------------------------------------------------------------
const spot = new SpotTicket($('[data-testid="spot-form"]'), {
  market, spotMarket, portfolio: () => portfolio,
  onOrder: (order) => {
    if (order.status === "filled") {
      fills.add({ ...order, order_id: order.id, qty: order.filled_qty, price: order.filled_avg_price, filled_at: order.filled_at });
    }
    orders.upsert(order);
    refreshPortfolio();
  },
});
const lev = new LeverageTicket($('[data-testid="lev-form"]'), {
  market, perpMarket,
  onOpened: (p) => { chart.addFill({ side: p.side, qty: p.qty, filled_at: p.opened_at }); positions.load(); refreshPortfolio(); },
});

// --- start ---------------------------------------------------------------------------------------
spot.render();
lev.render();
const [, price] = await Promise.all([chart.load("1m").catch((e) => toast(friendly(e), "err")), app.start(), picker.start()]);
showPrice(price);
if (app.signedIn) await Promise.all([loadPortfolio(), fills.load(), orders.load(), positions.load()]);
else { fills.render(); orders.render(); positions.render(); }
document.body.dataset.ready = "1";
