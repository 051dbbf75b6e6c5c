#!/bin/sh
# First start: initdb, a login role POSTGRES_USER with the password of POSTGRES_PASSWORD_FILE
# (scram-sha-256) owning database POSTGRES_DB. Every start: the server as user postgres on
# LISTEN (default *) port PGPORT (default 5432). Runs as root only to read the secret and fix
# the volume's owner, then drops to postgres (setpriv).
set -eu
: "${POSTGRES_USER:=mingyue}" "${POSTGRES_DB:=mingyue}" "${PGPORT:=5432}" "${LISTEN:=*}"
export PGPORT
if [ "$(id -u)" = 0 ]; then
  [ -n "${POSTGRES_PASSWORD_FILE:-}" ] || { echo "postgres: POSTGRES_PASSWORD_FILE is required" >&2; exit 2; }
  install -d -o postgres -g postgres -m 0700 "$PGDATA"
  chown -R postgres:postgres "$PGDATA"
  pw="$(head -n 1 "$POSTGRES_PASSWORD_FILE" | tr -d '\r\n')"
  exec env POSTGRES_PASSWORD="$pw" POSTGRES_PASSWORD_FILE= \
    setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
  psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql -U postgres -d postgres \
    -v user="$POSTGRES_USER" -v pw="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
SQL
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres: initialised $PGDATA (database $POSTGRES_DB, role $POSTGRES_USER)"
fi
unset POSTGRES_PASSWORD
exec postgres -D "$PGDATA" -c listen_addresses="$LISTEN" -c port="$PGPORT" \
  -c unix_socket_directories=/var/run/postgresql "$@"
