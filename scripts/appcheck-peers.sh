#!/usr/bin/env bash
# Install the reference peers the appcheck acceptance tests and bench compare against.
#   - Debian's `dexdump` (needed by exodus-core to list DEX classes)
#   - Debian's `apksigner` (AOSP apksig; bench/appcheck_signatures.py compares signature verdicts)
#   - exodus-core 1.3.15 in its own venv (it pins androguard 4.1.1; ours is 4.1.4)
#   - optional, for `bench/appcheck_speed.py --mobsf`: APPCHECK_MOBSF=1 adds MobSF 4.4.0 in
#     <repo>/.venv-mobsf (GPL-3, a benchmark peer only; ~3 min to install)
# Idempotent: re-running it changes nothing once everything is in place.
# Usage: scripts/appcheck-peers.sh            (venv at $APPCHECK_EXODUS_VENV or <repo>/.venv-exodus)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${APPCHECK_EXODUS_VENV:-$REPO/.venv-exodus}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

if ! command -v dexdump >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dexdump
fi

if ! command -v apksigner >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq apksigner
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import exodus_core" >/dev/null 2>&1; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q "exodus-core==1.3.15"
fi

if [ "${APPCHECK_MOBSF:-0}" = "1" ] && [ ! -x "$REPO/.venv-mobsf/bin/mobsf" ]; then
  "$PY" -m venv "$REPO/.venv-mobsf"
  "$REPO/.venv-mobsf/bin/pip" install -q "mobsf==4.4.0"
fi

"$VENV/bin/python" -c "import exodus_core, androguard; print('exodus-core ready:', androguard.__version__)"
dexdump 2>&1 | head -1 || true
