#!/usr/bin/env bash
# slurm-ci.sh — bring up / tear down a real single-node Slurm cluster for CI (and for trying the
# SLURM profile on one machine). Debian 12 (bookworm), run as root; needs neither systemd nor
# cgroups. Tested recipe: shared/reference/slurm-local-cluster.md §5.
#
#   bash scripts/slurm-ci.sh up      # install Debian's Slurm 22.05 (if needed), configure, start, smoke-test
#   bash scripts/slurm-ci.sh down    # stop the daemons this script started (by recorded PID), wipe state
#
# Then, from the repository root (see tests/workflow/test_workflow_slurm.py for the full command):
#   SPECNORM_SLURM_PARTITION=debug SPECNORM_SLURM_ACCOUNT=root \
#   timeout -s INT -k 30 1200 .venv/bin/snakemake --profile profiles/slurm \
#     --slurm-init-seconds-before-status-checks 1 --set-threads train=1 score=1 score_real=1 \
#     --set-resources train:gpu=0 score:gpu=0 score_real:gpu=0 train:mem_mb=1500 score:mem_mb=1500
#
# Env knobs:
#   SLURM_CI_ACCOUNTING=1   (default) slurmdbd + a private MariaDB, so `sacct` and account checks work.
#   SLURM_CI_ACCOUNTING=0   no accounting: `sacct` fails, so snakemake must poll with squeue
#                           (profiles/slurm does: slurm-status-command: squeue).
#   SLURM_CI_DIR            state, logs and pid files (default $PWD/.slurm-ci; must be readable by
#                           the mysql user, so not under a private temporary directory).
#   SLURM_CI_PARTITION      partition name (default debug).
#   SLURM_CI_KEEP_LOGS=DIR  `down` copies the daemons' logs there before wiping the state.
set -euo pipefail

MODE=${1:-up}
ACCT=${SLURM_CI_ACCOUNTING:-1}
D=${SLURM_CI_DIR:-$PWD/.slurm-ci}
PART=${SLURM_CI_PARTITION:-debug}
CLUSTER=cicluster
DBPORT=3307           # private MariaDB on loopback only
PIDS=$D/pids          # "name pid" per line, in start order

log() { echo "[slurm-ci $(date +%T)] $*" >&2; }

wait_for() {  # wait_for <seconds> <description> <command...>
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= end )); then log "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}

start_bg() {  # start_bg <name> <logfile> <command...>  (the command must stay in the foreground)
  local name=$1 logf=$2; shift 2
  nohup "$@" >>"$logf" 2>&1 </dev/null &
  echo "$name $!" >>"$PIDS"
  log "started $name pid $!"
}

alive() {  # running and not a zombie (daemons are re-parented to PID 1, which may reap late)
  local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $st && $st != Z* ]]
}

reap_job_orphans() {
  # Processes of this cluster's jobs that outlived their job: without cgroups (proctrack/linuxproc)
  # Slurm loses a job process once it is re-parented to PID 1, e.g. a Snakemake job step that
  # handles the SIGTERM of scancel and then never exits. They carry SLURM_CLUSTER_NAME=$CLUSTER.
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [[ $pid == "$$" || $pid == "$PPID" ]] && continue
    if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx "SLURM_CLUSTER_NAME=$CLUSTER"; then
      kill -KILL "$pid" 2>/dev/null && log "killed leftover job process $pid"
    fi
  done
  return 0
}

stop_all() {
  [[ -f $PIDS ]] || { log "no pid file $PIDS; nothing to stop"; return 0; }
  # cancel leftover jobs so that no slurmstepd or job process outlives the cluster
  if grep -q '^slurmctld ' "$PIDS"; then
    timeout 10 scancel -p "$PART" 2>/dev/null || true
    for _ in $(seq 1 50); do [[ -z $(squeue -h -t R,CG,PD 2>/dev/null) ]] && break; sleep 0.2; done
  fi
  reap_job_orphans
  # stop in reverse start order, each by its recorded PID (never by name)
  tac "$PIDS" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
      if alive "$pid"; then log "$name ($pid) ignored TERM; KILL"; kill -KILL "$pid" || true; fi
      log "stopped $name ($pid)"
    fi
  done
  rm -f "$PIDS"
}

case $MODE in
down)
  stop_all
  if [[ -n ${SLURM_CI_KEEP_LOGS:-} && -d $D/log ]]; then
    mkdir -p "$SLURM_CI_KEEP_LOGS" && cp -r "$D/log/." "$SLURM_CI_KEEP_LOGS/"
  fi
  rm -rf "$D" /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf
  exit 0 ;;
up) ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

[[ $(id -u) == 0 ]] || { echo "must run as root" >&2; exit 1; }
if [[ -f $PIDS ]]; then log "previous run found; stopping it first"; stop_all; fi
rm -rf "$D"; mkdir -p "$D"/{log,ctld,slurmd}
trap 'log "bring-up FAILED (see $D/log)"; stop_all' ERR

# ---- 1. packages (Debian's own; --no-install-recommends avoids ~40 unneeded ones) ------------
PKGS=(slurmctld slurmd slurm-client munge)
(( ACCT )) && PKGS+=(slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if (( ${#missing[@]} )); then
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null
  # no init system: the postinst 'start' is denied by policy-rc.d, which is what we want
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$D/log/apt.log"
fi

HOST=$(hostname -s)
getent hosts "$HOST" >/dev/null || echo "127.0.0.1 $HOST" >>/etc/hosts
NCPU=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 ))
REAL_MB=$(( MEM_MB - 1024 ))                      # a bit under the actual
DEF_MEM=$(( REAL_MB / NCPU ))

# ---- 2. munge ------------------------------------------------------------------------------
[[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 755 /run/munge
# setpriv execs (no fork), so $! is munged itself; -F = foreground
start_bg munged "$D/log/munged.out" setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
wait_for 20 munged bash -c "munge -n | unmunge"

# ---- 3. slurm.conf ---------------------------------------------------------------------------
if (( ACCT )); then
  ACCT_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
  ACCT_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
mkdir -p /etc/slurm
cat >/etc/slurm/slurm.conf <<EOF
# generated by slurm-ci.sh — single node, no cgroups, no systemd
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it runs again (default 120): 20 keeps CI short
AuthInfo=cred_expire=20
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/slurmd
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
$ACCT_CONF
JobCompType=jobcomp/none
# keep finished jobs visible to squeue for 5 min (the plugin needs >= 3x its first poll delay)
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
DefMemPerCPU=$DEF_MEM
NodeName=$HOST CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$REAL_MB State=UNKNOWN
PartitionName=$PART Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# ---- 4. accounting: private MariaDB + slurmdbd ----------------------------------------------
if (( ACCT )); then
  mkdir -p "$D/mysql" "$D/mysqlrun"; chown mysql:mysql "$D/mysql" "$D/mysqlrun"
  mariadb-install-db --user=mysql --datadir="$D/mysql" --auth-root-authentication-method=socket \
    --skip-test-db >"$D/log/mariadb-install.log" 2>&1
  start_bg mariadbd "$D/log/mariadbd.out" /usr/sbin/mariadbd --no-defaults --user=mysql \
    --datadir="$D/mysql" --socket="$D/mysqlrun/mysql.sock" --pid-file="$D/mysqlrun/mariadbd.pid" \
    --bind-address=127.0.0.1 --port=$DBPORT --log-error="$D/mysqlrun/mariadbd.log" \
    --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900
  wait_for 60 mariadbd mariadb-admin --socket="$D/mysqlrun/mysql.sock" ping
  mariadb --socket="$D/mysqlrun/mysql.sock" -e "CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmci';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$D/log/slurmdbd.log
PidFile=$D/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmci
EOF
  chmod 600 /etc/slurm/slurmdbd.conf
  start_bg slurmdbd "$D/log/slurmdbd.out" /usr/sbin/slurmdbd -D
  wait_for 60 slurmdbd sacctmgr -n list cluster
  # slurm.conf must already name accounting_storage/slurmdbd; this also creates account root / user root
  sacctmgr -i add cluster "$CLUSTER" >/dev/null
fi

# ---- 5. slurmctld + slurmd -------------------------------------------------------------------
start_bg slurmctld "$D/log/slurmctld.out" /usr/sbin/slurmctld -D -i
wait_for 60 slurmctld scontrol ping
start_bg slurmd "$D/log/slurmd.out" /usr/sbin/slurmd -D
wait_for 60 "node $HOST idle" bash -c "sinfo -h -n $HOST -o %t | grep -qx idle"

# ---- 6. smoke test ---------------------------------------------------------------------------
out=$(srun -p "$PART" -t 1 hostname)
[[ $out == "$HOST" ]] || { log "srun smoke test failed: $out"; exit 1; }
log "cluster up: partition=$PART node=$HOST cpus=$NCPU mem=${REAL_MB}M accounting=$ACCT"
sinfo >&2
