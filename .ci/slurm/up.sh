#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine, without systemd: munged, MariaDB, slurmdbd
# (accounting, which submitit reads a job's state from), slurmctld and slurmd. The node is this
# host (short hostname), with the CPUs, memory and GPUs that `slurmd -C` and /dev/nvidia* report.
# Idempotent: what already runs is left running; it returns once `sinfo` shows the node idle and
# `sacct` answers. Needs root and .ci/slurm/install.sh first; .ci/slurm/down.sh stops it all.
#   .ci/slurm/up.sh && python run.py -m experiment=smoke seed=0,1 hydra/launcher=slurm_local
# Files: /etc/slurm/{slurm,slurmdbd}.conf (generated), logs in /var/log/slurm/.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CLUSTER="${SRLM_SLURM_CLUSTER:-srlm}"
PARTITION="${SRLM_SLURM_PARTITION:-debug}"
WAIT_S="${SRLM_SLURM_UP_TIMEOUT_S:-60}"
ETC=/etc/slurm
LOGS=/var/log/slurm
RUN=/run/slurm
DB_NAME=slurm_acct_db
DB_USER=slurm
START_MS=$(date +%s%3N)

say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (it starts slurmd and munged and writes $ETC)"
for bin in munged mariadbd slurmdbd slurmctld slurmd sinfo sacct sacctmgr; do
  command -v "$bin" >/dev/null || die "$bin not found: run .ci/slurm/install.sh first"
done

