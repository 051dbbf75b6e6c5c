#!/usr/bin/env bash
# Debian packages the satcert test bench drives: socat (pty pairs for a simulated module in CI) and
# gpsd + gpsd-clients (gpsfake replays a GNSS log through a pty into a test gpsd).
set -u
need=()
command -v socat >/dev/null || need+=(socat)
command -v gpsfake >/dev/null || need+=(gpsd gpsd-clients)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v socat >/dev/null && echo "socat: $(socat -V 2>/dev/null | sed -n 2p)"
command -v gpsfake >/dev/null && echo "gpsfake: $(gpsd --version 2>/dev/null | head -1)"
