// Display helpers. Amounts arrive as decimal strings and are rounded as strings (no float maths);
// only estimates (labelled so on the page) are computed with numbers.

/** Round a decimal string half-up to `dp` places and group thousands: "12345.6789",2 -> "12,345.68". */
export function dec(value, dp = 2, { sign = false } = {}) {
  if (value === null || value === undefined || value === "") return "—";
  let s = String(value).trim();
  if (!/^-?\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    if (!Number.isFinite(n)) return "—";
    s = n.toFixed(Math.max(dp, 0) + 2);
  }
  let neg = s.startsWith("-");
  if (neg) s = s.slice(1);
  let [int, frac = ""] = s.split(".");
  frac = frac.padEnd(dp + 1, "0");
  let digits = (int + frac.slice(0, dp)).split("").map(Number);
  if (frac[dp] >= "5") {
    let i = digits.length - 1;
    while (i >= 0) { if (digits[i] === 9) { digits[i] = 0; i -= 1; } else { digits[i] += 1; break; } }
    if (i < 0) digits.unshift(1);
  }
  const all = digits.join("");
  int = all.slice(0, all.length - dp) || "0";
  frac = dp > 0 ? all.slice(all.length - dp) : "";
  int = int.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const zero = /^[0,]*$/.test(int) && /^0*$/.test(frac);
  const body = frac ? `${int}.${frac}` : int;
  return (neg && !zero ? "-" : sign && !zero ? "+" : "") + body;
}

export const usd = (v, dp = 2, opts = {}) => {
  const out = dec(v, dp, opts);
  if (out === "—") return out;
  return out.startsWith("-") ? `-$${out.slice(1)}` : out.startsWith("+") ? `+$${out.slice(1)}` : `$${out}`;
};
export const sol = (v, dp = 3) => `${dec(v, dp)} SOL`;
export const pct = (ratio, dp = 2, opts = { sign: true }) =>
  ratio === null || ratio === undefined ? "—" : `${dec(String(Number(ratio) * 100), dp, opts)}%`;

export function signClass(v) {
  const s = String(v ?? "");
  if (!s || /^[-+]?0*(\.0*)?$/.test(s)) return "";
  return s.startsWith("-") ? "down" : "up";
}

export function shortAddr(a) {
  return a && a.length > 10 ? `${a.slice(0, 4)}…${a.slice(-4)}` : a || "";
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").slice(0, 19);
}

export function ageSeconds(iso) {
  return iso ? Math.max(0, (Date.now() - Date.parse(iso)) / 1000) : null;
}

export function ago(iso) {
  const s = ageSeconds(iso);
  if (s === null) return "—";
  if (s < 1) return "just now";
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** Build an element: h("td", {class: "num"}, "1.00"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function rows(tbody, items, render, emptyText = "Nothing yet.", cols = 6) {
  tbody.replaceChildren(...(items.length ? items.map(render) : [h("tr", { class: "empty" }, h("td", { colspan: cols }, emptyText))]));
}

/** A cell a spreadsheet will not run as a formula: text starting with = + - @ TAB CR gets a leading
 *  ' unless it is a plain decimal (-12.5 stays a number). Same rule as config/csv_export.py. */
export function spreadsheetSafe(s) {
  return /^[=+\-@\t\r]/.test(s) && !/^[+-]?[0-9]+(\.[0-9]+)?$/.test(s) ? `'${s}` : s;
}

export function toCsv(items, columns) {
  const esc = (v) => {
    const s = spreadsheetSafe(v === null || v === undefined ? "" : String(v));
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(","), ...items.map((r) => columns.map((c) => esc(r[c])).join(","))].join("\n") + "\n";
}

export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Exact sum of decimal strings (BigInt at `scale` places), as a decimal string. */
export function decSum(values, scale = 9) {
  let total = 0n;
  for (const v of values) {
    if (v === null || v === undefined || v === "") continue;
    const s = String(v);
    const [i, f = ""] = s.replace(/^[-+]/, "").split(".");
    const n = BigInt(i + f.padEnd(scale, "0").slice(0, scale));
    total += s.startsWith("-") ? -n : n;
  }
  const neg = total < 0n;
  const digits = (neg ? -total : total).toString().padStart(scale + 1, "0");
  return `${neg ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

const DECIMAL = /^\d+(\.\d+)?$/;
/** A plain non-negative decimal string ("95", "0.5"; no sign, exponent or grouping)? */
export const isDecimal = (v) => DECIMAL.test(String(v ?? "").trim());

function scaled(v) {
  const [i, f = ""] = String(v).trim().split(".");
  return { n: BigInt(i + f), scale: f.length };
}

/** 1 + bps/10^4 as an exact decimal string ("10" -> "1.0010"). */
export function bpsFactor(bps) {
  const x = scaled(bps);
  const scale = 4 + x.scale;
  const n = 10n ** BigInt(scale) + x.n;
  return `${n / 10n ** BigInt(scale)}.${(n % 10n ** BigInt(scale)).toString().padStart(scale, "0")}`;
}

/** Exact product of non-negative decimal strings, rounded up to `dp` places (what a trader pays:
 *  the server's ROUND_UP, e.g. a hold in micro-dollars); null if any is not a plain decimal. */
export function decProductUp(values, dp = 6) {
  if (!values.every(isDecimal)) return null;
  let n = 1n;
  let scale = 0;
  for (const v of values) { const x = scaled(v); n *= x.n; scale += x.scale; }
  if (scale > dp) {
    const d = 10n ** BigInt(scale - dp);
    n = n / d + (n % d ? 1n : 0n);
  } else n *= 10n ** BigInt(dp - scale);
  const digits = n.toString().padStart(dp + 1, "0");
  return dp ? `${digits.slice(0, -dp)}.${digits.slice(-dp)}` : digits;
}

/** A Date as a datetime-local input's value (the browser's local time, to the minute). */
export function localInputValue(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** A datetime-local input's value as an RFC 3339 UTC time (null when empty or invalid). */
export function isoFromLocal(value) {
  if (!value) return null;
  const t = new Date(value); // a date-time without offset is local time
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}
