// Status page: readiness checks, aggregated price, each source's health; refreshed every 5 s.
import { api, friendly } from "./api.js";
import { app } from "./app.js";
import { ago, dec, h, rows, time, usd } from "./format.js";

const $ = (s) => document.querySelector(s);
const set = (id, v) => ($(`[data-testid="${id}"]`).textContent = v);
const badge = (v) => h("span", { class: `badge ${v}` }, v);

async function loadReady() {
  let body;
  let ok;
  try {
    const res = await fetch("/readyz", { headers: { Accept: "application/json" } });
    ok = res.ok;
    body = await res.json();
  } catch {
    set("ready", "unreachable");
    return;
  }
  set("ready", ok ? "ready" : "not ready");
  $('[data-testid="ready"]').className = ok ? "up" : "down";
  const checks = body.checks || body;
  const items = Object.entries(checks).filter(([, v]) => v && typeof v === "object");
  rows($('[data-testid="checks-table"] tbody'), items, ([name, c]) => h("tr", {},
    h("td", {}, name),
    h("td", {}, badge(c.ok === false || c.status === "error" || c.status === "fail" ? "error" : c.status || (c.ok ? "ok" : "error"))),
    h("td", { class: "muted" }, Object.entries(c).filter(([k]) => !["ok", "status"].includes(k)).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · "))),
  "No checks reported.", 3);
}

async function loadSources() {
  try {
    const s = await api("market/sources");
    set("status-mode", s.mode);
    const used = s.last_cycle?.sources ? Object.values(s.last_cycle.sources).filter((x) => x.status === "ok").length : "—";
    set("status-quorum", `${used} / ${s.quorum}`);
    $('[data-testid="last-cycle"]').textContent = s.last_cycle ? `Last cycle ${ago(s.last_cycle.at)}: ${s.last_cycle.ok ? "ok" : s.last_cycle.reason || "failed"}` : "No ingest cycle yet.";
    rows($('[data-testid="sources-table"] tbody'), s.sources, (x) => h("tr", { dataset: { source: x.name } },
      h("td", {}, x.name),
      h("td", {}, badge(x.status)),
      h("td", { class: "num" }, x.last_price ? usd(x.last_price, 4) : "—"),
      h("td", {}, x.last_quote || "—"),
      h("td", { class: "num" }, x.last_latency_ms != null ? `${x.last_latency_ms} ms` : "—"),
      h("td", {}, x.last_success_at ? ago(x.last_success_at) : "never"),
      h("td", { class: "muted", title: x.last_error || "" }, x.last_error ? `${time(x.last_error_at)} ${x.last_error.slice(0, 60)}` : "—"),
      h("td", { class: "num" }, `${x.successes} / ${x.failures}`)),
    "No source has reported yet (offline modes use none).", 8);
  } catch (err) {
    set("status-mode", friendly(err));
  }
}

function showPrice(p) {
  if (!p) return;
  set("status-price", `$${dec(p.price, 4)}`);
  $('[data-testid="status-age"]').dataset.at = p.computed_at;
}
setInterval(() => { const at = $('[data-testid="status-age"]').dataset.at; if (at) set("status-age", ago(at)); }, 1000);
app.stream.on("price_update", (f) => showPrice(f.data));
const price = await app.start();
if (!price) set("status-price", "unavailable");
showPrice(price);
await Promise.all([loadReady(), loadSources()]);
setInterval(() => { loadReady(); loadSources(); }, 5000);
document.body.dataset.ready = "1";
