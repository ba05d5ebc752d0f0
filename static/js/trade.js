// Trade page: market picker, live price, candle chart, spot ticket, leverage ticket, balances,
// positions, fills. The market is the page's (?market=, rendered as data-market): its token's
// spot market takes the spot ticket, its perp the leverage ticket; rules come from the registry.
import { api, friendly, newClientOrderId } from "./api.js";
import { app, handleAuthError, throttle, toast } from "./app.js";
import { CandleChart } from "./chart.js";
import { leveragePreview, spotPreview } from "./estimates.js";
import { ago, dec, h, rows, time, usd } from "./format.js";
import { bySymbol, decimalsOf, fmtPrice, fmtQty, isHalted, priceDp } from "./markets.js";
import { MarketPicker } from "./picker.js";
import { PositionsTable } from "./positions.js";

const $ = (s, root = document) => root.querySelector(s);
const cfg = app.config;
const grid = $("[data-market]");
const market = app.market;
const spotMarket = bySymbol.get(grid.dataset.spot) || null;
const perpMarket = bySymbol.get(grid.dataset.perp) || null;
const base = market.base.code;
const qtyDp = decimalsOf(spotMarket?.rules.qty_step ?? perpMarket?.rules.qty_step ?? "0.001");
const spotRules = { ...cfg.spot, qty_step: spotMarket?.rules.qty_step ?? "0.001" };
const levRules = { position_fee_bps: cfg.leverage.position_fee_bps, maintenance_margin_rate: perpMarket?.rules.mmr ?? "0" };
const ours = new Set([spotMarket?.symbol, perpMarket?.symbol].filter(Boolean));
const state = { portfolio: null, spotSide: "buy", unit: "base", levSide: "long", pendingSpot: null, pendingLev: null };
const money = (v) => `$${fmtPrice(v, market)}`; // a price of this market, at its precision
$('[data-testid="spot-amount"]').placeholder = (0).toFixed(qtyDp); // "0" for BONK's lot of 1, "0.001" steps: "0.000"

// --- picker, price header + chart --------------------------------------------------------------
const picker = new MarketPicker($('[data-testid="market-picker"]'));
const chart = new CandleChart($('[data-testid="chart"]'), { symbol: market.index_symbol, precision: Math.min(decimalsOf(market.rules.price_tick), 2) });
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
  renderSpotEstimate();
  renderLevEstimate();
}
function renderAge() {
  const el = $('[data-testid="price-age"]');
  el.textContent = ago(el.dataset.at);
}
setInterval(renderAge, 1000);

app.stream.on("price_update", (f) => {
  picker.tick(f.data);
  if (f.data.symbol && f.data.symbol !== market.index_symbol) return;
  showPrice(f.data);
  chart.tick(f.data.price, f.data.computed_at);
});

document.querySelectorAll("[data-interval]").forEach((btn) =>
  btn.addEventListener("click", async () => {
    document.querySelectorAll("[data-interval]").forEach((b) => b.setAttribute("aria-pressed", String(b === btn)));
    await chart.load(btn.dataset.interval).catch((e) => toast(friendly(e), "err"));
  }),
);

// --- radio groups (keyboard: arrows move, like native radios) ----------------------------------
function radioGroup(root, onChange) {
  const buttons = [...root.querySelectorAll("[role=radio]")];
  const select = (btn, focus = false) => {
    buttons.forEach((b) => { b.setAttribute("aria-checked", String(b === btn)); b.tabIndex = b === btn ? 0 : -1; });
    if (focus) btn.focus();
    onChange(btn.dataset.value);
  };
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => select(b));
    b.addEventListener("keydown", (ev) => {
      const d = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[ev.key];
      if (d) { ev.preventDefault(); select(buttons[(i + d + buttons.length) % buttons.length], true); }
    });
  });
}

