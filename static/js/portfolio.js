// Portfolio page: summary, equity chart (history + live points), open positions, closed ones, reset.
import { api, friendly } from "./api.js";
import { app, handleAuthError, throttle, toast } from "./app.js";
import { EquityChart } from "./chart.js";
import { dec, decSum, h, pct, rows, signClass, time, usd } from "./format.js";
import { bySymbol, fmtPrice, fmtQty } from "./markets.js";
import { PositionsTable, list } from "./positions.js";

const $ = (s) => document.querySelector(s);
const chart = new EquityChart($('[data-testid="equity-chart"]'));
let period = "1D";

function set(id, text, cls = "") {
  const el = $(`[data-testid="${id}"]`);
  el.textContent = text;
  el.className = cls;
}

async function loadSummary() {
  let p;
  try { p = await api("portfolio"); } catch (err) { if (!handleAuthError(err)) toast(friendly(err), "err"); return; }
  set("epoch", String(p.epoch));
  set("epoch-start", time(p.epoch_started_at));
  set("pf-equity", usd(p.equity));
  set("pf-return", p.return === null ? "—" : pct(p.return), signClass(p.return));
  set("pf-usd", `${usd(p.balances.USD.free)} / ${usd(p.balances.USD.locked)}`);
  const sol = (p.holdings || []).find((x) => x.asset === "SOL") || { qty: p.balances.SOL?.total, ...(p.sol || {}) };
  set("pf-sol", `${dec(sol.qty ?? "0", 3)}${sol.avg_cost ? ` @ ${usd(sol.avg_cost)}` : ""}`);
  const spotUnrealized = p.holdings ? decSum(p.holdings.map((x) => x.unrealized_pnl)) : p.sol?.unrealized_pnl;
  set("pf-unrealized", usd(spotUnrealized, 2, { sign: true }), signClass(spotUnrealized));
  renderHoldings(p);
  set("pf-realized", usd(p.realized_pnl, 2, { sign: true }), signClass(p.realized_pnl));
  set("pf-fees", usd(p.fees_paid));
  const pos = p.positions || {};
  set("pf-pos-unrealized", usd(pos.unrealized_pnl, 2, { sign: true }), signClass(pos.unrealized_pnl));
  set("pf-margin", `${usd(pos.margin_used)}${pos.open_count ? ` · ${pos.open_count} open` : ""}`);
  chart.push(p.equity);
}
const refreshSummary = throttle(loadSummary, 1000);

/** One row per asset held (holdings: asset, market, qty, free, locked, price, value, avg_cost,
 *  unrealized_pnl, realized_pnl, stale); a stale price is the last known one, flagged. */
function renderHoldings(p) {
  const items = p.holdings || [];
  rows($('[data-testid="holdings-table"] tbody'), items, (x) => {
    const market = bySymbol.get(x.market);
    return h("tr", { dataset: { asset: x.asset, stale: x.stale ? "1" : "0" }, class: x.stale ? "stale" : null },
      h("td", {}, x.asset),
      h("td", {}, x.market ? h("a", { href: `/trade/?market=${encodeURIComponent(x.market)}` }, x.market) : "—"),
      h("td", { class: "num" }, fmtQty(x.qty, market)),
      h("td", { class: "num" }, fmtQty(x.free, market)),
      h("td", { class: "num" }, fmtQty(x.locked, market)),
      h("td", { class: "num", "data-testid": "holding-price" }, x.price === null || x.price === undefined ? "—" : `$${fmtPrice(x.price, market)}`,
        x.stale ? h("span", { class: "badge warn", "data-testid": "holding-stale", title: "No fresh price: valued at the last known one" }, " stale") : null),
      h("td", { class: "num" }, usd(x.value)),
      h("td", { class: "num" }, x.avg_cost ? `$${fmtPrice(x.avg_cost, market)}` : "—"),
      h("td", { class: `num ${signClass(x.unrealized_pnl)}` }, usd(x.unrealized_pnl, 2, { sign: true })),
      h("td", { class: `num ${signClass(x.realized_pnl)}` }, usd(x.realized_pnl, 2, { sign: true })));
  }, p.holdings ? "No assets besides USD." : "Per-asset holdings are not available on this server yet.", 10);
  const stale = p.valuation?.stale_symbols || items.filter((x) => x.stale).map((x) => x.market);
  const banner = $('[data-testid="pf-stale"]');
  banner.hidden = !stale.length;
  banner.textContent = stale.length ? `No fresh price for ${stale.join(", ")}: valued at the last known price.` : "";
}

