#!/usr/bin/env bash
# Install the outside engines the compute enabler's tests drive for real:
# a single-node Slurm (Debian slurm-wlm 22.05 + munge) with its accounting daemon slurmdbd and
# a MariaDB server for it (sacct). Idempotent: safe to run twice.
# The test fixture (tests/enablers/compute/conftest.py) writes its own slurm.conf,
# munge key, ports and private MariaDB instance; this script only installs the packages.
set -euo pipefail
need=()
for bin in slurmctld slurmd slurmdbd sbatch squeue scontrol scancel sinfo sacct sacctmgr munged \
    mungekey mariadbd mariadb-install-db; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ "${#need[@]}" -eq 0 ]; then
  echo "compute-slurm: slurm-wlm, munge, slurmdbd and mariadb-server already installed"
  exit 0
fi
# A MariaDB server already on the host may serve others: leave its service alone.
had_mariadb=0
command -v mariadbd >/dev/null 2>&1 && had_mariadb=1
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge slurm-client slurmdbd \
  mariadb-server
# The packages' own services are not used: the fixture runs private daemons.
svcs=(slurmctld slurmd slurmdbd munge)
if [ "$had_mariadb" -eq 0 ]; then svcs+=(mariadb); fi
for svc in "${svcs[@]}"; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
echo "compute-slurm: installed $(slurmctld -V 2>/dev/null || echo slurm)"
