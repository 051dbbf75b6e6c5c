#!/usr/bin/env bash
# Start the local services the tests need when they are down (PostgreSQL, Redis).
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! up 6379; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || redis-server --daemonize yes --port 6379 --save "" || true
fi
for i in $(seq 1 30); do up 5432 && up 6379 && break; sleep 1; done
up 5432 && echo "PostgreSQL is up" || echo "PostgreSQL is DOWN: pg tests will fail"
up 6379 && echo "Redis is up" || echo "Redis is DOWN: Redis tests will skip with the reason"
