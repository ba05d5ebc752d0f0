// JSON API client: same-origin cookie session, CSRF header on unsafe methods,
// every error turned into an ApiError carrying the API's stable {code, message, extra}.

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status === 0 ? "network_error" : "http_error");
    this.extra = (body && body.extra) || {};
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
}

export function csrfToken() {
  const hit = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return hit ? decodeURIComponent(hit.slice("csrftoken=".length)) : "";
}

/** Fetch `/api/v1/<path>` (or an absolute URL, e.g. a cursor `next` link) and return its JSON. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const url = /^https?:/.test(path) ? path : `/api/v1/${path}`;
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { code: "network_error", message: "Network error: the server could not be reached." });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  return data;
}

const FIELD_NAMES = {
  type: "Order type", qty: "Quantity", notional: "Amount (USD)", margin: "Margin", leverage: "Leverage", limit_price: "Limit price",
  stop_price: "Stop price", time_in_force: "Time in force", expire_at: "Expiry", post_only: "Post only",
  take_profit_price: "Take profit", stop_loss_price: "Stop loss",
};

/** A message a trader understands, from the API's stable error code. */
export function friendly(err) {
  if (!(err instanceof ApiError)) return String((err && err.message) || err);
  const x = err.extra || {};
  switch (err.code) {
    case "insufficient_funds":
      return `Not enough ${x.asset || "funds"}: ${x.available ?? "?"} available, ${x.required ?? "?"} needed.`;
    case "price_unavailable":
      return "No live price right now, so trading is paused. Try again in a few seconds.";
    case "price_stale":
      return `The price feed is stale (${x.age_seconds ? Math.round(x.age_seconds) + " s old" : "too old"}); trading is paused until it recovers.`;
    case "qty_below_min": return `Quantity is below the minimum${x.min_qty ? ` of ${x.min_qty}` : ""}${x.symbol ? ` on ${x.symbol}` : ""}.`;
    case "qty_off_step": return `Quantity must be a multiple of ${x.step || x.qty_step || "the lot step"}${x.symbol ? ` on ${x.symbol}` : ""}.`;
    case "price_off_tick": return `Price must be a multiple of ${x.price_tick || x.tick || "the price tick"}${x.symbol ? ` on ${x.symbol}` : ""}.`;
    case "market_halted": return `${x.symbol || "This market"} is halted: no new orders or positions (closing stays open).`;
    case "market_not_found": return `No such market${x.symbol ? `: ${x.symbol}` : ""}.`;
    case "market_kind_mismatch": return `${x.symbol || "This market"} is a ${x.kind || "different"} market: use the ${x.kind === "perp" ? "Leverage" : "Spot"} ticket.`;
    case "notional_below_min": return `Order value is below the minimum${x.min_notional ? ` of $${x.min_notional}` : ""}.`;
    case "notional_above_max": return `Order value is above the maximum${x.max_notional ? ` of $${x.max_notional}` : ""}.`;
    case "idempotency_key_reused": return "This order was already sent with different details; please submit again.";
    case "not_authenticated": case "authentication_failed": return "Your session has ended. Sign in again.";
    case "csrf_failed": return "Your session token is out of date: reload the page and try again.";
    case "rate_limited": return `Too many requests; wait ${x.retry_after || err.retryAfter || "a few"} seconds.`;
    case "reset_blocked": return "Close your open positions (or wait for locked funds) before resetting the account.";
    case "position_not_open": return "That position is no longer open (closed or liquidated).";
    case "qty_exceeds_position": return `You can close at most ${x.position_qty ?? x.available ?? "the position's"} SOL.`;
    case "close_leaves_dust": return `That would leave less than ${x.min_qty || "the minimum"} SOL open: close all, or less.`;
    case "lock_timeout": return "Your account is busy (a liquidation or another order holds it); nothing was done. Try again.";
    case "slippage_exceeded": return "The price moved too far while executing; try again.";
    case "order_rule_violation": return err.message;
    case "leverage_too_high": case "leverage_out_of_range": return `Leverage must be between 1× and ${x.max_leverage || x.max || "the maximum"}×.`;
    case "margin_below_min": return `Margin is below the minimum${x.min_margin ? ` of $${x.min_margin}` : ""}.`;
    case "not_found": return "Not found (it may belong to another account).";
    case "would_take": return "Post-only: this limit would fill at once against the market, so it was refused.";
    case "price_out_of_band": return `The price must be within ${x.band_pct ?? "the band"}% of the index${x.index_price ? ` ($${x.index_price})` : ""}.`;
    case "too_many_open_orders": return `Too many open orders${x.max_open_orders || x.max ? ` (at most ${x.max_open_orders || x.max})` : ""}: cancel some first.`;
    case "not_cancelable": return `That order is no longer open${x.status ? ` (${x.status})` : ""}: nothing to cancel.`;
    case "not_replaceable": return `That order is no longer open${x.status ? ` (${x.status})` : ""}: it cannot be edited.`;
    case "validation_error": {
      const fields = x.fields || {};
      const parts = Object.entries(fields).map(([name, errs]) => {
        const first = Array.isArray(errs) ? errs[0] : errs;
        return `${FIELD_NAMES[name] || name}: ${(first && first.message) || first}`;
      });
      return parts.length ? parts.join(" · ") : err.message;
    }
    case "network_error": return err.message;
    default: return err.message || `Request failed (${err.code}).`;
  }
}

export function newClientOrderId(prefix = "web") {
  return `${prefix}-${crypto.randomUUID()}`;
}
