#!/usr/bin/env bash
# Stop the one-node cluster that .ci/slurm/up.sh started: cancel its jobs, then stop slurmd,
# slurmctld, slurmdbd, MariaDB and munged (each by its pid file). Safe to run when nothing runs.
# Job state and the accounting database stay on disk; up.sh picks them up again.
set -euo pipefail

RUN=/run/slurm
START_MS=$(date +%s%3N)
[ "$(id -u)" = 0 ] || { echo "slurm-down: error: needs root" >&2; exit 1; }

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {  # stop NAME PIDFILE...: SIGTERM to each at once, then SIGKILL after 15 s
  local names=() pids=() files=() pid i j
  while [ $# -gt 0 ]; do
    if running "$2"; then names+=("$1"); pids+=("$(cat "$2")"); files+=("$2"); fi
    shift 2
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for i in $(seq 150); do
    for j in "${!pids[@]}"; do kill -0 "${pids[$j]}" 2>/dev/null || unset "pids[$j]"; done
    [ ${#pids[@]} -eq 0 ] && break
    sleep 0.1
  done
  for j in "${!pids[@]}"; do
    echo "slurm-down: ${names[$j]} (${pids[$j]}) ignored SIGTERM for 15 s: killing it" >&2
    kill -9 "${pids[$j]}" 2>/dev/null || true
  done
  rm -f "${files[@]}"
}

if running "$RUN/slurmctld.pid" && command -v squeue >/dev/null; then
  jobs="$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')"
  if [ -n "${jobs// }" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 100); do  # up to 10 s for the jobs' processes to end
      [ -z "$(squeue -h -t R,CG -o %A 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi
# slurmctld and slurmdbd save their state on the way down; the database and munge go last.
stop slurmd "$RUN/slurmd.pid" slurmctld "$RUN/slurmctld.pid"
stop slurmdbd "$RUN/slurmdbd.pid"
stop mariadb /run/mysqld/mysqld.pid munged /run/munge/munged.pid
ELAPSED_MS=$(( $(date +%s%3N) - START_MS ))
echo "slurm-down: down in $(( ELAPSED_MS / 1000 )).$(( ELAPSED_MS % 1000 / 100 )) s"
