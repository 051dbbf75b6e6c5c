#!/usr/bin/env bash
# Compile the digitalasset contracts with solc-js from npm (pinned in contracts/package.json; the
# native solc cannot be downloaded here) and write the ABI/bytecode JSON next to the sources.
# The JSON is committed: the platform runs without node. Run after changing a .sol file;
# tests/enablers/digitalasset/test_da_chain.py fails when an artifact is older than its source.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=src/mingyue/enablers/digitalasset/contracts
WORK=build/digitalasset-contracts
mkdir -p "$WORK"
cp "$SRC/package.json" "$WORK/package.json"
(cd "$WORK" && npm install --no-audit --no-fund --no-package-lock --ignore-scripts --loglevel=error)
node "$SRC/compile.js" "$WORK/node_modules" "$SRC"
