#!/usr/bin/env bash
# Single-node SLURM harness for tests and CI (Debian, root, no systemd).
#
#   slurm.sh install            install slurmctld slurmd slurm-client munge (idempotent)
#   slurm.sh start STATE_DIR    write munge key + /etc/slurm/slurm.conf, start munged,
#                               slurmctld, slurmd; wait until the node is idle
#   slurm.sh stop STATE_DIR     stop the daemons by the PIDs recorded in STATE_DIR/*.pid
#
# Environment: SLURM_WAIT_S (default 30) bounds the wait for the node to become idle.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF_TEMPLATE="$HERE/slurm.conf.in"
SLURM_CONF=/etc/slurm/slurm.conf
MUNGE_KEY=/etc/munge/munge.key
MUNGE_SOCKET_DIR=/run/munge
WAIT_S="${SLURM_WAIT_S:-30}"
DAEMONS=(slurmd slurmctld munged)   # stop order

log() { echo "slurm.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }

have_all() {
    local b
    for b in slurmctld slurmd sbatch munged; do
        command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || return 1
    done
}

cmd_install() {
    need_root
    export PATH="$PATH:/usr/sbin:/sbin"
    if have_all; then
        log "slurm and munge already installed"
        return 0
    fi
    local policy=/usr/sbin/policy-rc.d had_policy=0
    if [ -e "$policy" ]; then
        had_policy=1
        cp -a "$policy" "$policy.slurmsh-bak"
    fi
    # Block service start-up by the package scripts while installing.
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    restore_policy() {
        if [ "$had_policy" = 1 ]; then mv -f "$policy.slurmsh-bak" "$policy"; else rm -f "$policy"; fi
    }
    trap restore_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get update -qq
    log "apt-get install slurmctld slurmd slurm-client munge"
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        slurmctld slurmd slurm-client munge >/dev/null
    restore_policy
    trap - EXIT
    have_all || die "install finished but binaries are missing"
    log "installed: $(dpkg-query -W -f '${Package} ${Version} ' slurmctld slurmd slurm-client munge)"
}

# True if PID exists and is not a zombie (an exited daemon stays a zombie until
# PID 1 reaps it, which can take seconds in containers/VMs).
alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Print the PID recorded in STATE_DIR/NAME.pid if that process is alive.
live_pid() {
    local f="$1/$2.pid" pid
    [ -s "$f" ] || return 1
    pid="$(tr -dc '0-9' <"$f")"
    [ -n "$pid" ] && alive "$pid" || return 1
    # Guard against a stale pid file whose PID now belongs to another process.
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    echo "$pid"
}

show_logs() {
    local state="$1" f
    for f in "$state"/log/*.log /var/log/munge/munged.log; do
        [ -e "$f" ] || continue
        echo "===== $f (last 60 lines) =====" >&2
        tail -n 60 "$f" >&2 || true
    done
    echo "===== sinfo =====" >&2
    sinfo -N -l >&2 2>&1 || true
}

write_conf() {
    local state="$1" host cpus memkb memmb headroom realmem
    host="$(hostname -s)"
    cpus="$(nproc)"
    memkb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    memmb=$((memkb / 1024))
    # Leave 10% (at least 512 MB) so slurmd never sees less memory than configured.
    headroom=$((memmb / 10))
    [ "$headroom" -lt 512 ] && headroom=512
    realmem=$((memmb - headroom))
    [ "$realmem" -lt 1000 ] && realmem=1000
    mkdir -p "$(dirname "$SLURM_CONF")"
    sed -e "s|@HOSTNAME@|$host|g" -e "s|@CPUS@|$cpus|g" \
        -e "s|@REALMEM@|$realmem|g" -e "s|@STATE_DIR@|$state|g" \
        "$CONF_TEMPLATE" >"$SLURM_CONF.tmp"
    mv -f "$SLURM_CONF.tmp" "$SLURM_CONF"
    chmod 644 "$SLURM_CONF"
    log "wrote $SLURM_CONF (NodeName=$host CPUs=$cpus RealMemory=$realmem)"
}

start_munged() {
    local state="$1" pid
    if pid="$(live_pid "$state" munged)"; then
        log "munged already running (pid $pid)"
        return 0
    fi
    if [ ! -s "$MUNGE_KEY" ]; then
        log "creating $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge "$MUNGE_KEY" /etc/munge
    chmod 400 "$MUNGE_KEY"
    chmod 700 /etc/munge
    # /run/munge is normally created by systemd-tmpfiles; do it by hand.
    mkdir -p "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
    chown munge:munge "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
    chmod 755 "$MUNGE_SOCKET_DIR"
    chmod 700 /var/lib/munge /var/log/munge
    local munge_pidfile="$MUNGE_SOCKET_DIR/munged.pid"
    rm -f "$munge_pidfile"
    # munged daemonizes and writes its own pid file; it must run as the munge user.
    runuser -u munge -- /usr/sbin/munged --pid-file="$munge_pidfile" \
        --log-file=/var/log/munge/munged.log \
        || { show_logs "$state"; die "munged failed to start"; }
    local i
    for i in $(seq 1 50); do
        [ -s "$munge_pidfile" ] && break
        sleep 0.1
    done
    [ -s "$munge_pidfile" ] || { show_logs "$state"; die "munged wrote no pid file"; }
    cp "$munge_pidfile" "$state/munged.pid"
    munge -n | unmunge >/dev/null || { show_logs "$state"; die "munge round trip failed"; }
    log "munged started (pid $(cat "$state/munged.pid"))"
}

# Start a slurm daemon that daemonizes and writes STATE_DIR/NAME.pid (set in slurm.conf).
start_slurm_daemon() {
    local state="$1" name="$2"; shift 2
    local pid i
    if pid="$(live_pid "$state" "$name")"; then
        log "$name already running (pid $pid)"
        return 0
    fi
    rm -f "$state/$name.pid"
    "/usr/sbin/$name" "$@" || { show_logs "$state"; die "$name failed to start"; }
    for i in $(seq 1 100); do
        live_pid "$state" "$name" >/dev/null && break
        sleep 0.1
    done
    pid="$(live_pid "$state" "$name")" || { show_logs "$state"; die "$name is not running"; }
    log "$name started (pid $pid)"
}

cmd_start() {
    need_root
    export PATH="$PATH:/usr/sbin:/sbin"
    [ $# -eq 1 ] || die "usage: slurm.sh start STATE_DIR"
    have_all || die "slurm is not installed; run: $0 install"
    mkdir -p "$1"
    local state
    state="$(cd "$1" && pwd)"
    mkdir -p "$state/slurmctld" "$state/slurmd" "$state/log"
    chmod 755 "$state" "$state/log"
    if ! live_pid "$state" slurmctld >/dev/null && [ -s "$SLURM_CONF" ] \
        && timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; then
        die "a slurmctld not started from $state is already running; stop it first"
    fi
    write_conf "$state"
    start_munged "$state"
    start_slurm_daemon "$state" slurmctld -i
    start_slurm_daemon "$state" slurmd

    local host deadline state_str
    host="$(hostname -s)"
    deadline=$((SECONDS + WAIT_S))
    while :; do
        state_str="$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n1 || true)"
        case "$state_str" in
            idle|mixed|allocated) break ;;
            *drain*|*down*)
                # A restarted node can come back DOWN; resume it.
                scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_logs "$state"
            die "node $host not idle after ${WAIT_S}s (state: '${state_str:-none}')"
        fi
        sleep 0.5
    done
    log "node $host is $state_str"
}

cmd_stop() {
    [ $# -eq 1 ] || die "usage: slurm.sh stop STATE_DIR"
    local state="$1" name pid pids=() i
    [ -d "$state" ] || { log "no state dir $state; nothing to stop"; return 0; }
    for name in "${DAEMONS[@]}"; do
        if pid="$(live_pid "$state" "$name")"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            # slurmd before slurmctld before munged: wait for each in turn.
            for i in $(seq 1 100); do
                alive "$pid" || break
                sleep 0.1
            done
            if alive "$pid"; then
                log "$name (pid $pid) did not exit; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 0.2
            fi
        fi
        rm -f "$state/$name.pid"
    done
    for pid in "${pids[@]}"; do
        alive "$pid" && die "pid $pid still alive"
    done
    log "stopped"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 {install|start STATE_DIR|stop STATE_DIR}" >&2; exit 2 ;;
esac
