#!/usr/bin/env python3
"""The client side of scripts/load: many Varlink clients on one vserverd, and what the daemon looks like after.

Run by scripts/load once vserverd answers on --socket and the vservers named by --guests are configured (stopped).
It starts them all, runs a short warm-up of the same mix, measures the daemon (fds, threads, RSS), runs the load,
brings every vserver back to running, measures again, checks for leaks and prints the figures. Exit status 1 with
the reasons when a check failed.

Clients are real Varlink clients (JSON objects ended by NUL on the Unix socket), each on a connection of its own
held for the whole run, in worker processes of their own:
  - admin clients (root): Start, Stop, Get, List and `vserverctl exec NAME -- /bin/true` on random vservers;
  - reader clients: List and Get;
  - monitor clients: one Monitor subscription each, counting the state changes.
vserverd lets one uid hold at most ManagerLimits.connectionsPerUID (64) connections, and only root or its group
may change things: the admin clients (each with at most one exec, whose vserverctl opens a connection of its own)
stay below that as root; the readers and monitors run as unprivileged uids (group root, which may open the
socket), up to 60 per uid.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time

MANAGER = "io.vserverd.Manager"
# The errors a call may get because another client changed the vserver meanwhile (the IDL's AlreadyRunning and
# NotRunning; exec says "not running" as vserverctl does).
DOCUMENTED = {"Start": {"AlreadyRunning"}, "Stop": {"NotRunning"}, "exec": {"NotRunning"}}
ADMIN_MIX = [("Start", 30), ("Stop", 30), ("exec", 25), ("Get", 10), ("List", 5)]
READER_MIX = [("List", 40), ("Get", 60)]
PER_UID = 60
MAX_ADMINS = 28          # 28 connections + 28 vserverctl exec + this process's one: below 64
READER_UID = 61000


class CallError(Exception):
    def __init__(self, name, parameters):
        super().__init__("%s %s" % (name, json.dumps(parameters, sort_keys=True)))
        self.name = name


class Dropped(Exception):
    pass


def error_name(reply):
    name = reply["error"]
    return name[len(MANAGER) + 1:] if name.startswith(MANAGER + ".") else name


# ---- The coordinator's own calls: blocking ----

class SyncClient:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, method, parameters=None, more=False):
        message = {"method": "%s.%s" % (MANAGER, method), "parameters": parameters or {}}
        if more:
            message["more"] = True
        self.sock.sendall(json.dumps(message).encode() + b"\0")

    def receive(self):
        while b"\0" not in self.buffer:
            data = self.sock.recv(1 << 16)
            if not data:
                raise Dropped("connection closed by vserverd")
            self.buffer += data
        message, self.buffer = self.buffer.split(b"\0", 1)
        reply = json.loads(message)
        if "error" in reply:
            raise CallError(error_name(reply), reply.get("parameters", {}))
        return reply.get("parameters", {})

    def call(self, method, parameters=None):
        self.send(method, parameters)
        return self.receive()

    def close(self):
        self.sock.close()


# ---- Worker processes: asyncio clients ----

class Connection:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.opened = time.monotonic()
        self.calls = 0

    @classmethod
    async def open(cls, path):
        # connect() itself: asyncio takes EAGAIN, which on a Unix socket means that the listen queue is full, for
        # a connect in progress, and the first write then fails as if the daemon had dropped the connection.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 24)
        return cls(reader, writer)

    async def send(self, method, parameters=None, more=False):
        message = {"method": "%s.%s" % (MANAGER, method), "parameters": parameters or {}}
        if more:
            message["more"] = True
        self.writer.write(json.dumps(message).encode() + b"\0")
        await self.writer.drain()

    async def receive(self):
        try:
            message = await self.reader.readuntil(b"\0")
        except asyncio.IncompleteReadError:
            raise Dropped("connection closed by vserverd") from None
        reply = json.loads(message[:-1])
        if "error" in reply:
            raise CallError(error_name(reply), reply.get("parameters", {}))
        return reply

    async def call(self, method, parameters=None):
        await self.send(method, parameters)
        reply = await self.receive()
        self.calls += 1
        return reply.get("parameters", {})

    def close(self):
        self.writer.close()


class Stats:
    """Per operation kind: successes, errors by name, latencies (ms); successful starts and stops per vserver;
    the first failures as text."""

    def __init__(self):
        self.ops = {}
        self.starts = {}
        self.stops = {}
        self.failures = []
        self.failure_count = 0
        self.failure_kinds = {}

    def kind(self, kind):
        return self.ops.setdefault(kind, {"ok": 0, "errors": {}, "ms": []})

    def ok(self, kind, ms):
        entry = self.kind(kind)
        entry["ok"] += 1
        entry["ms"].append(ms)

    def error(self, kind, name, ms, text):
        entry = self.kind(kind)
        entry["errors"][name] = entry["errors"].get(name, 0) + 1
        entry["ms"].append(ms)
        if name not in DOCUMENTED.get(kind, ()):
            self.fail("%s: %s" % (kind, text), "%s: %s" % (kind, name))

    def fail(self, text, category=None):
        category = category or text
        self.failure_kinds[category] = self.failure_kinds.get(category, 0) + 1
        self.failure_count += 1
        if len(self.failures) < 20:
            self.failures.append(text)

    def as_json(self):
        return {"ops": self.ops, "starts": self.starts, "stops": self.stops, "failures": self.failures,
                "failure_count": self.failure_count, "failure_kinds": self.failure_kinds}


def pick(mix):
    return random.choices([kind for kind, _ in mix], weights=[weight for _, weight in mix])[0]


async def run_exec(args, name):
    """`vserverctl exec NAME -- /bin/true`: (error name or None, text)."""
    process = await asyncio.create_subprocess_exec(
        args.ctl, "exec", name, "--", "/bin/true", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    error = (await process.stderr.read()).decode(errors="replace").strip()
    status = await process.wait()
    if status == 0:
        return None, ""
    if status == 125 and "not running" in error:
        return "NotRunning", error
    return "exit %d" % status, "vserverctl exec %s: exit %d: %s" % (name, status, error)


async def client(args, role, phase, stats, connection_box):
    """One client's loop until phase's deadline; reconnects after a dropped connection (a failure)."""
    mix = ADMIN_MIX if role == "admin" else READER_MIX
    deadline = phase["deadline"]
    while time.monotonic() < deadline:
        if connection_box[0] is None:
            try:
                connection_box[0] = await Connection.open(args.socket)
            except OSError as error:
                stats.fail("connect: %s" % error, "connect: %s" % error.strerror)
                await asyncio.sleep(0.1)
                continue
        connection = connection_box[0]
        kind = pick(mix)
        name = random.choice(args.guests)
        began = time.monotonic()
        try:
            if kind == "exec":
                failure, text = await run_exec(args, name)
                ms = (time.monotonic() - began) * 1e3
                if failure is None:
                    stats.ok(kind, ms)
                else:
                    stats.error(kind, failure, ms, text)
                continue
            if kind == "List":
                reply = await connection.call("List")
                if len(reply["vservers"]) != len(args.guests):
                    stats.fail("List: %d vservers, not %d" % (len(reply["vservers"]), len(args.guests)))
            elif kind == "Get":
                reply = await connection.call("Get", {"name": name})
                if reply["vserver"]["name"] != name:
                    stats.fail("Get %s: got %s" % (name, reply["vserver"]["name"]))
            elif kind == "Start":
                reply = await connection.call("Start", {"name": name})
                if reply["vserver"]["state"] != "running":
                    stats.fail("Start %s: state %s" % (name, reply["vserver"]["state"]))
                stats.starts[name] = stats.starts.get(name, 0) + 1
            elif kind == "Stop":
                reply = await connection.call("Stop", {"name": name})
                if reply["vserver"]["state"] != "stopped":
                    stats.fail("Stop %s: state %s" % (name, reply["vserver"]["state"]))
                stats.stops[name] = stats.stops.get(name, 0) + 1
            stats.ok(kind, (time.monotonic() - began) * 1e3)
        except CallError as error:
            stats.error(kind, error.name, (time.monotonic() - began) * 1e3, "%s %s: %s" % (kind, name, error))
        except (Dropped, OSError) as error:
            stats.kind(kind)
            first = "first call" if connection.calls == 0 else "call %d" % (connection.calls + 1)
            stats.fail("%s %s: connection dropped: %s (%s, %.0f ms after connecting)" % (
                kind, name, error, first, (time.monotonic() - connection.opened) * 1e3),
                "%s: dropped (%s)" % (kind, error))
            connection.close()
            connection_box[0] = None


class Monitor:
    """One Monitor subscription: the state of every vserver as its replies say, and the changes counted."""

    def __init__(self):
        self.connection = None
        self.states = {}
        self.events = {}       # (name, state) -> count, after the first snapshot
        self.total = 0
        self.failure = None

    async def subscribe(self, args):
        self.connection = await Connection.open(args.socket)
        await self.connection.send("Monitor", more=True)
        while len(self.states) < len(args.guests):
            reply = await self.connection.receive()
            parameters = reply["parameters"]
            self.states[parameters["name"]] = parameters["state"]

    async def follow(self):
        try:
            while True:
                reply = await self.connection.receive()
                parameters = reply["parameters"]
                key = (parameters["name"], parameters["state"])
                self.states[parameters["name"]] = parameters["state"]
                self.events[key] = self.events.get(key, 0) + 1
                self.total += 1
                if not reply.get("continues"):
                    self.failure = "Monitor: a reply without continues"
                    return
        except asyncio.CancelledError:
            raise
        except (Dropped, OSError, CallError) as error:
            self.failure = "Monitor: %s" % error


async def read_line(reader):
    line = await reader.readline()
    if not line:
        raise SystemExit(0)
    return json.loads(line)


async def worker_main(args, role, count, monitors, control_fd, result_fd):
    loop = asyncio.get_running_loop()
    control = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(control), os.fdopen(control_fd, "rb"))
    result = os.fdopen(result_fd, "w", buffering=1)

    def send(message):
        result.write(json.dumps(message) + "\n")

    watchers = [Monitor() for _ in range(monitors)]
    try:
        await asyncio.gather(*(watcher.subscribe(args) for watcher in watchers))
    except (OSError, Dropped, CallError) as error:
        send({"failed": "Monitor subscription: %s" % error})
        return
    following = [asyncio.ensure_future(watcher.follow()) for watcher in watchers]
    boxes = [[None] for _ in range(count)]
    send({"ready": True})
    while True:
        message = await read_line(control)
        if "phase" in message:
            stats = Stats()
            await asyncio.gather(*(client(args, role, message, stats, box) for box in boxes))
            # Hung up between phases, so that the coordinator's figures count only the monitors' connections.
            for box in boxes:
                if box[0] is not None:
                    box[0].close()
                    box[0] = None
            send({"stats": stats.as_json()})
        elif "final" in message:
            # The monitors catch up with the states the coordinator saw last, or say what they missed.
            expected = message["final"]
            limit = time.monotonic() + 10
            while time.monotonic() < limit and any(w.states != expected and not w.failure for w in watchers):
                await asyncio.sleep(0.05)
            reports = []
            for watcher in watchers:
                differing = sorted(name for name in expected if watcher.states.get(name) != expected[name])
                reports.append({"events": {"%s %s" % key: n for key, n in watcher.events.items()},
                                "total": watcher.total, "failure": watcher.failure,
                                "differing": ["%s: %s, daemon says %s" % (name, watcher.states.get(name),
                                                                        expected[name]) for name in differing]})
            send({"monitors": reports})
        elif "exit" in message:
            for task in following:
                task.cancel()
            for watcher in watchers:
                watcher.connection.close()
            return


def spawn_worker(args, role, count, monitors, uid):
    """A forked worker process (as uid, group root, when uid is not None); its control and result pipes."""
    control_read, control_write = os.pipe()
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(control_write)
            os.close(result_read)
            if uid is not None:
                os.setgroups([])
                os.setgid(0)
                os.setuid(uid)
            random.seed(os.getpid())
            asyncio.run(worker_main(args, role, count, monitors, control_read, result_write))
        except BaseException as error:  # the coordinator sees the pipe close and reports it
            if not isinstance(error, SystemExit):
                print("load worker %d: %r" % (os.getpid(), error), file=sys.stderr)
                status = 1
        finally:
            os._exit(status)
    os.close(control_read)
    os.close(result_write)
    return {"pid": pid, "role": role, "count": count, "monitors": monitors, "uid": uid,
            "control": os.fdopen(control_write, "w", buffering=1), "result": os.fdopen(result_read, "r")}


def receive(worker, key):
    line = worker["result"].readline()
    if not line:
        raise RuntimeError("load worker %d (%s) ended early" % (worker["pid"], worker["role"]))
    message = json.loads(line)
    if "failed" in message:
        raise RuntimeError("load worker %d (%s): %s" % (worker["pid"], worker["role"], message["failed"]))
    return message[key]


# ---- The daemon, seen from /proc ----

def status_field(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def fd_kinds(pid):
    kinds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        kind = target.split(":", 1)[0] if ":" in target and not target.startswith("/") else target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def thread_names(pid):
    names = {}
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, task)) as f:
                name = f.read().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return names


def daemon_figures(pid):
    return {"fds": len(os.listdir("/proc/%d/fd" % pid)), "threads": status_field(pid, "Threads"),
            "rss_kib": status_field(pid, "VmRSS"), "fd_kinds": fd_kinds(pid), "thread_names": thread_names(pid)}


def settle(pid, seconds, like=None):
    """Waits until the daemon's fd and thread counts have not changed for a second, or with `like` (figures from
    before) until it has as many fds and at most as many threads: libdispatch's worker threads, which run the
    daemon's blocking work and its concurrency pool, end after 5 s idle. At most `seconds`."""
    limit = time.monotonic() + seconds
    last = None
    stable_since = time.monotonic()
    while time.monotonic() < limit:
        now = (len(os.listdir("/proc/%d/fd" % pid)), status_field(pid, "Threads"))
        if like is not None:
            if now[0] == like["fds"] and now[1] <= like["threads"]:
                break
        elif now != last:
            last = now
            stable_since = time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            break
        time.sleep(0.1)
    return daemon_figures(pid)