// --- tabs ----------------------------------------------------------------------------------------
document.querySelectorAll("[role=tablist]").forEach((list) => {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  const show = (tab, focus) => {
    tabs.forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
  };
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => show(t));
    t.addEventListener("keydown", (ev) => {
      const d = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
      if (d) { ev.preventDefault(); show(tabs[(i + d + tabs.length) % tabs.length], true); }
    });
  });
  // A perp market opens on its own ticket (the leverage one); a spot market on the spot one.
  const leverage = tabs.find((t) => t.id === "tab-lev");
  if (market.kind === "perp" && leverage) show(leverage);
});

// --- balances ------------------------------------------------------------------------------------
async function loadPortfolio() {
  if (!app.signedIn) return;
  try {
    state.portfolio = await api("portfolio");
  } catch (err) {
    handleAuthError(err);
    return;
  }
  const p = state.portfolio;
  $('[data-testid="balance-usd"]').textContent = usd(p.balances.USD.free);
  const held = p.balances?.[base] ?? (p.holdings || []).find((x) => x.asset === base);
  $('[data-testid="balance-sol"]').textContent = `${dec(held?.free ?? "0", qtyDp)} ${base}`;
  $('[data-testid="lev-available"]').textContent = usd(p.balances.USD.free);
  $('[data-testid="equity"]').textContent = usd(p.equity);
}
const refreshPortfolio = throttle(loadPortfolio, 500);

// --- spot ticket ---------------------------------------------------------------------------------
const spotForm = $('[data-testid="spot-form"]');
const spotMsg = $('[data-testid="spot-msg"]');
radioGroup($('[data-testid="spot-side"]'), (v) => { state.spotSide = v; renderSpotEstimate(); });
radioGroup($('[data-testid="spot-unit"]'), (v) => { state.unit = v; $('[data-bind="unit"]').textContent = v === "USD" ? "USD" : base; renderSpotEstimate(); });
spotForm.amount.addEventListener("input", () => { state.pendingSpot = null; renderSpotEstimate(); });

function renderSpotEstimate() {
  const btn = $('[data-testid="spot-submit"]');
  btn.textContent = `${state.spotSide === "buy" ? "Buy" : "Sell"} ${base}`;
  btn.className = `btn btn-block ${state.spotSide === "buy" ? "btn-buy" : "btn-sell"}`;
  btn.disabled = !spotMarket || isHalted(spotMarket) || state.sendingSpot;
  const est = spotPreview({ side: state.spotSide, amount: spotForm.amount.value, unit: state.unit, index: Number(app.price?.price), spot: spotRules });
  const set = (k, v) => ($(`[data-est="${k}"]`, spotForm).textContent = v);
  if (!est) { ["price", "slippage", "qty", "fee", "total"].forEach((k) => set(k, "—")); return; }
  set("price", money(est.price.toFixed(12)));
  set("slippage", `${est.bps.toFixed(2)} bps`);
  set("qty", `${dec(est.qty.toFixed(qtyDp), qtyDp)} ${base}`);
  set("fee", usd(String(est.fee), 4));
  set("total", `${state.spotSide === "buy" ? "cost" : "proceeds"} ${usd(String(est.total), 2)}`);
}

document.querySelectorAll("[data-fraction]").forEach((b) => b.addEventListener("click", () => {
  const p = state.portfolio;
  if (!p) return;
  const f = Number(b.dataset.fraction);
  const index = Number(app.price?.price);
  const step = Number(spotRules.qty_step);
  const lots = (q) => (Math.floor(q / step) * step).toFixed(qtyDp);
  let amount;
  if (state.spotSide === "buy") {
    const usdFree = Number(p.balances.USD.free) * f * (1 - Number(cfg.spot.fee_bps) / 1e4 - 0.005);
    amount = state.unit === "USD" ? usdFree.toFixed(2) : index ? lots(usdFree / index) : "";
  } else {
    const held = p.balances?.[base] ?? (p.holdings || []).find((x) => x.asset === base);
    const baseFree = Number(lots(Number(held?.free ?? 0) * f));
    amount = state.unit === "base" ? baseFree.toFixed(qtyDp) : index ? (baseFree * index * 0.99).toFixed(2) : "";
  }
  spotForm.amount.value = amount;
  renderSpotEstimate();
}));

function formMessage(el, text, ok) {
  el.hidden = !text;
  el.className = `form-msg ${ok ? "ok" : "err"}`;
  el.textContent = text;
}

spotForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!app.signedIn) { location.href = "/signin/?next=/trade/"; return; }
  const amount = spotForm.amount.value.trim();
  if (!(Number(amount) > 0)) { formMessage(spotMsg, "Enter an amount greater than zero.", false); return; }
  if (!spotMarket || isHalted(spotMarket)) { formMessage(spotMsg, `${spotMarket?.symbol || base} is not open for new orders.`, false); return; }
  const body = { symbol: spotMarket.symbol, side: state.spotSide, type: "market", [state.unit === "base" ? "qty" : "notional"]: amount };
  const key = JSON.stringify(body);
  // Retrying the same ticket after a network error reuses its id, so it can never fill twice.
  if (!state.pendingSpot || state.pendingSpot.key !== key) state.pendingSpot = { key, id: newClientOrderId() };
  const submit = $('[data-testid="spot-submit"]');
  state.sendingSpot = true;
  submit.disabled = true;
  formMessage(spotMsg, "Sending…", true);
  try {
    const order = await api("orders", { method: "POST", body: { ...body, client_order_id: state.pendingSpot.id } });
    state.pendingSpot = null;
    formMessage(spotMsg, `Filled: ${order.side === "buy" ? "bought" : "sold"} ${fmtQty(order.filled_qty, spotMarket)} ${base} at ${money(order.filled_avg_price)} · fee ${usd(order.fee, 4)} · slippage ${dec(order.slippage_bps, 2)} bps`, true);
    addFill({ ...order, qty: order.filled_qty, price: order.filled_avg_price, filled_at: order.filled_at });
    refreshPortfolio();
  } catch (err) {
    if (err.code !== "network_error") state.pendingSpot = null;
    if (!handleAuthError(err)) formMessage(spotMsg, friendly(err), false);
  } finally {
    state.sendingSpot = false;
    renderSpotEstimate();
  }
});

// --- leverage ticket -----------------------------------------------------------------------------
const levForm = $('[data-testid="lev-form"]');
const levMsg = $('[data-testid="lev-msg"]');
const maxLeverage = Number(perpMarket?.rules.max_leverage ?? 1);
levForm.leverage.max = String(maxLeverage);
if (Number(levForm.leverage.value) > maxLeverage) levForm.leverage.value = String(maxLeverage);
radioGroup($('[data-testid="lev-side"]'), (v) => { state.levSide = v; renderLevEstimate(); });
levForm.margin.addEventListener("input", () => { state.pendingLev = null; renderLevEstimate(); });
levForm.leverage.addEventListener("input", () => { state.pendingLev = null; renderLevEstimate(); });
document.querySelectorAll("[data-lev]").forEach((b) => {
  if (Number(b.dataset.lev) > maxLeverage) b.remove();
  b.addEventListener("click", () => { levForm.leverage.value = b.dataset.lev; renderLevEstimate(); });
});

function renderLevEstimate() {
  const L = levForm.leverage.value;
  $('[data-testid="lev-value"]').textContent = `${L}×`;
  const btn = $('[data-testid="lev-submit"]');
  btn.textContent = `Open ${state.levSide} ${L}×`;
  btn.className = `btn btn-block ${state.levSide === "long" ? "btn-buy" : "btn-sell"}`;
  btn.disabled = !perpMarket || isHalted(perpMarket) || state.sendingLev;
  const est = leveragePreview({ side: state.levSide, margin: levForm.margin.value, leverage: L, index: Number(app.price?.price), spot: cfg.spot, lev: levRules });
  const set = (k, v) => ($(`[data-testid="lev-${k}"]`).textContent = v);
  if (!est) { ["size", "qty", "entry", "fee", "liq"].forEach((k) => set(k, "—")); return; }
  set("size", usd(String(est.size), 2));
  set("qty", `${dec(est.qty.toFixed(qtyDp), qtyDp)} ${base}`);
  set("entry", money(est.entry.toFixed(12)));
  set("fee", usd(String(est.fee), 4));
  set("liq", money(est.liq.toFixed(12)));
  $('[data-testid="lev-liq"]').dataset.value = est.liq.toFixed(6);
}

levForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!app.signedIn) { location.href = "/signin/?next=/trade/"; return; }
  const margin = levForm.margin.value.trim();
  if (!(Number(margin) > 0)) { formMessage(levMsg, "Enter the margin in USD.", false); return; }
  if (!perpMarket || isHalted(perpMarket)) { formMessage(levMsg, `${perpMarket?.symbol || base} is not open for new positions.`, false); return; }
  const body = { symbol: perpMarket.symbol, side: state.levSide, margin, leverage: levForm.leverage.value };
  const key = JSON.stringify(body);
  if (!state.pendingLev || state.pendingLev.key !== key) state.pendingLev = { key, id: newClientOrderId("webpos") };
  const submit = $('[data-testid="lev-submit"]');
  state.sendingLev = true;
  submit.disabled = true;
  try {
    const p = await api("positions", { method: "POST", body: { ...body, client_order_id: state.pendingLev.id } });
    state.pendingLev = null;
    formMessage(levMsg, `Opened ${p.side} ${dec(p.leverage, 0)}×: ${fmtQty(p.qty, perpMarket)} ${base} at ${money(p.entry_price)} · liquidation ${money(p.liquidation_price)} · fee ${usd(p.fee, 4)}`, true);
    chart.addFill({ side: p.side, qty: p.qty, filled_at: p.opened_at });
    positions.load();
    refreshPortfolio();
  } catch (err) {
    if (err.code !== "network_error") state.pendingLev = null;
    if (err.status === 404 && err.code === "not_found") formMessage(levMsg, "Leveraged trading is not enabled on this server yet.", false);
    else if (!handleAuthError(err)) formMessage(levMsg, friendly(err), false);
  } finally {
    state.sendingLev = false;
    renderLevEstimate();
  }
});

// --- fills + positions ---------------------------------------------------------------------------
const fills = [];
function addFill(f) {
  if (fills.some((x) => (x.order_id || x.id) === (f.order_id || f.id))) return;
  fills.unshift(f);
  if (!f.symbol || ours.has(f.symbol)) chart.addFill(f);
  renderFills();
}
function renderFills() {
  rows($('[data-testid="fills-table"] tbody'), fills.slice(0, 20), (f) =>
    h("tr", {},
      h("td", {}, time(f.filled_at || f.created_at)),
      h("td", {}, h("span", { class: `badge ${f.side}` }, f.side), f.symbol ? h("small", { class: "muted" }, ` ${f.symbol}`) : null),
      h("td", { class: "num" }, fmtQty(f.qty, bySymbol.get(f.symbol) || spotMarket)),
      h("td", { class: "num" }, `$${fmtPrice(f.price, bySymbol.get(f.symbol) || market)}`),
      h("td", { class: "num" }, usd(f.notional, 2)),
      h("td", { class: "num" }, usd(f.fee, 4))),
  "No fills yet: place an order.", 6);
}
async function loadFills() {
  if (!app.signedIn) return renderFills();
  try {
    const page = await api("trades?limit=20");
    (page.results || []).reverse().forEach((f) => addFill({ ...f, filled_at: f.created_at }));
  } catch (err) { handleAuthError(err); }
  renderFills();
}

const positions = new PositionsTable($('[data-testid="positions-table"] tbody'));
app.stream.on("order_fill", (f) => { addFill({ ...f.data, id: f.data.order_id }); refreshPortfolio(); });
for (const t of ["portfolio_update", "position_liquidated", "subscribed", "resync_required"]) app.stream.on(t, refreshPortfolio);
document.addEventListener("position-closed", refreshPortfolio);

// --- start ---------------------------------------------------------------------------------------
renderSpotEstimate();
renderLevEstimate();
const [, price] = await Promise.all([chart.load("1m").catch((e) => toast(friendly(e), "err")), app.start(), picker.start()]);
showPrice(price);
if (app.signedIn) await Promise.all([loadPortfolio(), loadFills(), positions.load()]);
else { renderFills(); positions.render(); }
document.body.dataset.ready = "1";
