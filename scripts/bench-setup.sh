#!/usr/bin/env bash
# Debian packages the benches use (not the tests): wrk, the HTTP load generator of
# bench/api_latency.py. Debian has no wrk2, so the open-loop figures use wrk's own pacing
# (see docs/performance.md).
set -u
need=()
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v wrk >/dev/null && echo "wrk: $(wrk --version 2>&1 | head -1)"