def proc_stat(pid):
    with open("/proc/%s/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[1])   # state, parent


def leaked_processes(daemon, guest_pids, ctl):
    """Children of vserverd other than the guests' PID 1s, and vserverctl processes still running."""
    leaked = []
    ctl = os.path.realpath(ctl)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state, parent = proc_stat(entry)
            exe = os.readlink("/proc/%s/exe" % entry) if parent != daemon else ""
        except OSError:
            continue
        if parent == daemon and int(entry) not in guest_pids:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            leaked.append("PID %s (child of vserverd, state %s): %s" % (entry, state, command))
        elif exe == ctl:
            leaked.append("PID %s: vserverctl still running" % entry)
    return leaked


def guest_processes(args, running):
    """Processes in the running guests' cgroups (cgroup2, below --cgroup-root) and the names whose count is not
    the expected one."""
    total = 0
    wrong = []
    for name in running:
        path = "%s/vserver-%s/cgroup.procs" % (args.cgroup_root, name)
        try:
            with open(path) as f:
                count = len(f.read().split())
        except OSError as error:
            wrong.append("%s: %s" % (name, error.strerror))
            continue
        total += count
        if count != args.processes_per_guest:
            wrong.append("%s: %d processes" % (name, count))
    return total, wrong


def mounts_under(paths):
    lines = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if any(point == path or point.startswith(path + "/") for path in paths):
                lines.append(line.strip())
    return lines


# ---- The run ----

def percentile(values, fraction):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(fraction * (len(values) - 1))))]


