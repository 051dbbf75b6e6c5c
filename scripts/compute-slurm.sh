#!/usr/bin/env bash
# Install the outside engines the compute enabler's tests drive for real:
# a single-node Slurm (Debian slurm-wlm 22.05 + munge). Idempotent: safe to run twice.
# The test fixture (tests/enablers/compute/conftest.py) writes its own slurm.conf,
# munge key and ports; this script only installs the packages.
set -euo pipefail
need=()
for bin in slurmctld slurmd sbatch squeue scontrol scancel sinfo munged mungekey; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ "${#need[@]}" -eq 0 ]; then
  echo "compute-slurm: slurm-wlm and munge already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge slurm-client
# The packages' own services are not used: the fixture runs private daemons.
for svc in slurmctld slurmd munge; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
echo "compute-slurm: installed $(slurmctld -V 2>/dev/null || echo slurm)"
