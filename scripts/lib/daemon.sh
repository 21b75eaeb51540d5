# shellcheck shell=sh disable=SC2154  # bin is set by the script that sources this file
# Sourced by scripts/load: a vserverd of the script's own, in its own temporary config, state, log and socket
# directories with the guests' cgroups below a cgroup of its own, and its teardown for the script's exit trap.
# The script sets bin (where vserverd and vserverctl are) and VSERVERD_SOCKET first.

daemon_pid=""

# daemon_cgroups PARENT: cgroup2 (the cgroup2 mount, or empty) and daemon_cgroup_dirs, every directory PARENT may
# become: in the cgroup2 hierarchy, and on a hybrid host in systemd's v1 one (name=systemd) and the v1 pids one,
# where vserverd puts the guests' pids limits.
daemon_cgroups() {
    cgroup2=""
    for dir in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        [ "$(stat -f -c %T "$dir" 2>/dev/null)" = cgroup2fs ] && { cgroup2=$dir; break; }
    done
    daemon_cgroup_dirs=${cgroup2:+$cgroup2$1}
    for hierarchy in systemd pids; do
        [ "$(stat -f -c %T "/sys/fs/cgroup/$hierarchy" 2>/dev/null)" = cgroupfs ] &&
            daemon_cgroup_dirs="$daemon_cgroup_dirs /sys/fs/cgroup/$hierarchy$1"
    done
    return 0
}

# start_daemon LOG-FILE VSERVERD-OPTION...: vserverd on $VSERVERD_SOCKET; waits (20 s at most) until it answers.
# In a session of its own: a Ctrl-C for the script does not stop it before stop_daemon has stopped the guests.
start_daemon() {
    log_file=$1
    shift
    setsid "$bin/vserverd" --socket "$VSERVERD_SOCKET" "$@" >>"$log_file" 2>&1 &
    daemon_pid=$!
    i=0
    until "$bin/vserverctl" list >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 400 ] || ! kill -0 "$daemon_pid" 2>/dev/null; then
            echo "vserverd did not come up:" >&2
            tail -n 20 "$log_file" >&2
            return 1
        fi
        sleep 0.05
    done
}

# stop_daemon STATE-DIR: stops the guests through the daemon (it reaps them: PID 1 of this host may not), kills
# what still runs by the PID its state file names (only when the start time matches too), then the daemon.
stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    if kill -0 "$daemon_pid" 2>/dev/null; then
        "$bin/vserverctl" stop --all >/dev/null 2>&1 || true
        for file in "$1"/*.json; do
            [ -f "$file" ] || continue
            python3 - "$file" <<'EOF' || true
import json, os, signal, sys
record = json.load(open(sys.argv[1]))
try:
    stat = open("/proc/%d/stat" % record["pid"]).read()
except OSError:
    sys.exit(0)
if int(stat[stat.rindex(")") + 2:].split()[19]) == record["startTime"]:
    os.kill(record["pid"], signal.SIGKILL)
EOF
        done
        i=0
        while ls "$1"/*.json >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
        kill -TERM "$daemon_pid" 2>/dev/null || true
    fi
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
}

# remove_cgroup DIR: the cgroup and every cgroup below it, deepest first. A cgroup stays busy for a moment after
# its last process has ended: retried for a second. Fails when it is still there.
remove_cgroup() {
    i=0
    while [ -d "$1" ] && [ $i -le 20 ]; do
        find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.05
        i=$((i + 1))
    done
    [ ! -d "$1" ] || { echo "could not remove the cgroup $1 (processes left in it?)" >&2; return 1; }
}