def merge(into, stats):
    for kind, entry in stats["ops"].items():
        target = into["ops"].setdefault(kind, {"ok": 0, "errors": {}, "ms": []})
        target["ok"] += entry["ok"]
        target["ms"].extend(entry["ms"])
        for name, count in entry["errors"].items():
            target["errors"][name] = target["errors"].get(name, 0) + count
    for field in ("starts", "stops"):
        for name, count in stats[field].items():
            into[field][name] = into[field].get(name, 0) + count
    into["failures"].extend(stats["failures"])
    into["failure_count"] += stats["failure_count"]
    for category, count in stats["failure_kinds"].items():
        into["failure_kinds"][category] = into["failure_kinds"].get(category, 0) + count


def empty_totals():
    return {"ops": {}, "starts": {}, "stops": {}, "failures": [], "failure_count": 0, "failure_kinds": {}}


def states_of(coordinator):
    return {v["name"]: v for v in coordinator.call("List")["vservers"]}


def restore(coordinator, args, counted):
    """Starts every vserver that is not running (counted as starts); returns the states after."""
    for name, vserver in sorted(states_of(coordinator).items()):
        if vserver["state"] != "running":
            coordinator.call("Start", {"name": name})
            counted[name] = counted.get(name, 0) + 1
    return states_of(coordinator)


