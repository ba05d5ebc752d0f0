// Wallets: the Solana Wallet Standard (Phantom, Solflare, Backpack...) and a browser burner key.
// Sign-in: solana:signIn (SIWS) when the wallet offers it, else signMessage on the server's message.

import * as ed from "../vendor/ed25519.mjs";
import { base58 } from "../vendor/scure-base.mjs";
import { api } from "./api.js";

const BURNER_KEY = "solpaper.burner.v1";
const enc = new TextEncoder();

// --- Wallet Standard discovery (the app side of @wallet-standard/app's protocol) ------------------
const registered = new Set();
const listeners = new Set();
function register(...wallets) {
  wallets.forEach((w) => registered.add(w));
  listeners.forEach((fn) => fn());
  return () => { wallets.forEach((w) => registered.delete(w)); listeners.forEach((fn) => fn()); };
}
const api_ = Object.freeze({ register });
window.addEventListener("wallet-standard:register-wallet", ({ detail: callback }) => callback(api_));
try { window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: api_ })); } catch { /* ignore */ }

function isSolanaWallet(w) {
  const f = w.features || {};
  return (w.chains || []).some((c) => c.startsWith("solana:")) &&
    (f["solana:signIn"] || (f["standard:connect"] && f["solana:signMessage"]));
}

export function detectedWallets() { return [...registered].filter(isSolanaWallet); }
export function onWalletsChanged(fn) { listeners.add(fn); return () => listeners.delete(fn); }

const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
const utf8 = (bytes) => new TextDecoder().decode(bytes);

async function verify(message, signatureBytes, publicKey) {
  return api("auth/verify", {
    method: "POST",
    body: { message, signature: base58.encode(signatureBytes), public_key: publicKey },
  });
}

/** Sign in with a Wallet Standard wallet. Returns the verify answer. */
export async function signInWithWallet(wallet) {
  const f = wallet.features;
  if (f["solana:signIn"]) {
    const n = await api("auth/nonce", { method: "POST", body: {} });
    const input = {
      domain: n.domain, uri: n.uri, statement: n.statement, version: n.version, chainId: n.chain_id,
      nonce: n.nonce, issuedAt: n.issued_at, expirationTime: n.expiration_time,
    };
    const [out] = await f["solana:signIn"].signIn(input);
    return verify(utf8(out.signedMessage), out.signature, out.account.address);
  }
  const { accounts } = await f["standard:connect"].connect();
  const account = accounts[0];
  if (!account) throw new Error("The wallet shared no account.");
  const n = await api("auth/nonce", { method: "POST", body: { address: account.address } });
  const [out] = await f["solana:signMessage"].signMessage({ account, message: enc.encode(n.message) });
  return verify(n.message, out.signature, account.address);
}

// --- Burner wallet ------------------------------------------------------------------------------
// Stored as the solana-keygen JSON format: 64 numbers, the 32-byte seed then the 32-byte public key.

export async function burnerFromSecret(bytes) {
  const arr = Uint8Array.from(bytes);
  if (arr.length !== 64 || arr.some((b) => b < 0 || b > 255)) throw new Error("A keypair file is a JSON array of 64 bytes.");
  const seed = arr.slice(0, 32);
  const pub = await ed.getPublicKeyAsync(seed);
  if (base58.encode(pub) !== base58.encode(arr.slice(32))) throw new Error("The public key does not match the secret key.");
  return { seed, publicKey: pub, address: base58.encode(pub), keypair: Array.from(arr) };
}

export async function burnerLoad() {
  const raw = localStorage.getItem(BURNER_KEY);
  if (!raw) return null;
  try { return await burnerFromSecret(JSON.parse(raw)); } catch { return null; }
}

export async function burnerCreate() {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const pub = await ed.getPublicKeyAsync(seed);
  const keypair = [...seed, ...pub];
  localStorage.setItem(BURNER_KEY, JSON.stringify(keypair));
  return burnerFromSecret(keypair);
}

export async function burnerImport(text) {
  const burner = await burnerFromSecret(JSON.parse(text));
  localStorage.setItem(BURNER_KEY, JSON.stringify(burner.keypair));
  return burner;
}

export function burnerForget() { localStorage.removeItem(BURNER_KEY); }

export function burnerExportJson(burner) { return JSON.stringify(burner.keypair); }

export async function signInWithBurner(burner) {
  const n = await api("auth/nonce", { method: "POST", body: { address: burner.address } });
  const signature = await ed.signAsync(enc.encode(n.message), burner.seed);
  return verify(n.message, signature, burner.address);
}

export { b64 };
