#!/usr/bin/env bash
# Lint the explorers' hand-written JavaScript (book/explorer/*-*.js) with the vendored eslint and the
# repository's eslint.config.mjs; any warning fails. Part of `make lint` (after scripts/vendor_js.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ESLINT=.vendor/eslint/node_modules/eslint/bin/eslint.js
[ -f "$ESLINT" ] || { echo "lint_js.sh: eslint is missing; fix: bash scripts/vendor_js.sh" >&2; exit 1; }
node "$ESLINT" --max-warnings 0 book/explorer
echo "lint_js.sh: book/explorer JavaScript clean"