def run_phase(workers, seconds, totals):
    deadline = time.monotonic() + seconds
    for worker in workers:
        worker["control"].write(json.dumps({"phase": True, "deadline": deadline}) + "\n")
    for worker in workers:
        merge(totals, receive(worker, "stats"))


def plan(clients):
    """admins, readers, monitors and how they are spread over the workers."""
    monitors = max(1, clients // 20)
    admins = max(1, min(MAX_ADMINS, clients * 3 // 20))
    readers = max(0, clients - admins - monitors)
    return admins, readers, monitors


def fmt_ms(value):
    if value is None:
        return "-"
    return "%.1f" % value if value < 100 else "%.0f" % value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--daemon-pid", type=int, required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--guests", required=True, help="comma-separated vserver names")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--cgroup-root", default="", help="the cgroup2 directory of the guests' cgroups")
    parser.add_argument("--processes-per-guest", type=int, default=2)
    parser.add_argument("--watch", action="append", default=[], help="a directory no host mount may be under")
    parser.add_argument("--report", default="")
    args = parser.parse_args()
    args.guests = args.guests.split(",")
    daemon = args.daemon_pid
    began = time.monotonic()
    problems = []
    mounts_before = mounts_under(args.watch)

    last = [began]

    def stage(text):
        now = time.monotonic()
        print("%5.1f s  %s (%.1f s)" % (now - began, text, now - last[0]), flush=True)
        last[0] = now

    coordinator = SyncClient(args.socket)
    counted_starts = {}
    started = time.monotonic()
    reply = coordinator.call("StartAll")
    if reply["failed"]:
        raise SystemExit("load: StartAll failed: %s" % "; ".join(reply["errors"][:5]))
    stage("started %d vservers" % len(reply["started"]))

    admins, readers, monitors = plan(args.clients)
    workers = [spawn_worker(args, "admin", admins, 0, None)]
    reader_uids = max(1, -(-(readers + monitors) // PER_UID))
    for i in range(reader_uids):
        count = readers // reader_uids + (1 if i < readers % reader_uids else 0)
        watching = monitors // reader_uids + (1 if i < monitors % reader_uids else 0)
        workers.append(spawn_worker(args, "reader", count, watching, READER_UID + i))
    for worker in workers:
        receive(worker, "ready")

    stage("workers ready (%d processes)" % len(workers))
    warmup = empty_totals()
    run_phase(workers, args.warmup, warmup)
    stage("warm-up")
    restore(coordinator, args, counted_starts)
    stage("all running again")
    before = settle(daemon, 10)
    stage("settled")

    totals = empty_totals()
    load_began = time.monotonic()
    run_phase(workers, args.seconds, totals)
    load_seconds = time.monotonic() - load_began
    stage("load")
    final = restore(coordinator, args, counted_starts)
    stage("all running again")
    final_states = {name: vserver["state"] for name, vserver in final.items()}
    for worker in workers:
        worker["control"].write(json.dumps({"final": final_states}) + "\n")
    monitor_reports = []
    for worker in workers:
        monitor_reports.extend(receive(worker, "monitors"))
    stage("monitors caught up")
    # Measured with the same connections open as before: the coordinator's and the monitors'.
    after = settle(daemon, 15, like=before)
    settled = time.monotonic()
    stage("settled")
    for worker in workers:
        worker["control"].write(json.dumps({"exit": True}) + "\n")
        worker["control"].close()
        os.waitpid(worker["pid"], 0)
    coordinator.close()

    # ---- Checks ----
    failures = warmup["failures"] + totals["failures"]
    if totals["failure_count"] + warmup["failure_count"]:
        kinds = dict(warmup["failure_kinds"])
        for category, count in totals["failure_kinds"].items():
            kinds[category] = kinds.get(category, 0) + count
        problems.append("%d undocumented errors or dropped connections (%s), first: %s" % (
            totals["failure_count"] + warmup["failure_count"],
            ", ".join("%s %d" % item for item in sorted(kinds.items(), key=lambda item: -item[1])[:8]),
            "; ".join(failures[:5])))
    running = sorted(name for name, state in final_states.items() if state == "running")
    if len(running) != len(args.guests):
        problems.append("only %d of %d vservers running after the load" % (len(running), len(args.guests)))
    # Every successful Start is one "running" change and every Stop one "stopped" change in each monitor.
    all_starts = dict(counted_starts)
    all_stops = {}
    for source in (warmup, totals):
        for name, count in source["starts"].items():
            all_starts[name] = all_starts.get(name, 0) + count
        for name, count in source["stops"].items():
            all_stops[name] = all_stops.get(name, 0) + count
    monitor_events = 0
    for number, report in enumerate(monitor_reports):
        monitor_events += report["total"]
        if report["failure"]:
            problems.append("monitor %d: %s" % (number, report["failure"]))
        if report["differing"]:
            problems.append("monitor %d ends with other states than List: %s" % (
                number, "; ".join(report["differing"][:5])))
        for name in args.guests:
            for state, expected in (("running", all_starts.get(name, 0)), ("stopped", all_stops.get(name, 0))):
                seen = report["events"].get("%s %s" % (name, state), 0)
                if seen != expected:
                    problems.append("monitor %d saw %d %s changes of %s, but %d calls succeeded" % (
                        number, seen, state, name, expected))
    if before["fds"] != after["fds"]:
        problems.append("vserverd fds %d -> %d (%s -> %s)" % (before["fds"], after["fds"],
                                                              before["fd_kinds"], after["fd_kinds"]))
    if after["threads"] > before["threads"]:
        problems.append("vserverd threads %d -> %d (%s -> %s)" % (before["threads"], after["threads"],
                                                                  before["thread_names"], after["thread_names"]))
    if after["rss_kib"] > before["rss_kib"] + 5 * 1024:
        problems.append("vserverd RSS %.1f -> %.1f MB (more than 5 MB more)" % (
            before["rss_kib"] / 1024, after["rss_kib"] / 1024))
    guest_pids = {vserver["pid"] for vserver in final.values() if vserver.get("pid")}
    leaked = leaked_processes(daemon, guest_pids, args.ctl)
    if args.cgroup_root:
        in_guests, wrong = guest_processes(args, running)
        expected_in_guests = args.processes_per_guest * len(running)
        if wrong:
            problems.append("processes in the guests' cgroups: %s" % "; ".join(wrong[:5]))
    else:
        in_guests, expected_in_guests = None, None
    mounts_after = mounts_under(args.watch)
    new_mounts = [line for line in mounts_after if line not in mounts_before]
    if leaked:
        problems.append("leaked processes: %s" % "; ".join(leaked[:5]))
    if new_mounts:
        problems.append("leaked mounts: %s" % "; ".join(new_mounts[:5]))

    # ---- Figures ----
    calls = sum(entry["ok"] + sum(entry["errors"].values()) for entry in totals["ops"].values())
    documented = {}
    for kind, entry in totals["ops"].items():
        for name, count in entry["errors"].items():
            if name in DOCUMENTED.get(kind, ()):
                documented[name] = documented.get(name, 0) + count
    other = totals["failure_count"]   # undocumented errors, dropped connections, wrong replies
    load1 = os.getloadavg()[0]
    print("\n== load: %d clients (%d admin as root, %d readers and %d monitors over %d uids) x %.0f s on %d "
          "vservers ==" % (args.clients, admins, readers, monitors, reader_uids, load_seconds, len(args.guests)))
    print("%-6s %8s %8s %9s %9s %9s  %s" % ("call", "ok", "errors", "per s", "p50 ms", "p99 ms", "errors by name"))
    for kind in ("List", "Get", "Start", "Stop", "exec"):
        entry = totals["ops"].get(kind)
        if not entry:
            continue
        errors = sum(entry["errors"].values())
        print("%-6s %8d %8d %9.1f %9s %9s  %s" % (
            kind, entry["ok"], errors, (entry["ok"] + errors) / load_seconds, fmt_ms(percentile(entry["ms"], 0.5)),
            fmt_ms(percentile(entry["ms"], 0.99)),
            ", ".join("%s %d" % item for item in sorted(entry["errors"].items())) or "-"))
    print("Monitor: %d subscriptions, %d state changes seen in all (%d each on average)" % (
        len(monitor_reports), monitor_events, monitor_events // max(1, len(monitor_reports))))
    print("calls: %d (%.0f/s), errors: %d documented (%s), %d other" % (
        calls, calls / load_seconds, sum(documented.values()),
        ", ".join("%s %d" % item for item in sorted(documented.items())) or "none", other))
    print("vserverd fds %d -> %d, threads %d -> %d, RSS %.1f -> %.1f MB (before: after start and warm-up; after: "
          "all running again and settled)" % (before["fds"], after["fds"], before["threads"], after["threads"],
                                              before["rss_kib"] / 1024, after["rss_kib"] / 1024))
    if in_guests is not None:
        print("processes in the guests' cgroups: %d (expected %d for %d running)" % (
            in_guests, expected_in_guests, len(running)))
    print("leaked processes: %d, leaked mounts: %d" % (len(leaked), len(new_mounts)))
    print("machine load average (1 min): %.1f on %d CPUs; wall time of the driver %.1f s" % (
        load1, os.cpu_count(), settled - began))

    def latency(kind):
        entry = totals["ops"].get(kind, {"ms": []})
        return "%s p50 %s ms p99 %s ms" % (kind, fmt_ms(percentile(entry["ms"], 0.5)),
                                           fmt_ms(percentile(entry["ms"], 0.99)))
    summary = ("load: %d clients x %.0f s on %d guests: %d calls, %s, %s, errors: %d documented (%s), %d other; "
               "fds %d->%d, threads %d->%d, RSS %.1f->%.1f MB; leaks %d; load avg %.1f" % (
                   args.clients, load_seconds, len(args.guests), calls, latency("List"), latency("Start"),
                   sum(documented.values()), ", ".join("%s %d" % i for i in sorted(documented.items())) or "none",
                   other, before["fds"], after["fds"], before["threads"], after["threads"],
                   before["rss_kib"] / 1024, after["rss_kib"] / 1024, len(leaked) + len(new_mounts), load1))
    if problems:
        summary += "; FAILED: " + problems[0]
    if args.report:
        with open(args.report, "a") as f:
            f.write(summary + "\n")
    if problems:
        print("\nFAILED:", file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
