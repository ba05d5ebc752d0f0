// Sign-in page: detected wallets and the burner wallet.
import { friendly } from "./api.js";
import { app } from "./app.js";
import { download, h, shortAddr } from "./format.js";
import {
  burnerCreate, burnerExportJson, burnerForget, burnerImport, burnerLoad, detectedWallets,
  onWalletsChanged, signInWithBurner, signInWithWallet,
} from "./wallet.js";

const $ = (s) => document.querySelector(s);
const next = $("#signin").dataset.next || "/trade/";
const msg = $('[data-testid="signin-msg"]');
let burner = null;

function say(text, ok = false) {
  msg.hidden = !text;
  msg.className = `form-msg ${ok ? "ok" : "err"}`;
  msg.textContent = text;
}

async function run(label, fn) {
  say("");
  document.querySelectorAll("#signin button").forEach((b) => (b.disabled = true));
  try {
    await fn();
    say(`Signed in with ${label}. Redirecting…`, true);
    location.assign(next);
  } catch (err) {
    say(err && err.name === "WalletSignInError" ? err.message : `Sign-in failed: ${friendly(err)}`);
    document.querySelectorAll("#signin button").forEach((b) => (b.disabled = false));
  }
}

function renderWallets() {
  const list = $('[data-testid="wallet-list"]');
  const wallets = detectedWallets();
  list.replaceChildren(
    ...wallets.map((w) =>
      h("button", { type: "button", class: "btn wallet-btn", onclick: () => run(w.name, () => signInWithWallet(w)) },
        w.icon ? h("img", { src: w.icon, alt: "" }) : null, h("span", {}, w.name),
        h("span", { class: "muted" }, w.features["solana:signIn"] ? "Sign in with Solana" : "sign message")),
    ),
  );
  $('[data-testid="no-wallets"]').hidden = wallets.length > 0;
}

function renderBurner() {
  $('[data-testid="burner-address"]').textContent = burner ? burner.address : "none yet";
  $('[data-testid="burner-address"]').title = burner ? burner.address : "";
  $('[data-action="burner-signin"]').textContent = burner ? `Sign in as ${shortAddr(burner.address)}` : "Create burner wallet & sign in";
  $('[data-action="burner-export"]').disabled = !burner;
  $('[data-action="burner-forget"]').disabled = !burner;
}

$('[data-action="burner-signin"]').addEventListener("click", () =>
  run("the burner wallet", async () => {
    if (!burner) { burner = await burnerCreate(); renderBurner(); }
    await signInWithBurner(burner);
  }),
);
$('[data-action="burner-export"]').addEventListener("click", () => {
  const json = burnerExportJson(burner);
  $('[data-testid="burner-export"]').value = json;
  $('[data-testid="burner-export-box"]').hidden = false;
  download(`solpaper-burner-${burner.address.slice(0, 8)}.json`, json, "application/json");
});
$('[data-action="burner-forget"]').addEventListener("click", () => {
  if (!confirm("Forget this burner key? Without an exported copy its account cannot be used again.")) return;
  burnerForget();
  burner = null;
  renderBurner();
});
$('[data-action="burner-import"]').addEventListener("click", async () => {
  try {
    burner = await burnerImport($('[data-testid="burner-import"]').value.trim());
    renderBurner();
    say(`Imported ${shortAddr(burner.address)}.`, true);
  } catch (err) {
    say(`Import failed: ${err.message}`);
  }
});

onWalletsChanged(renderWallets);
renderWallets();
burner = await burnerLoad();
renderBurner();
app.start();
