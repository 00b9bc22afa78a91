#!/usr/bin/env bash
# The typed TypeScript client's tools (GraphQL Code Generator, TypeScript, graphql-ws) from npm, exactly
# as pinned by clients/typed/package-lock.json (npm ci, integrity-checked, no install scripts).
# Called by `make install-test`; skipped with a note where npm is absent (the test then skips, except
# under CI=true). Re-runs only when the lockfile changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/clients/typed"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-typed-client: npm not found; tests/clients will skip (fail under CI=true)" >&2
  exit 0
fi
STAMP="$DIR/node_modules/.mbf-lock-sha256"
HASH="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  exit 0
fi
echo "npm ci (clients/typed, pinned by package-lock.json)"
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$HASH" > "$STAMP"