async function loadHistory() {
  try {
    const hist = await api(`portfolio/history?period=${period}&timeframe=${period === "1D" ? "1Min" : period === "1W" ? "15Min" : "1H"}`);
    chart.set(hist.timestamp, hist.equity);
  } catch (err) { if (!handleAuthError(err)) toast(friendly(err), "err"); }
}

document.querySelectorAll("[data-period]").forEach((b) => b.addEventListener("click", async () => {
  period = b.dataset.period;
  document.querySelectorAll("[data-period]").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
  await loadHistory();
  loadSummary();
}));

async function loadClosed() {
  const tbody = $('[data-testid="closed-table"] tbody');
  let items = [];
  try {
    const [closed, liquidated] = await Promise.all([api("positions?status=closed&limit=10"), api("positions?status=liquidated&limit=10")]);
    items = [...list(closed), ...list(liquidated)].sort((a, b) => Date.parse(b.closed_at) - Date.parse(a.closed_at)).slice(0, 10);
  } catch (err) { if (handleAuthError(err)) return; }
  rows(tbody, items, (p) => h("tr", { dataset: { positionId: p.id } },
    h("td", {}, time(p.closed_at)),
    h("td", {}, h("span", { class: `badge ${p.side}` }, `${p.side} ${dec(p.leverage, 0)}×`)),
    h("td", {}, h("span", { class: `badge ${p.status}` }, p.status)),
    h("td", { class: "num" }, dec(p.initial_qty ?? p.qty, 3)),
    h("td", { class: "num" }, usd(p.entry_price)),
    h("td", { class: "num" }, usd(p.exit_price)),
    h("td", { class: "num" }, usd(p.fees_paid, 4)),
    h("td", { class: `num ${signClass(p.realized_pnl)}`, "data-testid": "closed-pnl" }, usd(p.realized_pnl, 2, { sign: true }))),
  "No closed positions in this epoch.", 8);
  const realized = decSum(items.map((p) => p.realized_pnl));
  set("pf-pos-realized", usd(realized, 2, { sign: true }), signClass(realized));
}

const positions = new PositionsTable($('[data-testid="positions-table"] tbody'));
document.addEventListener("position-closed", () => { loadClosed(); refreshSummary(); });
for (const t of ["order_fill", "portfolio_update", "position_liquidated", "subscribed", "resync_required"]) {
  app.stream.on(t, () => { refreshSummary(); if (t !== "portfolio_update") loadClosed(); });
}

// reset, behind a confirmation dialog
const dialog = $('[data-testid="reset-dialog"]');
$('[data-testid="reset-open"]').addEventListener("click", () => dialog.showModal());
dialog.addEventListener("close", async () => {
  if (dialog.returnValue !== "confirm") return;
  try {
    const epoch = await api("account/reset", { method: "POST" });
    toast(`Account reset: epoch ${epoch.epoch} starts with ${usd(epoch.starting_equity)}.`);
    await loadHistory();
    await Promise.all([loadSummary(), positions.load(), loadClosed()]);
  } catch (err) {
    if (!handleAuthError(err)) toast(friendly(err), "err");
  }
});

app.start();
await loadHistory();
await Promise.all([loadSummary(), positions.load(), loadClosed()]);
document.body.dataset.ready = "1";
