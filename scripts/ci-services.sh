#!/usr/bin/env bash
# Start the local services the tests need when they are down (PostgreSQL, Redis, Mosquitto).
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
if ! up 1883; then
  if ! command -v mosquitto >/dev/null && command -v apt-get >/dev/null; then
    echo "installing Mosquitto (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto mosquitto-clients >/dev/null || true
  fi
  if command -v mosquitto >/dev/null; then
    echo "starting Mosquitto on 127.0.0.1:1883"
    conf=$(mktemp /tmp/mosquitto-ci.XXXXXX.conf)
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' > "$conf"
    mosquitto -d -c "$conf" || true
  fi
fi
for i in $(seq 1 30); do up 5432 && up 6379 && up 1883 && break; sleep 1; done
up 5432 && echo "PostgreSQL is up" || echo "PostgreSQL is DOWN: pg tests will fail"
up 6379 && echo "Redis is up" || echo "Redis is DOWN: Redis tests will skip with the reason"
up 1883 && echo "Mosquitto is up" || echo "Mosquitto is DOWN: MQTT tests will skip with the reason"
