#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, to try the pipeline's slurm profile
# (and for tests/pipeline/test_slurm.py). Needs root and the Debian/Ubuntu packages
#     apt-get install -y slurmctld slurmd slurm-client munge
#
#   scripts/slurm-local.sh start     write a slurm.conf (this host = the only node, all
#                                    its CPUs, no accounting) and start munged (unless one
#                                    runs), slurmctld and slurmd; wait until the node is idle
#   scripts/slurm-local.sh status    the daemons this script started, sinfo, squeue
#   scripts/slurm-local.sh stop      stop exactly those daemons (by their pid files) and
#                                    remove the slurm.conf written by start
#
# The configuration goes to /etc/slurm/slurm.conf, where every SLURM command (and srun
# inside a job, which the slurm plugin runs without $SLURM_CONF) looks for it; start
# refuses to overwrite one it did not write. State, logs and pid files live in
# $SLURM_LOCAL_DIR (default /tmp/rnnbench-slurm). Then, for example:
#   snakemake --profile workflows/profiles/slurm --slurm-no-account --slurm-status-command squeue
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/rnnbench-slurm}
CONF=${SLURM_LOCAL_CONF:-/etc/slurm/slurm.conf}
MARK="# Written by scripts/slurm-local.sh"
NODE=$(hostname -s)
CTLD_PORT=${SLURM_LOCAL_PORT:-6817}
MUNGE_SOCKET=/run/munge/munge.socket.2

die() { echo "slurm-local: $*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    if [ -f "$CONF" ] && ! head -n 1 "$CONF" | grep -qF "$MARK"; then
        die "$CONF exists and was not written by this script: use that cluster, or move it away"
    fi
    mkdir -p "$DIR/state" "$DIR/spool" "$(dirname "$CONF")"
    cat > "$CONF" <<EOF
$MARK: one node ($NODE), no accounting.
ClusterName=rnnbench-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$((CTLD_PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# squeue shows a finished job this long; the slurm plugin's squeue status needs it
MinJobAge=300
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    if [ -S "$MUNGE_SOCKET" ] && munge -n </dev/null >/dev/null 2>&1; then
        return   # a munged already answers: use it, and leave it running at stop
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    else
        munged --force --pid-file=/run/munge/munged.pid
    fi
    cp /run/munge/munged.pid "$DIR/munged.pid"
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && return; sleep 0.1; done
    die "munged did not answer"
}

start() {
    [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root)"
    for cmd in munged munge slurmctld slurmd sinfo sbatch squeue; do
        command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install -y slurmctld slurmd slurm-client munge"
    done
    if pid_alive "$DIR/slurmctld.pid"; then
        echo "slurm-local: already running (scripts/slurm-local.sh stop first)"; return
    fi
    mkdir -p "$DIR"
    write_conf
    start_munge
    slurmctld -f "$CONF" -c          # -c: a clean start, no jobs from a previous run
    slurmd -f "$CONF"
    for _ in $(seq 100); do
        state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
        case "$state" in
            idle*|mix*|alloc*) echo "slurm-local: node $NODE up ($state), config $CONF"; return ;;
            down*|drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.2
    done
    die "node $NODE did not come up; see $DIR/slurmctld.log and $DIR/slurmd.log"
}

stop_pid() {   # stop_pid NAME PIDFILE: TERM, then KILL after 10 s
    local name=$1 file=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "slurm-local: stopped $name ($pid)"
    fi
    rm -f "$file"
}

stop() {
    if pid_alive "$DIR/slurmctld.pid"; then   # cancel what is left, so no job outlives us
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    fi
    stop_pid slurmd "$DIR/slurmd.pid"
    stop_pid slurmctld "$DIR/slurmctld.pid"
    stop_pid munged "$DIR/munged.pid"
    # a slurm.conf naming a stopped controller makes every SLURM command wait for it
    if [ -f "$CONF" ] && head -n 1 "$CONF" | grep -qF "$MARK"; then rm -f "$CONF"; fi
}

status() {
    local any=0
    for d in munged slurmctld slurmd; do
        if pid_alive "$DIR/$d.pid"; then echo "$d: running ($(cat "$DIR/$d.pid"))"; any=1
        else echo "$d: not started by this script"; fi
    done
    if [ $any = 1 ] && pid_alive "$DIR/slurmctld.pid"; then
        sinfo
        squeue
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
