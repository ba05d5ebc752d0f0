// Copy the pinned npm packages the pages import into static/vendor/ (generated, gitignored).
// Run by `npm run build` (make assets / make install). No bundler: each file is a self-contained ES module.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "static", "vendor");
const files = {
  "lightweight-charts.mjs": "lightweight-charts/dist/lightweight-charts.standalone.production.mjs",
  "ed25519.mjs": "@noble/ed25519/index.js",
  "scure-base.mjs": "@scure/base/index.js",
};

mkdirSync(out, { recursive: true });
const versions = {};
for (const [name, source] of Object.entries(files)) {
  const pkg = source.startsWith("@") ? source.split("/").slice(0, 2).join("/") : source.split("/")[0];
  versions[pkg] = JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8")).version;
  copyFileSync(join(root, "node_modules", source), join(out, name));
  console.log(`static/vendor/${name} <- ${pkg}@${versions[pkg]}`);
}