running() {  # running PIDFILE: the pid file names a live process
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds
  local deadline=$(( $(date +%s) + $1 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

show_log() {  # the end of a daemon's log, for an error message
  [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }
  return 0
}

mkdir -p "$ETC" "$LOGS" "$RUN" /var/spool/slurmctld /var/spool/slurmd

# --- the node: this machine ------------------------------------------------------------------
NODE="$(hostname -s)"
NODE_LINE="$(slurmd -C | head -n 1)"        # NodeName=<host> CPUs=.. Boards=.. ... RealMemory=..
CPUS="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")"
MEM_MB="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")"
[ -n "$CPUS" ] && [ -n "$MEM_MB" ] || die "cannot read CPUs/RealMemory from 'slurmd -C': $NODE_LINE"
# Jobs without a memory request get an equal share per CPU, so that jobs run side by side.
DEF_MEM_PER_CPU=$(( MEM_MB / CPUS ))
GPUS=$(find /dev -maxdepth 1 -regex '/dev/nvidia[0-9]+' 2>/dev/null | wc -l)
GRES_TYPES="" GRES=""
if [ "$GPUS" -gt 0 ]; then
  GRES_TYPES="GresTypes=gpu"
  GRES="Gres=gpu:$GPUS"
  echo "Name=gpu File=/dev/nvidia[0-$(( GPUS - 1 ))]" >"$ETC/gres.conf"
fi

# --- configuration (rewritten each time; a change is applied to running daemons) -------------
render() {  # render TEMPLATE: substitute @VAR@ placeholders
  sed -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@PARTITION@|$PARTITION|g" -e "s|@NODE@|$NODE|g" \
      -e "s|@NODE_HW@|${NODE_LINE#NodeName=* }|g" -e "s|@GRES_TYPES@|$GRES_TYPES|g" \
      -e "s|@GRES@|$GRES|g" -e "s|@DEF_MEM_PER_CPU@|$DEF_MEM_PER_CPU|g" \
      -e "s|@DB_NAME@|$DB_NAME|g" -e "s|@DB_USER@|$DB_USER|g" -e "s|@DB_PASS@|$DB_PASS|g" \
      -e "s|@LOGS@|$LOGS|g" -e "s|@RUN@|$RUN|g" "$HERE/$1"
}
# The accounting database's password: made once, kept in root-only slurmdbd.conf.
DB_PASS="$(sed -n 's/^StoragePass=//p' "$ETC/slurmdbd.conf" 2>/dev/null || true)"
[ -n "$DB_PASS" ] || DB_PASS="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"

CHANGED=0
install_conf() {  # install_conf TEMPLATE DEST MODE
  local tmp
  tmp="$(mktemp)"
  render "$1" >"$tmp"
  if ! cmp -s "$tmp" "$2"; then
    install -m "$3" -o root -g root "$tmp" "$2"
    CHANGED=1
  fi
  rm -f "$tmp"
}
install_conf slurm.conf.in "$ETC/slurm.conf" 644
install_conf slurmdbd.conf.in "$ETC/slurmdbd.conf" 600

# --- munge -------------------------------------------------------------------------------------
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
if ! running /run/munge/munged.pid; then
  rm -f /run/munge/munge.socket.2*
  runuser -u munge -- munged || die "munged did not start"
fi
wait_for 10 bash -c 'munge -n | unmunge' || die "munge does not answer"

# --- MariaDB (accounting storage) --------------------------------------------------------------
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOGS/mariadb-install.log" 2>&1
fi
if ! mariadb-admin ping >/dev/null 2>&1; then
  setsid mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid --bind-address=127.0.0.1 --skip-log-bin \
    --innodb-buffer-pool-size=64M >>"$LOGS/mariadb.log" 2>&1 </dev/null &
  wait_for 30 mariadb-admin ping || { show_log "$LOGS/mariadb.log"; die "MariaDB did not start"; }
fi
mariadb -uroot <<SQL
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
SQL

# --- slurmdbd, slurmctld, slurmd ---------------------------------------------------------------
restart_if_changed() {  # a running daemon reads a changed configuration on restart
  if [ "$CHANGED" = 1 ] && running "$1"; then
    kill "$(cat "$1")" && wait_for 15 bash -c "! kill -0 $(cat "$1")" || true
  fi
}
restart_if_changed "$RUN/slurmdbd.pid"
if ! running "$RUN/slurmdbd.pid"; then
  slurmdbd || { show_log "$LOGS/slurmdbd.log"; die "slurmdbd did not start"; }
fi
wait_for 30 sacctmgr -n list cluster \
  || { show_log "$LOGS/slurmdbd.log"; die "slurmdbd does not answer"; }
if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]; then
  sacctmgr -i add cluster "$CLUSTER" >/dev/null
fi

restart_if_changed "$RUN/slurmctld.pid"
if ! running "$RUN/slurmctld.pid"; then
  slurmctld || { show_log "$LOGS/slurmctld.log"; die "slurmctld did not start"; }
fi
wait_for 30 scontrol ping || { show_log "$LOGS/slurmctld.log"; die "slurmctld does not answer"; }

restart_if_changed "$RUN/slurmd.pid"
if ! running "$RUN/slurmd.pid"; then
  slurmd -N "$NODE" || { show_log "$LOGS/slurmd.log"; die "slurmd did not start"; }
fi

# --- ready: the node is idle (or busy with jobs) and accounting answers -------------------------
node_ready() {
  local state
  state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1)"
  case "$state" in
    idle|mixed|allocated|completing) return 0 ;;
    down*|drain*|drained*)  # left down by an earlier run (e.g. slurmd killed): bring it back
      scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  return 1
}
wait_for "$WAIT_S" node_ready || {
  sinfo -N -l >&2 || true
  show_log "$LOGS/slurmd.log"
  show_log "$LOGS/slurmctld.log"
  die "node $NODE is not idle after ${WAIT_S}s"
}
wait_for 30 sacct -n -X -S now || die "sacct does not answer"
ELAPSED_MS=$(( $(date +%s%3N) - START_MS ))
say "up in $(( ELAPSED_MS / 1000 )).$(( ELAPSED_MS % 1000 / 100 )) s:" \
  "cluster $CLUSTER, partition $PARTITION, node $NODE ($CPUS CPUs, $MEM_MB MB${GRES:+, $GRES})"
