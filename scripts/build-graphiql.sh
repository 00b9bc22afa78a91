#!/usr/bin/env bash
# Install GraphiQL's browser assets from npm and lay them out for this server (no CDN, works air-gapped).
#
#   web/graphiql/package.json + package-lock.json   exact versions, every package integrity-checked by `npm ci`
#   web/graphiql/index.html                          page template (build-time @@SRI_*@@ filled in here;
#                                                    __GRAPHQL_ENDPOINT__ and __STATIC__ filled in per request)
#   web/graphiql/mbf-graphiql.{js,css}               our bootstrap: token box, fetcher, WebSocket auth
#   -> app/http/static/graphiql/                     what the server serves at /static/graphiql (gitignored)
#
# Idempotent: when the inputs are unchanged since the last build it only checks and exits (well under a
# second). Set MBF_GRAPHIQL_FORCE=1 to rebuild anyway. Needs node + npm; nothing else from the network.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/web/graphiql"
OUT="$ROOT/app/http/static/graphiql"
NM="$SRC/node_modules"

command -v npm >/dev/null 2>&1 || { echo "build-graphiql: npm not found (install Node.js 18+ with npm)" >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "build-graphiql: node not found" >&2; exit 1; }

hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

INPUTS=("$SRC/package.json" "$SRC/package-lock.json" "$SRC/index.html" "$SRC/mbf-graphiql.js" "$SRC/mbf-graphiql.css"
        "${BASH_SOURCE[0]}")
STAMP="$(hash_files "${INPUTS[@]}")"
FILES=(index.html graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js
       mbf-graphiql.js mbf-graphiql.css)

up_to_date() {
  [[ "${MBF_GRAPHIQL_FORCE:-0}" != "1" && -f "$OUT/.build-stamp" && "$(cat "$OUT/.build-stamp")" == "$STAMP" ]] || return 1
  local f
  for f in "${FILES[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
}

if up_to_date; then
  echo "GraphiQL assets up to date in ${OUT#"$ROOT"/}"
  exit 0
fi

# 1. Exactly the locked packages, integrity-checked, no install scripts. Skipped when node_modules already
#    holds what this lockfile pins (npm ci would only delete and re-download the same files).
LOCK_HASH="$(hash_files "$SRC/package-lock.json")"
if [[ "${MBF_GRAPHIQL_FORCE:-0}" == "1" || ! -f "$NM/.mbf-lock-sha256" || "$(cat "$NM/.mbf-lock-sha256")" != "$LOCK_HASH" ]]; then
  echo "npm ci (web/graphiql, pinned by package-lock.json)"
  (cd "$SRC" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$LOCK_HASH" > "$NM/.mbf-lock-sha256"
fi

# 2. Copy only what the page loads into a fresh directory, then swap it in (a running server never sees a
#    half-written set).
mkdir -p "$(dirname "$OUT")"
TMP="$(mktemp -d "$(dirname "$OUT")/.graphiql.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# The UMD bundle already contains graphql, @graphiql/toolkit and graphql-ws (used for subscriptions);
# its trailing source-map comment points at a file the package does not ship, so drop it.
sed -e '/^\/\/# sourceMappingURL=/d' "$NM/graphiql/graphiql.min.js" > "$TMP/graphiql.min.js"
sed -e '/^\/\*# sourceMappingURL=.*\*\/$/d' "$NM/graphiql/graphiql.min.css" > "$TMP/graphiql.min.css"
cp "$NM/react/umd/react.production.min.js" "$NM/react-dom/umd/react-dom.production.min.js" "$TMP/"
cp "$SRC/mbf-graphiql.js" "$SRC/mbf-graphiql.css" "$TMP/"
mkdir "$TMP/licenses"
for pkg in graphiql react react-dom; do cp "$NM/$pkg/LICENSE" "$TMP/licenses/$pkg.LICENSE"; done

# 3. The page: template + Subresource Integrity hashes of the files just copied.
node - "$SRC/index.html" "$TMP" <<'JS'
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const [template, dir] = process.argv.slice(2);
const sri = (name) =>
  "sha384-" + crypto.createHash("sha384").update(fs.readFileSync(path.join(dir, name))).digest("base64");
const values = {
  SRI_GRAPHIQL_CSS: sri("graphiql.min.css"),
  SRI_GRAPHIQL_JS: sri("graphiql.min.js"),
  SRI_REACT: sri("react.production.min.js"),
  SRI_REACT_DOM: sri("react-dom.production.min.js"),
  SRI_MBF_JS: sri("mbf-graphiql.js"),
  SRI_MBF_CSS: sri("mbf-graphiql.css"),
};
let page = fs.readFileSync(template, "utf8").replace(/@@([A-Z_]+)@@/g, (m, key) => {
  if (!(key in values)) throw new Error(`unknown placeholder ${m} in ${template}`);
  return values[key];
});
if (/\bhttps?:\/\//i.test(page.replace(/<!--[\s\S]*?-->/g, ""))) throw new Error("the page template must not reference remote URLs");
fs.writeFileSync(path.join(dir, "index.html"), page);
JS

VERSIONS="$(cd "$NM" && node -e 'for (const p of ["graphiql", "react", "react-dom"]) process.stdout.write(p + "@" + require("./" + p + "/package.json").version + " ")')"
echo "$STAMP" > "$TMP/.build-stamp"
chmod -R a+rX "$TMP"

OLD="$(dirname "$OUT")/.graphiql.old.$$"
[[ -e "$OUT" ]] && mv "$OUT" "$OLD"
mv "$TMP" "$OUT"
trap - EXIT
rm -rf "$OLD"
echo "GraphiQL assets installed in ${OUT#"$ROOT"/}: ${VERSIONS% }"
