#!/usr/bin/env bash
# Build the mingyue image and the service images (PostgreSQL, Redis, Mosquitto) with podman,
# with no container registry: the base is debootstrapped locally (deploy/base-image.sh), the
# Python wheels are made on this host with `pip wheel` (using this host's pip configuration)
# and cached, and the image build installs from them with --no-index.
#
# Usage: deploy/build.sh [--extras LIST] [--tag IMAGE] [--base IMAGE] [--no-services]
# Env:   MINGYUE_DEPLOY_CACHE (default ~/.cache/mingyue-deploy), PYTHON (a Python 3.11 with pip;
#        default .venv/bin/python, else python3), PODMAN_BUILD_ARGS (extra `podman build` flags).
# Prints one line per step with its duration; the last line is the total. `--format docker`:
# the OCI image format has no HEALTHCHECK.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${MINGYUE_EXTRAS-datasandbox,satcert}"
TAG="${MINGYUE_IMAGE:-localhost/mingyue:latest}"
BASE="${MINGYUE_BASE_IMAGE:-localhost/mingyue-base:bookworm}"
SERVICES=1
while [ $# -gt 0 ]; do
  case "$1" in
    --extras) EXTRAS="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --base) BASE="$2"; shift 2 ;;
    --no-services) SERVICES=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build: unknown argument $1" >&2; exit 2 ;;
  esac
done
CACHE="${MINGYUE_DEPLOY_CACHE:-$HOME/.cache/mingyue-deploy}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
# shellcheck disable=SC2206
EXTRA_BUILD_ARGS=(${PODMAN_BUILD_ARGS:-})
t0=$(date +%s)
step() { echo "build: $1 ($(($(date +%s) - $2)) s)"; }

# 1. the base image (only the local one is built here; another BASE is pulled by podman)
t=$(date +%s)
case "$BASE" in
  localhost/mingyue-base:*) MINGYUE_BASE_IMAGE="$BASE" MINGYUE_DEPLOY_CACHE="$CACHE" bash deploy/base-image.sh ;;
esac
step "base image $BASE" "$t"

# 2. the wheelhouse: the mingyue wheel from this tree + its dependencies, cached between runs.
# The image's Python is Debian bookworm's 3.11: wheels built here must be for the same.
t=$(date +%s)
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$pyver" != "3.11" ]; then
  echo "build: $PY is Python $pyver; the image runs Debian bookworm's 3.11 (set PYTHON=)" >&2
  exit 2
fi
rm -rf dist/wheelhouse
mkdir -p dist/wheelhouse "$CACHE/wheelhouse"
"$PY" -m pip wheel -q --no-deps --wheel-dir dist/wheelhouse . >"$CACHE/pip-wheel.log" 2>&1 || {
  tail -20 "$CACHE/pip-wheel.log" >&2; exit 1; }
version="$(ls dist/wheelhouse/mingyue-*.whl | sed -E 's/.*mingyue-([^-]+)-.*/\1/')"
spec="mingyue==$version"
[ -z "$EXTRAS" ] || spec="mingyue[$EXTRAS]==$version"
# offline from the cache first; the host's index (pip.conf / PIP_*) only for what is missing
if ! "$PY" -m pip wheel -q --no-index --find-links dist/wheelhouse --find-links "$CACHE/wheelhouse" \
    --wheel-dir dist/wheelhouse "$spec" >>"$CACHE/pip-wheel.log" 2>&1; then
  "$PY" -m pip wheel -q --find-links dist/wheelhouse --find-links "$CACHE/wheelhouse" \
    --wheel-dir dist/wheelhouse "$spec" >>"$CACHE/pip-wheel.log" 2>&1 || {
    tail -20 "$CACHE/pip-wheel.log" >&2; exit 1; }
fi
# Markers are judged by the host's Python (3.11.x here): let the image's own interpreter check
# that the wheelhouse resolves offline, and add what it misses (redis needs async-timeout below
# 3.11.3, and bookworm ships 3.11.2).
check_wheelhouse() {
  podman run --rm --network=none -v "$PWD/dist/wheelhouse:/wheels:ro" "$BASE" sh -c \
    'python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --no-index --find-links /wheels --dry-run "$0"' \
    "$spec" 2>&1
}
if podman run --rm --network=none "$BASE" python3 -c 'import venv' >/dev/null 2>&1; then
  for _ in 1 2 3 4 5 6; do
    out="$(check_wheelhouse)" && break
    missing="$(printf '%s\n' "$out" | sed -n 's/.*No matching distribution found for \([^;]*\).*/\1/p' | head -1)"
    if [ -z "$missing" ]; then printf '%s\n' "$out" >&2; exit 1; fi
    echo "build: the image's Python also needs $missing"
    "$PY" -m pip wheel -q --find-links "$CACHE/wheelhouse" --wheel-dir dist/wheelhouse "$missing" \
      >>"$CACHE/pip-wheel.log" 2>&1 || { tail -20 "$CACHE/pip-wheel.log" >&2; exit 1; }
  done
fi
for w in dist/wheelhouse/*.whl; do
  case "$(basename "$w")" in mingyue-*) ;; *) [ -e "$CACHE/wheelhouse/$(basename "$w")" ] || cp "$w" "$CACHE/wheelhouse/" ;; esac
done
# dependencies and the mingyue wheel apart: the image installs them in two layers
mkdir -p dist/wheelhouse/deps dist/wheelhouse/app
mv dist/wheelhouse/mingyue-*.whl dist/wheelhouse/app/
mv dist/wheelhouse/*.whl dist/wheelhouse/deps/
step "wheelhouse: $(ls dist/wheelhouse/deps | wc -l) wheels + mingyue for $spec" "$t"

# 3. the images
# images of earlier builds that no tag names any more: removed after a good build (with the
# vfs driver each keeps a full copy of its layers); the newest stay as the layer cache
stale="$(podman images -q --filter dangling=true --filter label=io.mingyue.image | sort -u)"
t=$(date +%s)
podman build -q --format docker "${EXTRA_BUILD_ARGS[@]}" --build-arg BASE="$BASE" --build-arg EXTRAS="$EXTRAS" \
  --build-arg VERSION="$version" -f Containerfile -t "$TAG" . >/dev/null
step "image $TAG (extras: ${EXTRAS:-none})" "$t"
if [ "$SERVICES" = 1 ]; then
  for svc in postgres redis mosquitto; do
    t=$(date +%s)
    img="localhost/mingyue-$svc:bookworm"
    # rebuilt only when its folder or the base changed (a cached podman build still costs
    # minutes of layer copies on the vfs driver)
    src="$( (cat deploy/images/$svc/*; podman image inspect --format '{{.Id}}' "$BASE") | sha256sum | cut -c1-16)"
    if [ "$(podman image inspect --format '{{index .Labels "io.mingyue.source"}}' "$img" 2>/dev/null)" = "$src" ]; then
      step "image $img unchanged" "$t"
      continue
    fi
    podman build -q --format docker "${EXTRA_BUILD_ARGS[@]}" --build-arg BASE="$BASE" \
      --label "io.mingyue.source=$src" -t "$img" "deploy/images/$svc" >/dev/null
    step "image $img" "$t"
  done
fi
for id in $stale; do podman rmi "$id" >/dev/null 2>&1 || true; done
echo "build: total $(($(date +%s) - t0)) s"
