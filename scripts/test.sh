#!/usr/bin/env bash
# `make test`: lint, then every test on the real local stack. Starts the stack when it is
# not running and stops it afterwards; a stack that was already up is left up.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

started=0
if ! scripts/stack.sh status >/dev/null 2>&1; then
  started=1
fi
cleanup() {
  if [ "$started" = 1 ]; then scripts/stack.sh down || true; fi
}
trap cleanup EXIT

echo "== lint"
make --no-print-directory lint  # the same checks as `make lint`, listed once there

echo "== local stack"
time scripts/stack.sh up

echo "== browser tools (Debian's chromium, axe-core)"
scripts/browser.sh install

echo "== tests"
"$BIN/pytest" tests "$@"
