#!/usr/bin/env bash
# What the crossborder tests need besides the Python extra `mingyue[crossborder]`:
# Debian's legacy GeoIP country database (offline IP -> country for the flow monitor; the test that
# reads it skips with a reason when it is absent).
set -u
if [ ! -f /usr/share/GeoIP/GeoIP.dat ]; then
  echo "installing: geoip-database"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq geoip-database >/dev/null || echo "geoip-database not installed"
fi
ls -l /usr/share/GeoIP/ 2>/dev/null || true
