#!/usr/bin/env bash
# Install the contract-audit tools of digitalasset (issue 17, "Contract security audit"):
#   - slither-analyzer 0.11.6 in its own venv (it needs web3<8; the chain adapter uses web3 8)
#   - solc-js (npm `solc`, the wasm build: no native compiler can be downloaded here), one per
#     pragma line the audit meets: 0.4.x, 0.5.x, 0.6.x, 0.7.x, 0.8.x (latest patch of each we pin)
#   - optional, DA_MYTHRIL=1: mythril 0.24.8 in <tools>/mythril (bytecode analysis, ~4 min to
#     install); the audit job runs it when MINGYUE_DIGITALASSET__AUDIT_MYTHRIL_TIMEOUT_S > 0
# Everything goes under $MINGYUE_DIGITALASSET__AUDIT_TOOLS or <repo>/.venv-da-audit (gitignored).
# Idempotent: re-running it changes nothing once everything is in place.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${MINGYUE_DIGITALASSET__AUDIT_TOOLS:-$REPO/.venv-da-audit}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
SLITHER_VERSION="0.11.6"
# npm alias -> version; the shim picks the highest installed version a pragma admits.
SOLC_VERSIONS="0.4.24 0.4.25 0.4.26 0.5.17 0.6.12 0.7.6 0.8.26"

if [ ! -x "$TOOLS/bin/slither" ] || ! "$TOOLS/bin/slither" --version 2>/dev/null | grep -q "$SLITHER_VERSION"; then
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "slither-analyzer==$SLITHER_VERSION"
fi

command -v npm >/dev/null 2>&1 || { echo "npm not found: install nodejs and npm (apt-get install -y nodejs npm)" >&2; exit 1; }
mkdir -p "$TOOLS/solcjs"
specs=""
for v in $SOLC_VERSIONS; do
  alias="solc$(echo "$v" | tr -d .)"
  if [ ! -f "$TOOLS/solcjs/node_modules/$alias/package.json" ]; then specs="$specs $alias@npm:solc@$v"; fi
done
if [ -n "$specs" ]; then
  [ -f "$TOOLS/solcjs/package.json" ] || echo '{"name": "mingyue-da-solcjs", "private": true}' > "$TOOLS/solcjs/package.json"
  # shellcheck disable=SC2086
  (cd "$TOOLS/solcjs" && npm install --no-audit --no-fund --silent $specs)
fi

if [ "${DA_MYTHRIL:-0}" = "1" ] && [ ! -x "$TOOLS/mythril/bin/myth" ]; then
  "$PY" -m venv "$TOOLS/mythril"
  "$TOOLS/mythril/bin/pip" install -q "mythril==0.24.8" || echo "mythril did not install: the audit runs without it"
fi
echo "digitalasset audit tools ready in $TOOLS"
