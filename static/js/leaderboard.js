// Leaderboard: refreshed on price ticks (throttled) and on my own fills, highlighted row = me.
import { api, friendly } from "./api.js";
import { app, throttle } from "./app.js";
import { h, pct, rows, shortAddr, signClass, usd } from "./format.js";

const $ = (s) => document.querySelector(s);
const me = document.querySelector('[data-testid="account"]')?.title;
const myTrader = me ? shortAddr(me) : null;
let period = "all";
let metric = "equity";

async function load() {
  const tbody = $('[data-testid="leaderboard-table"] tbody');
  try {
    const data = await api(`leaderboard?period=${period}&metric=${metric}&limit=100`);
    rows(tbody, data.results, (r) => {
      const mine = myTrader && r.trader === myTrader.replace("…", "…");
      return h("tr", { class: mine ? "me" : null, dataset: { trader: r.trader } },
        h("td", { class: "num" }, String(r.rank)),
        h("td", { class: "mono" }, r.trader, mine ? h("span", { class: "badge ok", style: "margin-left:.4rem" }, "you") : null),
        h("td", { class: "num", "data-testid": "lb-equity" }, usd(r.equity)),
        h("td", { class: `num ${signClass(r.pnl)}` }, usd(r.pnl, 2, { sign: true })),
        h("td", { class: `num ${signClass(r.return)}` }, pct(r.return)),
        h("td", { class: "num", "data-testid": "lb-resets" }, String(r.resets ?? 0)));
    }, "No traders ranked yet.", 6);
    $('[data-testid="lb-updated"]').textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC.`;
  } catch (err) {
    rows(tbody, [], () => null, friendly(err), 6);
  }
}
const refresh = throttle(load, 3000);

for (const [attr, setter] of [["period", (v) => (period = v)], ["metric", (v) => (metric = v)]]) {
  document.querySelectorAll(`[data-${attr}]`).forEach((b) => b.addEventListener("click", () => {
    setter(b.dataset[attr]);
    document.querySelectorAll(`[data-${attr}]`).forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
    load();
  }));
}
app.stream.on("price_update", refresh);
// A fill re-ranks its trader at the ranking's next periodic update (every LEADERBOARD_UPDATE_SECONDS,
// 2 s by default): look again shortly, and once more past two intervals.
app.stream.on("order_fill", () => { refresh(); setTimeout(load, 1000); setTimeout(load, 3000); setTimeout(load, 6000); });
// A reset rewrites its trader's row before it answers: one look is enough.
app.stream.on("portfolio_update", refresh);
setInterval(() => document.visibilityState === "visible" && refresh(), 15000);
app.start();
await load();
document.body.dataset.ready = "1";
