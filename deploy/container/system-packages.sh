#!/bin/sh
# Print the Debian packages the runtime image needs for the given extras (comma-separated).
# Always: postgresql-client (pg_dump/pg_restore for `mingyue backup`/`restore`), tini (PID 1
# that forwards signals and reaps children), curl (operators' probes from inside).
set -eu
pkgs="postgresql-client tini curl"
for extra in $(echo "${1:-}" | tr ',' ' '); do
  case "$extra" in
    appcheck) pkgs="$pkgs libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk" ;;
    crossborder) pkgs="$pkgs geoip-database" ;;
    spark) pkgs="$pkgs openjdk-17-jre-headless" ;;
    compute) pkgs="$pkgs bubblewrap" ;;
    all) pkgs="$pkgs libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk geoip-database openjdk-17-jre-headless bubblewrap" ;;
    datasandbox|satcert|ray|"") ;;
    *) echo "system-packages: unknown extra '$extra'" >&2; exit 2 ;;
  esac
done
echo "$pkgs"
