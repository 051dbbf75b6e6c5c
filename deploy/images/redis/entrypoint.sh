#!/bin/sh
# Redis with a password (REDIS_PASSWORD_FILE), append-only persistence in /data, on LISTEN
# (default 0.0.0.0) port REDIS_PORT (default 6379). The password goes into a config file readable
# by redis only, never onto the command line. Root only to read the secret, then setpriv.
set -eu
: "${REDIS_PORT:=6379}" "${LISTEN:=0.0.0.0}"
[ -n "${REDIS_PASSWORD_FILE:-}" ] || { echo "redis: REDIS_PASSWORD_FILE is required" >&2; exit 2; }
conf=/data/redis.conf
if [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data
  umask 077
  {
    echo "bind $LISTEN"
    echo "port $REDIS_PORT"
    echo "protected-mode yes"
    echo "dir /data"
    echo "appendonly yes"
    echo "appendfsync everysec"
    echo "requirepass $(head -n 1 "$REDIS_PASSWORD_FILE" | tr -d '\r\n')"
  } >"$conf"
  chown redis:redis "$conf"
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$conf" "$@"
fi
exec redis-server "$conf" "$@"
