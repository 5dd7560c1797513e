#!/usr/bin/env bash
# Install a one-node SLURM cluster's packages (Debian 12): slurmctld, slurmd, the client tools,
# munge, slurmdbd and MariaDB (accounting: submitit reads a job's state from sacct; without it a
# cancelled job is never noticed and a sweep waits forever). Needs root (apt). Starts nothing:
# .ci/slurm/up.sh configures and starts the daemons without systemd.
#   sudo .ci/slurm/install.sh && .ci/slurm/up.sh
set -euo pipefail

if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null \
    && command -v mariadbd >/dev/null \
    && command -v munged >/dev/null; then
  echo "slurm: already installed ($(slurmctld -V))"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "slurm: install.sh needs root (apt-get)" >&2; exit 1; }

# No daemon may start from a package's postinst (there is no init system to hand them to here).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq  # stale or missing package lists make the install fail
apt-get install -y -qq --no-install-recommends \
  slurm-wlm slurm-client slurmdbd munge mariadb-server mariadb-client >/dev/null
echo "slurm: installed $(slurmctld -V), $(mariadbd --version | awk '{print $3}')"
