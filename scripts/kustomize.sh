#!/usr/bin/env bash
# Render a kustomization to stdout: `kubectl kustomize DIR` where kubectl is installed,
# else kustomize v5.8.2 built into $STACK_DIR/bin by `scripts/kustomize.sh --install`
# (go install; `make test` runs it). Rendering itself never reaches the network.
set -euo pipefail
VERSION=v5.8.2
STACK_DIR=${STACK_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.stack}
BIN="$STACK_DIR/bin/kustomize"

if [ "${1:-}" = "--install" ]; then
  if command -v kubectl >/dev/null 2>&1 || [ -x "$BIN" ]; then exit 0; fi
  command -v go >/dev/null 2>&1 || { echo "kustomize needs kubectl or Go to be installed" >&2; exit 1; }
  mkdir -p "$STACK_DIR/bin"
  GOBIN="$STACK_DIR/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$VERSION"
  exit 0
fi

[ $# -eq 1 ] || { echo "usage: $0 DIR | --install" >&2; exit 2; }
if command -v kubectl >/dev/null 2>&1; then
  exec kubectl kustomize "$1"
fi
[ -x "$BIN" ] || { echo "no kubectl and no $BIN: run scripts/kustomize.sh --install" >&2; exit 1; }
exec "$BIN" build "$1"
