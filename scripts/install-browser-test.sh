#!/usr/bin/env bash
# The browser test's npm packages (tests/browser: playwright-core drives Debian's chromium, graphql-ws is the
# client its page loads), exactly as tests/browser/package-lock.json pins them, integrity-checked by `npm ci`,
# no install scripts (playwright-core downloads no browser: the test uses /usr/bin/chromium, which
# scripts/install-test-tools.sh installs). Called by `make install-test`; skipped where npm is absent (the
# browser test then skips, except under CI=true where it fails). Idempotent: a second run only compares hashes.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/browser" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-browser-test: npm not found: the browser test will be skipped" >&2
  exit 0
fi
LOCK_HASH="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
STAMP="$DIR/node_modules/.mbf-lock-sha256"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$LOCK_HASH" ]]; then
  exit 0
fi
echo "npm ci (tests/browser, pinned by package-lock.json)"
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$LOCK_HASH" > "$STAMP"
