#!/usr/bin/env bash
# ETSI NGSI-LD conformance (Robot Framework suite) against `mingyue serve`, declared subset.
#
# Usage: bench/ngsi_ld_conformance.sh [SUITE_DIR] [FOLDER...]
#   SUITE_DIR defaults to ../shared/data/city/ngsi-ld-test-suite (never copied into the repo;
#   a scratch copy is made under /tmp so the suite's variables.py can point at our server).
#   FOLDERs are paths under TP/NGSI-LD (default: the declared subset below).
# Prints pass/fail per folder and the total; failed test names go to stderr.
# Needs: the project venv (.venv), python3.11, the local PyPI mirror for the suite's own venv.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SUITE_SRC="${1:-$ROOT/../shared/data/city/ngsi-ld-test-suite}"
shift || true
FOLDERS=("$@")
if [ ${#FOLDERS[@]} -eq 0 ]; then
  FOLDERS=(
    ContextInformation/Provision/Entities
    ContextInformation/Consumption/Entity
    ContextInformation/Subscription
    CommonBehaviours
  )
fi
VENV="${NGSI_BENCH_VENV:-$ROOT/bench/.venv-ngsi}"
PY="$ROOT/.venv/bin/python"
MINGYUE="$ROOT/.venv/bin/mingyue"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. the suite's own venv (its pins differ from ours: paho-mqtt 1.6.1, robotframework 7.4.1)
if [ ! -x "$VENV/bin/robot" ]; then
  python3.11 -m venv "$VENV"
  grep -v -- '-e ' "$SUITE_SRC/requirements.txt" | grep -v '^#' > "$VENV/requirements.txt"
  "$VENV/bin/pip" install -q -r "$VENV/requirements.txt"
  "$VENV/bin/pip" install -q "$SUITE_SRC/libraries/robotframework-httpctrl"
fi

WORK="$(mktemp -d /tmp/ngsi-conformance.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK/data"
}
trap cleanup EXIT

# 2. a scratch copy of the suite (read-only source; robot writes beside it)
cp -r "$SUITE_SRC" "$WORK/suite"
chmod -R u+w "$WORK/suite"
SUITE="$WORK/suite"
CTX_DIR="$SUITE/resources/jsonld-contexts"
RAW="https://raw.githubusercontent.com/marek-mraz/ngsi-ld-test-suite/main/resources/jsonld-contexts"

# 3. a fresh data dir, an organization, a user and a token
export MINGYUE_DATA_DIR="$WORK/data"
export MINGYUE_ENV=dev
USCC="$("$PY" -c 'from mingyue.testing import make_uscc; print(make_uscc())')"
"$MINGYUE" user org-create ngsi-conformance --kind enterprise --uscc "$USCC" --json >/dev/null
MINGYUE_NEW_PASSWORD="Conformance-$(date +%s)-pass" \
  "$MINGYUE" user create ngsi_tester --organization ngsi-conformance --role org_admin --json >/dev/null
TOKEN="$("$MINGYUE" user token ngsi_tester --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

PORT="$(free_port)"; NOTIFY_PORT="$(free_port)"; CTX_PORT="$(free_port)"; CSRC_PORT="$(free_port)"
# The suite names its contexts by their GitHub URLs: the broker reads them from the scratch copy
# (URL=PATH), and may fetch only from the suite's own loopback context server.
# Some suites name the same terms through easy-global-market's "V1.8 compound" context
# (ngsildTestSuite.jsonld + core v1.8 — the same eleven terms as the suite's own compound file).
EGM="https://easy-global-market.github.io/ngsild-api-data-models/ngsildTestSuite/ngsildTestSuiteV1.8-compound.jsonld"
export MINGYUE_CITYGOV__NGSI_CONTEXT_FILES="$RAW/ngsi-ld-test-suite-compound.jsonld=$CTX_DIR/ngsi-ld-test-suite-compound.jsonld,$RAW/ngsi-ld-test-suite.jsonld=$CTX_DIR/ngsi-ld-test-suite.jsonld,$EGM=$CTX_DIR/ngsi-ld-test-suite-compound.jsonld"
export MINGYUE_CITYGOV__NGSI_CONTEXT_URLS="http://127.0.0.1:$CTX_PORT/"
# The suite's subscriptions name an example host as a second endpoint; the operator allow-lists
# it (nothing answers there, so a delivery to it fails and is counted as such).
export MINGYUE_CITYGOV__NGSI_NOTIFY_HOSTS="my.second.endpoint.org"

if [ "${NGSI_BENCH_APP:-serve}" = router ]; then
  # only the NGSI-LD router (when another enabler of this checkout does not load yet)
  (cd "$ROOT" && exec "$ROOT/.venv/bin/uvicorn" --factory bench.ngsi_ld.router_app:create \
    --host 127.0.0.1 --port "$PORT" --log-level warning) >"$WORK/serve.log" 2>&1 &
else
  "$MINGYUE" serve --host 127.0.0.1 --port "$PORT" >"$WORK/serve.log" 2>&1 &
fi
SERVER_PID=$!
for _ in $(seq 1 240); do  # `mingyue serve` loads every enabler: up to two minutes
  if curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null

cat >"$SUITE/resources/variables.py" <<PYEOF
url = 'http://127.0.0.1:$PORT/ngsi-ld/v1'
temporal_api_url = 'http://127.0.0.1:$PORT/ngsi-ld/v1'
ngsild_test_suite_context = '$RAW/ngsi-ld-test-suite-compound.jsonld'
notification_server_host = '127.0.0.1'
notification_server_port = $NOTIFY_PORT
mqtt_broker_host = '127.0.0.1'
mqtt_broker_non_default_port = $(free_port)
context_source_host = '127.0.0.1'
context_source_port = $CSRC_PORT
context_server_host = '127.0.0.1'
context_server_port = $CTX_PORT
core_context = 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld'
delete_temporal_on_core_delete = True
PYEOF

# 4. run each folder; summarize
PAIRS=()
cd "$SUITE"
for folder in "${FOLDERS[@]}"; do
  out="$WORK/results/$(echo "$folder" | tr '/' '_')"
  mkdir -p "$out"
  PYTHONPATH="$ROOT/bench/ngsi_ld" NGSI_BENCH_TOKEN="$TOKEN" NGSI_BENCH_URL="http://127.0.0.1:$PORT/" \
    "$VENV/bin/robot" --outputdir "$out" --log NONE --report NONE --consolewidth 120 \
    "TP/NGSI-LD/$folder" >"$out/console.txt" 2>&1 || true
  PAIRS+=("$folder=$out/output.xml")
done
"$PY" "$ROOT/bench/ngsi_ld/summarize.py" "${PAIRS[@]}"
echo "results: $WORK/results (server log: $WORK/serve.log)" >&2
