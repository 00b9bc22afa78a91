#!/usr/bin/env bash
# Debian tools the test suite drives as real processes, installed only when missing
# (called by `make install-test`, so a fresh CI machine skips nothing):
#   pdftotext      (poppler-utils)   report PDFs are read back as text
#   jq             (jq)              `mbf ... --json` is piped through jq
#   promtool       (prometheus)      deploy/prometheus/alerts.yml is checked by Prometheus's own parser
#   docker-compose (docker-compose)  deploy/compose/docker-compose.yml is checked with `docker-compose config`
#   pg_dump        (postgresql-client) `mbf backup`/`mbf restore` on PostgreSQL (pg_dump, pg_restore)
#   chromium       (chromium)        tests/frontend/test_browser.py: a real browser calls the API from another origin
set -euo pipefail

declare -A PACKAGE_OF=(
  [pdftotext]=poppler-utils
  [jq]=jq
  [promtool]=prometheus
  [docker-compose]=docker-compose
  [pg_dump]=postgresql-client
  [chromium]=chromium
)

missing=()
for tool in "${!PACKAGE_OF[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-test-tools: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-test-tools: installing ${missing[*]}" >&2
# The prometheus package ships a daemon: never start it during installation.
export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
