#!/usr/bin/env bash
# Container runtime for the compute enabler's image jobs (`image:` specs on the local pool):
# Debian's podman with runc, configured to run inside this unprivileged container (hybrid
# cgroups v1, no systemd), and a tiny test image imported offline from busybox-static —
# nothing is pulled from a registry. Idempotent: safe to run twice. scripts/test runs it.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
# bubblewrap isolates local pools' raw commands (adapters/sandbox.py); without it a local pool
# runs commands of the platform operator only
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# crun refuses hybrid cgroups and podman's default ulimits exceed this container's hard limits;
# runc + cgroupfs + file events work here (measured: `podman run` ~0.2 s).
$SUDO mkdir -p /etc/containers/containers.conf.d
$SUDO tee /etc/containers/containers.conf.d/50-mingyue.conf >/dev/null <<'EOF'
# Written by mingyue scripts/compute-setup.sh: podman inside an unprivileged container.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
if [ ! -e /etc/containers/storage.conf ]; then
  # overlay on the container's own overlay root does not mount here; vfs always works
  $SUDO tee /etc/containers/storage.conf >/dev/null <<'EOF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
fi
if ! podman info >/dev/null 2>&1; then
  echo "compute-setup: podman is installed but does not run here:" >&2
  podman info 2>&1 | tail -3 >&2 || true
  exit 1
fi
IMAGE=localhost/mingyue-busybox:latest
if ! podman image exists "$IMAGE"; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for app in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
  done
  tar -C "$root" -cf "$root.tar" .
  podman import --quiet --change 'CMD ["/bin/sh"]' "$root.tar" "$IMAGE" >/dev/null
  rm -rf "$root" "$root.tar"
fi
echo "compute-setup: podman $(podman --version | awk '{print $3}') runs containers; test image $IMAGE"
