#!/usr/bin/env bash
# Debian packages the core's tests use: Chromium for the browser test, a CJK font for pages/PDFs.
set -u
need=()
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
ldconfig -p 2>/dev/null | grep -q "libpango-1.0.so" || need+=(libpango-1.0-0)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v chromium >/dev/null && echo "chromium: $(chromium --version 2>/dev/null)"
# axe-core (npm, the exact version in tests/web/axe/package.json) for the browser tests' accessibility check.
if command -v npm >/dev/null; then
  axe_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/web/axe"
  if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
    echo "installing axe-core into tests/web/axe/node_modules"
    (cd "$axe_dir" && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error)
  fi
else
  echo "npm not found: the browser tests skip their axe-core check"
fi
