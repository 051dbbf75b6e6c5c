#!/usr/bin/env bash
# Build the base image localhost/mingyue-base:bookworm from Debian packages, without a registry:
# debootstrap a minimal Debian bookworm (python3, python3-venv, libpq5, ca-certificates) from
# this machine's Debian mirror into a temporary folder and `podman import` it. Idempotent: an
# existing image is kept (REBUILD=1 builds it again); the downloaded .debs stay in the cache.
#
# Env: MINGYUE_BASE_IMAGE (image name), DEBIAN_MIRROR (default: the bookworm mirror named in
# /etc/apt/sources.list*, else http://deb.debian.org/debian), MINGYUE_DEPLOY_CACHE
# (default ~/.cache/mingyue-deploy), REBUILD=1.
# An operator who can pull from a registry does not need this: pass
# `--build-arg BASE=docker.io/library/debian:bookworm-slim` to the image builds instead.
set -euo pipefail

IMAGE="${MINGYUE_BASE_IMAGE:-localhost/mingyue-base:bookworm}"
CACHE="${MINGYUE_DEPLOY_CACHE:-$HOME/.cache/mingyue-deploy}"
PACKAGES="python3,python3-venv,libpq5,ca-certificates"

if podman image exists "$IMAGE" && [ -z "${REBUILD:-}" ]; then
  echo "base-image: $IMAGE exists (REBUILD=1 to build it again)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "base-image: debootstrap needs root (run with sudo)" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

mirror_from_sources() {
  # deb822 (`URIs:` next to `Suites: bookworm`) or one-line (`deb URI bookworm main`) sources
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && uri != "") { print uri; exit } }
      /^deb / && $3 == "bookworm" { print $2; exit }
    ' "$f"
  done | grep -v security | head -1
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_sources)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

mkdir -p "$CACHE/debs"
root="$(mktemp -d /var/tmp/mingyue-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "base-image: debootstrap bookworm from $MIRROR (debs cached in $CACHE/debs)"
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE/debs" \
  bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
  tail -20 "$CACHE/debootstrap.log" >&2
  exit 1
}

# What a container image does not need: package lists, the .deb cache, docs and man pages.
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/01-container" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
cat >"$root/etc/apt/apt.conf.d/01-container" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/*/[!c]* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/var/log/*.log "$root"/dev/* 2>/dev/null || true
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"

# mktemp made the root 0700: the image's / must be traversable by its non-root users
chmod 0755 "$root"
tar --numeric-owner -C "$root" -c . | podman import --quiet \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  - "$IMAGE" >/dev/null
echo "base-image: $IMAGE built in $(($(date +%s) - start)) s ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
