// History: orders, fills, ledger entries, closed/liquidated positions; cursor pages; CSV export.
import { api, friendly } from "./api.js";
import { app, handleAuthError, toast } from "./app.js";
import { dec, download, h, rows, signClass, time, toCsv, usd } from "./format.js";
import { bySymbol, fmtPrice, fmtQty } from "./markets.js";

const $ = (s) => document.querySelector(s);
const badge = (v) => h("span", { class: `badge ${v}` }, v);
// a price or a quantity at its market's precision (rows carry their symbol)
const price = (v, r) => (v === null || v === undefined ? "—" : `$${fmtPrice(v, bySymbol.get(r.symbol))}`);
const qty = (v, r) => fmtQty(v, bySymbol.get(r.symbol));
const KINDS = {
  orders: {
    path: "orders?limit=25",
    cols: [["created_at", "Time (UTC)", time], ["symbol", "Market"], ["side", "Side", badge], ["type", "Type"],
      ["status", "Status", badge], ["qty", "Qty", qty, "num"], ["limit_price", "Limit", price, "num"],
      ["stop_price", "Stop", price, "num"], ["time_in_force", "TIF", (v) => (v || "").toUpperCase() || "—"],
      ["notional", "Notional", (v) => usd(v), "num"], ["filled_qty", "Filled", qty, "num"],
      ["filled_avg_price", "Avg price", price, "num"], ["held", "Held", (v, r) => (Number(v) ? `${dec(v, r.held_asset === "USD" ? 2 : 3)} ${r.held_asset}` : "—"), "num"],
      ["fee", "Fee", (v) => usd(v, 4), "num"], ["client_order_id", "Client id"]],
  },
  fills: {
    path: "trades?limit=25",
    cols: [["created_at", "Time (UTC)", time], ["symbol", "Market"], ["side", "Side", badge], ["qty", "Qty", qty, "num"],
      ["price", "Price", price, "num"], ["notional", "Notional", (v) => usd(v), "num"],
      ["fee", "Fee", (v) => usd(v, 4), "num"], ["liquidity", "Liquidity"], ["order_id", "Order"]],
  },
  ledger: {
    path: "ledger?limit=25",
    cols: [["created_at", "Time (UTC)", time], ["reason", "Reason"], ["asset", "Asset"], ["bucket", "Bucket"],
      ["amount", "Amount", (v) => h("span", { class: signClass(v) }, dec(v, 6, { sign: true })), "num"],
      ["reference_type", "Ref."], ["reference_id", "Ref. id"], ["memo", "Memo"]],
  },
  positions: {
    path: null, // two statuses, merged per page
    cols: [["closed_at", "Closed (UTC)", time], ["side", "Side", badge], ["status", "Status", badge],
      ["leverage", "Lev.", (v) => `${dec(v, 0)}×`, "num"], ["initial_qty", "Qty (SOL)", (v) => dec(v, 3), "num"],
      ["entry_price", "Entry", (v) => usd(v, 3), "num"], ["exit_price", "Exit", (v) => usd(v, 3), "num"],
      ["liquidation_price", "Liq. price", (v) => usd(v), "num"], ["fees_paid", "Fees", (v) => usd(v, 4), "num"],
      ["realized_pnl", "Realized PnL", (v) => h("span", { class: signClass(v) }, usd(v, 2, { sign: true })), "num"]],
  },
};

let kind = "orders";
let current = null; // {results, next, previous}
let pageNo = 1;

async function fetchPage(url) {
  if (kind !== "positions") return api(url);
  // closed and liquidated are two filters of one list; show them together, newest first
  const [closed, liquidated] = await Promise.all([api("positions?status=closed&limit=100"), api("positions?status=liquidated&limit=100")]);
  const all = [...(closed.results || closed), ...(liquidated.results || liquidated)];
  all.sort((a, b) => Date.parse(b.closed_at) - Date.parse(a.closed_at));
  return { results: all, next: null, previous: null };
}

function render() {
  const spec = KINDS[kind];
  $('[data-testid="history-table"] thead').replaceChildren(
    h("tr", {}, spec.cols.map(([, label, , cls]) => h("th", { class: cls || null }, label))));
  rows($('[data-testid="history-table"] tbody'), current.results, (r) =>
    h("tr", {}, spec.cols.map(([key, , fmt, cls]) => h("td", { class: cls || null }, fmt ? fmt(r[key], r) : r[key] ?? "—"))),
  "Nothing here yet.", spec.cols.length);
  $('[data-testid="next"]').disabled = !current.next;
  $('[data-testid="prev"]').disabled = !current.previous;
  $('[data-testid="page-info"]').textContent = `Page ${pageNo} · ${current.results.length} rows`;
}

async function load(url, delta = 0) {
  try {
    current = await fetchPage(url);
    pageNo = delta ? pageNo + delta : 1;
    render();
  } catch (err) {
    if (!handleAuthError(err)) toast(friendly(err), "err");
  }
}

function select(tab, focus = false) {
  document.querySelectorAll("[role=tab]").forEach((t) => {
    t.setAttribute("aria-selected", String(t === tab));
    t.tabIndex = t === tab ? 0 : -1;
  });
  if (focus) tab.focus();
  kind = tab.dataset.kind;
  history.replaceState(null, "", `#${kind}`);
  load(KINDS[kind].path);
}
const tabs = [...document.querySelectorAll("[role=tab]")];
tabs.forEach((t, i) => {
  t.addEventListener("click", () => select(t));
  t.addEventListener("keydown", (ev) => {
    const d = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    if (d) { ev.preventDefault(); select(tabs[(i + d + tabs.length) % tabs.length], true); }
  });
});
$('[data-testid="next"]').addEventListener("click", () => current.next && load(current.next, 1));
$('[data-testid="prev"]').addEventListener("click", () => current.previous && load(current.previous, -1));

$('[data-testid="export-csv"]').addEventListener("click", async () => {
  // every page of the current tab (bounded), oldest last, as the API returns them
  const items = [...current.results];
  let next = current.next;
  for (let i = 0; next && i < 200; i += 1) {
    const page = await api(next);
    items.push(...page.results);
    next = page.next;
  }
  download(`${kind}.csv`, toCsv(items, KINDS[kind].cols.map(([key]) => key).concat(["id"])));
});

app.stream.on("order_fill", () => pageNo === 1 && kind !== "positions" && load(KINDS[kind].path));
// resting orders: placed, ended or replaced elsewhere (another tab, a bot, the trigger engine)
for (const t of ["order_accepted", "order_canceled", "order_expired", "order_replaced", "order_rejected"]) {
  app.stream.on(t, () => pageNo === 1 && (kind === "orders" || kind === "ledger") && load(KINDS[kind].path));
}
app.stream.on("position_liquidated", () => kind === "positions" && load(null));
app.start();
const initial = tabs.find((t) => `#${t.dataset.kind}` === location.hash) || tabs[0];
select(initial);
document.body.dataset.ready = "1";
