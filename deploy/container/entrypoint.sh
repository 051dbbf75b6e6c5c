#!/bin/sh
# Entrypoint of the mingyue image. Roles: migrate | web | worker | scheduler | any command.
#
# Secrets come from files (compose/podman secrets under /run/secrets), never from the image:
#   SECRET_KEY_FILE      -> MINGYUE_SECRET_KEY
#   DB_PASSWORD_FILE     -> MINGYUE_DATABASE_URL = postgresql://DB_USER:…@DB_HOST:DB_PORT/DB_NAME
#   REDIS_PASSWORD_FILE  -> MINGYUE_REDIS_URL    = redis://:…@REDIS_HOST:REDIS_PORT/REDIS_DB
#   METRICS_TOKEN_FILE   -> MINGYUE_METRICS_TOKEN
# A MINGYUE_* variable already set wins. Nothing here prints a secret.
set -eu

read_secret() { # file -> its first line (no trailing newline)
  [ -r "$1" ] || { echo "mingyue-entrypoint: cannot read secret file $1" >&2; exit 2; }
  head -n 1 "$1" | tr -d '\r\n'
}
urlquote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

if [ -z "${MINGYUE_SECRET_KEY:-}" ] && [ -n "${SECRET_KEY_FILE:-}" ]; then
  MINGYUE_SECRET_KEY="$(read_secret "$SECRET_KEY_FILE")"
  export MINGYUE_SECRET_KEY
fi
if [ -z "${MINGYUE_DATABASE_URL:-}" ] && [ -n "${DB_HOST:-}" ]; then
  auth="${DB_USER:-mingyue}"
  if [ -n "${DB_PASSWORD_FILE:-}" ]; then
    auth="$auth:$(urlquote "$(read_secret "$DB_PASSWORD_FILE")")"
  fi
  MINGYUE_DATABASE_URL="postgresql://$auth@$DB_HOST:${DB_PORT:-5432}/${DB_NAME:-mingyue}"
  export MINGYUE_DATABASE_URL
fi
if [ -z "${MINGYUE_REDIS_URL:-}" ] && [ -n "${REDIS_HOST:-}" ]; then
  auth=""
  if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    auth=":$(urlquote "$(read_secret "$REDIS_PASSWORD_FILE")")@"
  fi
  MINGYUE_REDIS_URL="redis://$auth$REDIS_HOST:${REDIS_PORT:-6379}/${REDIS_DB:-0}"
  export MINGYUE_REDIS_URL
fi
if [ -z "${MINGYUE_METRICS_TOKEN:-}" ] && [ -n "${METRICS_TOKEN_FILE:-}" ]; then
  MINGYUE_METRICS_TOKEN="$(read_secret "$METRICS_TOKEN_FILE")"
  export MINGYUE_METRICS_TOKEN
fi
unset auth

# Installed also as /usr/local/bin/mingyue (ahead of the venv on PATH), so that
# `podman exec CONTAINER mingyue demo` gets the same settings as the container's own process.
if [ "$(basename "$0")" = mingyue ]; then
  exec /opt/mingyue/bin/mingyue "$@"
fi

# prometheus-client's multiprocess mode (several uvicorn workers); per container, not a volume
PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/var/lib/mingyue-metrics/prometheus}"
export PROMETHEUS_MULTIPROC_DIR
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

# Wait until `mingyue check` passes (database reachable, Redis, migrations at head, signing key):
# the migrate service does the upgrade once; the long-running roles never migrate concurrently.
wait_ready() {
  deadline=$(($(date +%s) + ${READY_TIMEOUT_S:-180}))
  until out="$(mingyue check 2>&1)"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "mingyue-entrypoint: not ready after ${READY_TIMEOUT_S:-180} s:" >&2
      echo "$out" >&2
      exit 1
    fi
    sleep 2
  done
}

wait_database() {
  deadline=$(($(date +%s) + ${READY_TIMEOUT_S:-180}))
  until mingyue check --json 2>/dev/null | python3 -c '
import json, sys
try:
    problems = json.load(sys.stdin)["problems"]
except (ValueError, KeyError, TypeError):
    sys.exit(1)
sys.exit(1 if any(p.get("code") == "ready.database" for p in problems) else 0)'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "mingyue-entrypoint: database unreachable after ${READY_TIMEOUT_S:-180} s" >&2
      exit 1
    fi
    sleep 2
  done
}

role="${1:-web}"
case "$role" in
  migrate)
    wait_database
    mingyue db upgrade
    # Create the Ed25519 signing key once (mode 0600), before several processes want it.
    mingyue audit public-key >/dev/null
    exec mingyue check --deploy
    ;;
  web)
    wait_ready
    # the web workers' metric files start empty
    rm -rf "$PROMETHEUS_MULTIPROC_DIR"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec mingyue serve --host "${BIND:-0.0.0.0}" --port "${PORT:-8000}" \
      --workers "${MINGYUE_WEB_WORKERS:-2}"
    ;;
  worker)
    wait_ready
    exec mingyue worker
    ;;
  scheduler)
    wait_ready
    exec mingyue scheduler
    ;;
  *)
    exec "$@"
    ;;
esac
