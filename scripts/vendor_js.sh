#!/usr/bin/env bash
# Vendor the JavaScript the built book needs offline into .vendor/ (git-ignored).
#
#   .vendor/html-manager/  @jupyter-widgets/html-manager (renders stored ipywidgets)
#   .vendor/requirejs/     requirejs (the AMD loader html-manager's embed-amd.js needs)
#   .vendor/eslint/        eslint, the linter of the explorers' JavaScript (`make lint`): every package
#                          at the version and sha512 recorded in scripts/eslint/package-lock.json
#   .vendor/axe-core/      axe-core (MPL-2.0), the accessibility checker the browser tests inject
#                          into every page (tests/test_accessibility.py); it is not shipped with the book
#
# html-manager 1.0.6 is the version myst-nb 1.4 embeds by default (nb_ipywidgets_js) and
# satisfies ipywidgets 8.1.9's range ^1.0.1. requirejs 2.3.8 is the current release (myst-nb's
# CDN default, 2.3.4, predates a prototype-pollution fix). MathJax is not vendored here: it
# comes from the PyPI package django-static-mathjax (see book/_ext/offline_assets.py).
#
# Idempotent: a package whose package.json already has the wanted version is left alone.
# Each tarball is checked against a pinned sha512 before it is unpacked.
set -euo pipefail

cd "$(dirname "$0")/.."
VENDOR=.vendor

# name  npm-spec  sha512 of the npm tarball
PACKAGES=(
  "html-manager @jupyter-widgets/html-manager@1.0.6 f8c9fe45af30c881eb61a5297e67fd03776c2e4b7f36ec333d037cb2d85dc410f7e5557970e25ba6680c84d476ee7feb98fde62b211ed0f58226bb59ad74d70d"
  "requirejs requirejs@2.3.8 eff71348b39d6243413497033167fe96e16f32b8959bb798c69e017050ac017d30178db557271ee525cfd7b73e25de68b5728635e848a27165c905d2a302fa33"
  "axe-core axe-core@4.14.1 1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5"
)

vendor_one() {
  local name=$1 spec=$2 sha=$3
  local version=${spec##*@} dest=$VENDOR/$name
  if grep -qs "\"version\": \"$version\"" "$dest/package.json"; then
    return 0
  fi
  command -v npm >/dev/null || { echo "vendor_js.sh: npm is needed to fetch $spec (apt-get install npm)" >&2; exit 1; }
  local tmp=$WORK/$name
  mkdir -p "$tmp/x"
  echo "vendor_js.sh: fetching $spec"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  local tgz=("$tmp"/*.tgz)
  echo "$sha  ${tgz[0]}" | sha512sum --check --quiet - || { echo "vendor_js.sh: checksum mismatch for $spec" >&2; exit 1; }
  tar -xzf "${tgz[0]}" -C "$tmp/x"
  rm -rf "$dest"
  mkdir -p "$VENDOR"
  mv "$tmp/x/package" "$dest"
}

# eslint and its dependencies, exactly as locked (npm ci checks every tarball's sha512 against the lock).
# Refresh the lock: cd scripts/eslint && npm install --package-lock-only --ignore-scripts eslint@VERSION
vendor_eslint() {
  local dest=$VENDOR/eslint
  if cmp -s scripts/eslint/package-lock.json "$dest/package-lock.json" && [ -f "$dest/node_modules/eslint/bin/eslint.js" ]; then
    return 0
  fi
  command -v npm >/dev/null || { echo "vendor_js.sh: npm is needed to install eslint (apt-get install npm)" >&2; exit 1; }
  echo "vendor_js.sh: installing eslint from scripts/eslint/package-lock.json"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp scripts/eslint/package.json scripts/eslint/package-lock.json "$dest/"
  (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --silent)
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for entry in "${PACKAGES[@]}"; do
  # shellcheck disable=SC2086
  vendor_one $entry
done
vendor_eslint
echo "vendor_js.sh: $VENDOR/ ready ($(du -shL "$VENDOR" | cut -f1))"
