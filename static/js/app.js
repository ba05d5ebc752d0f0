// Shared page chrome: config, the live stream, header price + connection state, the price-feed
// banner, toasts and sign-out. Every page module imports { app } from here.

import { api, friendly } from "./api.js";
import { Stream } from "./stream.js";
import { ageSeconds, h } from "./format.js";
import { currentMarket, fmtPrice } from "./markets.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const signedIn = document.body.dataset.signedIn === "1";
// The page's market (the trade page's choice, else the default): the header price and the price
// stream follow its token index only (the WebSocket `prices` subscription's `symbols`).
const market = currentMarket();
const indexSymbol = market?.index_symbol || "SOL-USD";
const stream = new Stream({ path: config.ws_path, channels: signedIn ? ["prices", "account"] : ["prices"], symbols: [indexSymbol] });

let lastPrice = null; // last price_update data (or /market/price answer)
let priceError = null;

export function toast(text, kind = "ok") {
  const el = h("div", { class: `toast ${kind === "err" ? "err" : ""}`, role: kind === "err" ? "alert" : "status" }, text);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "err" ? 8000 : 5000);
}

function renderBanner() {
  const banner = document.querySelector('[data-testid="price-banner"]');
  let text = "";
  let cls = "banner banner-warn";
  if (priceError) {
    text = `Price feed unavailable: ${priceError}. Trading is paused until it recovers.`;
    cls = "banner banner-down";
  } else if (lastPrice) {
    const age = ageSeconds(lastPrice.computed_at);
    if (age !== null && age > config.price_stale_seconds) {
      text = `Price feed is stale: last update ${Math.round(age)} s ago. Orders are refused until it recovers.`;
      cls = "banner banner-down";
    } else if (lastPrice.mode === "replay") {
      text = `Replayed prices (${(lastPrice.sources || []).join(", ")}): not the live market.`;
    } else if (lastPrice.mode === "synthetic") {
      text = `Synthetic prices (${(lastPrice.sources || []).join(", ")}): a simulated random walk, not the live market.`;
    }
  }
  banner.className = cls;
  banner.textContent = text;
  banner.hidden = !text;
  banner.dataset.mode = lastPrice?.mode || "";
}

function setPrice(data) {
  if (data.symbol && data.symbol !== indexSymbol) return; // another token's index
  if (lastPrice && Date.parse(data.computed_at) < Date.parse(lastPrice.computed_at)) return;
  lastPrice = data;
  priceError = null;
  const el = document.querySelector('[data-bind="top-price"]');
  if (el) el.textContent = `$${fmtPrice(data.price, market)}`;
  renderBanner();
}

async function loadPrice() {
  try {
    setPrice(await api(`market/price?symbol=${encodeURIComponent(indexSymbol)}`));
  } catch (err) {
    priceError = friendly(err);
    renderBanner();
  }
  return lastPrice;
}

stream.on("price_update", (f) => setPrice(f.data));
stream.on("state", (state) => {
  const el = document.querySelector('[data-testid="conn"]');
  el.dataset.state = state;
  el.querySelector("span").textContent = state;
});
stream.on("revoked", () => { location.href = `/signin/?next=${encodeURIComponent(location.pathname)}`; });
setInterval(renderBanner, 1000); // ages the banner while no tick arrives

document.addEventListener("click", async (ev) => {
  if (!ev.target.closest('[data-action="logout"]')) return;
  try { await api("auth/logout", { method: "POST" }); } catch { /* already gone */ }
  location.href = "/signin/";
});

/** Redirect to sign-in when an API call says the session is gone; returns true if it did. */
export function handleAuthError(err) {
  if (err && (err.code === "not_authenticated" || err.code === "authentication_failed")) {
    location.href = `/signin/?next=${encodeURIComponent(location.pathname)}`;
    return true;
  }
  return false;
}

/** Run fn at most once per `ms`, trailing call guaranteed. */
export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return (...args) => {
    const wait = last + ms - Date.now();
    if (wait <= 0) { last = Date.now(); fn(...args); return; }
    if (!timer) timer = setTimeout(() => { timer = null; last = Date.now(); fn(...args); }, wait);
  };
}

export const app = {
  config,
  market,
  indexSymbol,
  signedIn,
  stream,
  loadPrice,
  get price() { return lastPrice; },
  start() { stream.connect(); return loadPrice(); },
};
