#!/usr/bin/env bash
# LND's current gRPC definitions (lightning.proto, router.proto) for the compatibility test
# tests/lightning/test_lnd_definitions.py, taken from the npm package `lightning` (MIT), which ships
# them as LND publishes them. Pinned by version and by the registry's integrity hash; unpacked into
# .cache/lnd-protos/<version>/ (not committed). Called by `make install-test`; a no-op once present.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=12.5.0
INTEGRITY="sha512-vIdrpn+3jsSflKOzaIZmj0u3Co129iM9HWfzGfz9KtJQWVazWn7+j59a2ma10h8QhBx/l3cJxmaO/3/9Z/3vfA=="
DEST=".cache/lnd-protos/$VERSION"

[ -f "$DEST/lightning.proto" ] && [ -f "$DEST/router.proto" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "lnd-protos: npm not found; the LND definitions compatibility test will skip (not under CI=true)" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "lightning@$VERSION" --silent >/dev/null)
tarball="$tmp/lightning-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "lnd-protos: integrity mismatch for lightning@$VERSION: $actual" >&2
  exit 1
fi
tar xzf "$tarball" -C "$tmp" package/grpc/protos/lightning.proto package/grpc/protos/router.proto package/LICENSE
mkdir -p "$DEST"
cp "$tmp/package/grpc/protos/lightning.proto" "$tmp/package/grpc/protos/router.proto" "$DEST/"
cp "$tmp/package/LICENSE" "$DEST/LICENSE"
echo "lnd-protos: LND definitions from lightning@$VERSION in $DEST" >&2
