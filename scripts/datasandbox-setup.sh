#!/usr/bin/env bash
# Install the Spark engine of the datasandbox enabler (pyspark builds from source in ~40-60 s)
# and check Java. Usage: scripts/datasandbox-setup.sh [path/to/venv]   (default .venv)
set -euo pipefail
VENV="${1:-.venv}"
if ! command -v java >/dev/null 2>&1; then
  echo "datasandbox-spark: Java not found; installing openjdk-17-jre-headless" >&2
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
java -version 2>&1 | head -1
"$VENV/bin/pip" install -q "pyspark==4.3.0"
# Spark's Python workers must run the venv's interpreter (the adapter sets it too).
export PYSPARK_PYTHON="$VENV/bin/python"
"$VENV/bin/python" -c "import pyspark; print('pyspark', pyspark.__version__)"
