"""Process control for the end-to-end tests: sipline under test, SIPp, temp folders, ports.

Every process is started in its own session (process group) and killed with its group when
the test ends, whatever the outcome. Every wait has a deadline.

The same tests run in two modes (NET below): socket mode, everything on 127.0.0.1; DPDK mode
(run_dpdk_e2e.sh), where sipline runs in its own network namespace with io = "dpdk" on one
end of a veth pair and owns 10.99.0.1, while this driver, SIPp and the Python agents run in
the peer namespace on 10.99.0.2.
"""

import csv
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import sipmsg

READY_LINE = "sipline: ready"
COUNTER_LINE = re.compile(r"^worker (\d+): (.*)$")


_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when the driver dies (ctest's timeout kills the
    driver with SIGKILL, which no cleanup code survives)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(command, **kwargs):
    """Popen in a new session (its own process group, killed as a group) tied to our life."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent,
                            **kwargs)


class TestFailure(Exception):
    """An assertion of a test failed; the message says what was expected and seen."""


def check(condition, message):
    if not condition:
        raise TestFailure(message)


class Network:
    """Where the proxy and the test's own agents live, and how sipline is started."""

    def __init__(self):
        self.mode = "socket"
        self.proxy_host = "127.0.0.1"   # sipline's listen address
        self.client_host = "127.0.0.1"  # SIPp, the Python agents and UAS bind here
        # A second host for a server that must not share the phones' address (the privacy
        # test: trust is by IP address, RFC 3325 §5). Loopback holds all of 127/8.
        self.server_host = "127.0.0.2"
        self.sipline_prefix = []        # command prefix that starts sipline
        self.max_workers = None         # a cap on [dataplane] workers (None: as asked)
        self.dataplane = {}             # extra [dataplane] keys (DPDK: eal, port, address)
        self.dpdk_netns = None          # DPDK: the network namespace sipline runs in
        self.proxy_host6 = "::1"        # sipline's IPv6 address (ipv6_calls)
        self.client_host6 = "::1"       # where the test's IPv6 agents bind

    @property
    def dpdk(self):
        return self.mode == "dpdk"


NET = Network()

# DPDK mode, as run_dpdk_e2e.sh wires it (tests/e2e/README.md). net_pcap rather than
# net_af_packet: af_packet sockets join a kernel fanout group with PACKET_FANOUT_FLAG_DEFRAG,
# so the kernel reassembles fragments before DPDK sees them (and a 4 KB datagram then no
# longer fits af_packet's 2 KB frames); pcap shows the wire as it is. One TX queue per worker
# plus the control lcore's: two tx_iface entries for one worker.
DPDK_ADDRESS = "10.99.0.1"
DPDK_PEER_ADDRESS = "10.99.0.2"
DPDK_PEER_SERVER_ADDRESS = "10.99.0.3"  # the peer's second address (NET.server_host)
# The dataplane's address6 and the peer's IPv6 address on the same /64 (documentation prefix,
# RFC 3849), for the IPv6 test; run_dpdk_e2e.sh gives the peer its address.
DPDK_ADDRESS6 = "2001:db8:99::1"
DPDK_PEER_ADDRESS6 = "2001:db8:99::2"
# The peer as the dataplane's IPv6 router (its link-local address, [dataplane] gateway6) and
# an address of its own behind that router, off the dataplane's /64 (ipv6_gateway).
DPDK_GATEWAY6 = "fe80::fe"
DPDK_BEHIND_GATEWAY6 = "2001:db8:98::7"
DPDK_INTERFACE = "veth-dp"


def configure_network(mode, dpdk_netns=None):
    """Sets NET (and sipmsg's hosts) for `mode`: "socket" or "dpdk"."""
    NET.mode = mode
    if mode == "dpdk":
        NET.proxy_host = DPDK_ADDRESS
        NET.client_host = DPDK_PEER_ADDRESS
        NET.server_host = DPDK_PEER_SERVER_ADDRESS
        NET.proxy_host6 = DPDK_ADDRESS6
        NET.client_host6 = DPDK_PEER_ADDRESS6
        NET.sipline_prefix = ["ip", "netns", "exec", dpdk_netns]
        NET.dpdk_netns = dpdk_netns
        # Two cores: one worker lcore busy-polls CPU 1, everything else shares CPU 0.
        NET.max_workers = 1
        NET.dataplane = {
            "eal": ["--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--lcores=0@0,1@1",
                    "--no-telemetry", "--log-level=lib.eal:warning",
                    "--vdev=net_pcap0,rx_iface_in=%s,tx_iface=%s,tx_iface=%s" % (
                        DPDK_INTERFACE, DPDK_INTERFACE, DPDK_INTERFACE)],
            "port": 0,
            "address": DPDK_ADDRESS + "/24",
            "address6": DPDK_ADDRESS6 + "/64",
        }
    sipmsg.LOCAL_HOST = NET.client_host
    sipmsg.PROXY_HOST = NET.proxy_host


def free_udp_port(exclude=()):
    """A UDP port on the client host that nothing holds right now (the kernel picks it)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((NET.client_host, 0))
            port = sock.getsockname()[1]
        if port not in exclude:
            return port


def free_udp_ports(count):
    ports = []
    while len(ports) < count:
        ports.append(free_udp_port(exclude=ports))
    return ports


class RedisServer:
    """A private redis-server on a free loopback TCP port (no persistence), for the shared
    location store; stop() and start() again on the same port simulate an outage (it comes
    back empty)."""

    def __init__(self, workdir):
        self.workdir = workdir
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=5.0):
        log = open(self.workdir.file("redis-%d.log" % self.port), "a")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.process.poll() is None, "redis-server exited with %s (is redis-server "
                  "installed? deploy/install-deps.sh)" % self.process.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise TestFailure("redis-server did not accept connections within %.0f s" % timeout)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None


def kill_group(process, grace=3.0):
    """SIGTERM the process group, then SIGKILL it after `grace` seconds. Returns the exit code."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(5)
    return process.returncode


def tail(path, lines=30):
    try:
        with open(path, "r", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no %s)" % path


class Workdir:
    """A temp folder per test; kept (and its path printed) when the test fails."""

    def __init__(self, name, keep=False):
        self.path = tempfile.mkdtemp(prefix="sipline-e2e-%s-" % name)
        self.keep = keep

    def file(self, name):
        return os.path.join(self.path, name)

    def finish(self, passed):
        if passed and not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            print("e2e: files of this run kept in %s" % self.path)


# --- sipline config -------------------------------------------------------------------------

def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table
        return "{ " + ", ".join("%s = %s" % (k, toml_value(v)) for k, v in value.items()) + " }"
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


USERS = ["10%02d" % n for n in range(1, 10)]  # 1001..1009, as in the shipped config
# Not the shipped demo password: config/ refuses that one on any address but loopback, and in
# DPDK mode sipline listens on the dataplane address.
PASSWORD = "e2e-secret-5060"


def sipline_config(port, routes, workers=2, store="memory", names=None,
                   algorithms=("SHA-256", "MD5"), auth=True, log_level="info",
                   record_route=False, min_expires=60, max_expires=3600, source_limits=None,
                   dataplane=None, pools=(), admin_socket=None, metrics=None,
                   nat_ping_interval=0, nat_ping=None, nat_ping_timeout=None,
                   accounting_file=None):
    """The TOML text of a config listening on NET.proxy_host:port (config/README.md); the
    domains default to sipline.test and the proxy's address. `dataplane`: [dataplane] keys
    that replace NET.dataplane's. `source_limits`: the
    [source_limits] keys; by default the test's own agents are trusted (SIPp sends hundreds of
    requests a second from NET.client_host, far beyond a phone's rate). `pools`: [[pools]]
    tables as dicts. `admin_socket`: [admin] socket. `metrics`: [admin] metrics (HOST:PORT).
    `nat_ping_interval`, `nat_ping`, `nat_ping_timeout`: [registrar] NAT keep-alives (0: none).
    `accounting_file`: [accounting] file (call records)."""
    if names is None:
        names = ("sipline.test", NET.proxy_host)
    if NET.max_workers is not None:
        workers = min(workers, NET.max_workers)
    lines = [
        "[listen]", "udp = %s" % toml_value(["%s:%d" % (NET.proxy_host, port)]), "",
        "[dataplane]", "io = %s" % toml_value(NET.mode), "workers = %d" % workers,
    ]
    lines += ["%s = %s" % (key, toml_value(value))
              for key, value in dict(NET.dataplane, **(dataplane or {})).items()]
    lines += [
        "",
        "[domain]", "names = %s" % toml_value(list(names)),
        "record_route = %s" % toml_value(record_route), "",
        "[registrar]", "store = %s" % toml_value(store), "auth = %s" % toml_value(auth),
        "algorithms = %s" % toml_value(list(algorithms)),
        "min_expires = %d" % min_expires, "max_expires = %d" % max_expires,
        "default_expires = %d" % max_expires,
        "nat_ping_interval = %d" % nat_ping_interval,
    ]
    if nat_ping is not None:
        lines.append("nat_ping = %s" % toml_value(nat_ping))
    if nat_ping_timeout is not None:
        lines.append("nat_ping_timeout = %d" % nat_ping_timeout)
    lines += [
        "",
        "[log]", "level = %s" % toml_value(log_level), "",
    ]
    for user in USERS:
        lines += ["[[users]]", "user = %s" % toml_value(user),
                  "password = %s" % toml_value(PASSWORD), ""]
    for pool in pools:
        lines.append("[[pools]]")
        lines += ["%s = %s" % (key, toml_value(value)) for key, value in pool.items()]
        lines.append("")
    for route in routes:
        lines.append("[[routes]]")
        lines += ["%s = %s" % (key, toml_value(value)) for key, value in route.items()]
        lines.append("")
    if admin_socket is not None or metrics is not None:
        lines.append("[admin]")
        if admin_socket is not None:
            lines.append("socket = %s" % toml_value(admin_socket))
        if metrics is not None:
            lines.append("metrics = %s" % toml_value(metrics))
        lines.append("")
    if accounting_file is not None:
        lines += ["[accounting]", "file = %s" % toml_value(accounting_file), ""]
    if source_limits is None:
        source_limits = {"trusted_sources": [NET.client_host]}
    lines.append("[source_limits]")
    lines += ["%s = %s" % (key, toml_value(value)) for key, value in source_limits.items()]
    lines.append("")
    return "\n".join(lines)


# --- sipline under test ----------------------------------------------------------------------

class Sipline:
    """build/sipline in the foreground, stderr to a file, stopped with SIGTERM."""

    def __init__(self, binary, workdir, config_text, name="sipline", hosts_file=None):
        self.binary = binary
        self.workdir = workdir
        # A hosts file of the test's own, bind-mounted over /etc/hosts in a private mount
        # namespace for sipline alone: names resolve without a DNS query leaving the machine.
        self.hosts_file = hosts_file
        self.config_path = workdir.file(name + ".toml")
        self.log_path = workdir.file(name + ".stderr")
        self.name = name
        workers = re.search(r"^workers = (\d+)$", config_text, re.M)
        self.workers = int(workers.group(1)) if workers else 2
        with open(self.config_path, "w") as handle:
            handle.write(config_text)
        self.process = None
        self.exit_code = None
        self.final_counters = None
        self.final_net = {}

    def start(self, ready_timeout=15.0, env=None):
        check(os.path.isfile(self.binary) and os.access(self.binary, os.X_OK),
              "sipline binary not found or not executable: %s (build the `sipline` target)"
              % self.binary)
        self.log = open(self.log_path, "w")
        command = [self.binary, "--config", self.config_path]
        if self.hosts_file is not None:
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts_file] + command
        self.process = spawn(NET.sipline_prefix + command,
                             stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                             cwd=self.workdir.path,
                             env=dict(os.environ, **env) if env is not None else None)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.ready_seen():
                if NET.dpdk:
                    self.wait_reachable(deadline)
                return self
            if self.process.poll() is not None:
                raise TestFailure("%s exited with %d before `%s`:\n%s" % (
                    self.name, self.process.returncode, READY_LINE, tail(self.log_path)))
            time.sleep(0.02)
        raise TestFailure("%s printed no `%s` within %.0f s:\n%s" % (
            self.name, READY_LINE, ready_timeout, tail(self.log_path)))

    def wait_reachable(self, deadline):
        """DPDK mode: the dataplane answers ping (its ARP and ICMP work, and the peer now
        knows its MAC) before the first SIP message is sent."""
        while time.monotonic() < deadline:
            check(self.alive(), "%s exited after `%s`:\n%s" % (self.name, READY_LINE,
                                                                  tail(self.log_path)))
            ping = subprocess.run(["ping", "-c", "1", "-W", "1", NET.proxy_host],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if ping.returncode == 0:
                return
        raise TestFailure("%s: %s does not answer ping after `%s`:\n%s" % (
            self.name, NET.proxy_host, READY_LINE, tail(self.log_path)))

    def ready_seen(self):
        with open(self.log_path, "r", errors="replace") as handle:
            return any(line.startswith(READY_LINE) for line in handle)

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_lines(self):
        """Complete lines of stderr so far (a line still being written is left out)."""
        with open(self.log_path, "r", errors="replace") as handle:
            text = handle.read()
        return text[:text.rfind("\n") + 1].splitlines()

    def counters(self, timeout=5.0):
        """Per-worker counters now (SIGUSR1), as {worker: {field: int}}."""
        check(self.alive(), "%s is not running (exit %s):\n%s" % (
            self.name, self.process.poll(), tail(self.log_path)))
        before = len(self.log_lines())
        os.kill(self.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log_lines()[before:]
            blocks = parse_counter_blocks(lines)
            if blocks and len(blocks[-1]) == self.workers:
                return blocks[-1]
            time.sleep(0.02)
        raise TestFailure("%s printed no counters within %.0f s after SIGUSR1:\n%s" % (
            self.name, timeout, tail(self.log_path)))

    def stop(self, timeout=10.0):
        """SIGTERM, wait for a clean exit, parse the shutdown counters. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(self.process, 0.5)
                self.log.close()
                raise TestFailure("%s did not stop within %.0f s of SIGTERM:\n%s" % (
                    self.name, timeout, tail(self.log_path)))
        kill_group(self.process, 0.5)  # anything it left in its group
        self.log.close()
        self.exit_code = self.process.returncode
        blocks = parse_counter_blocks(self.log_lines())
        self.final_counters = blocks[-1] if blocks else None
        self.final_net = parse_net_counters(self.log_lines())
        return self.exit_code

    def stop_checked(self):
        """stop(), and require exit code 0 and the shutdown counter lines."""
        code = self.stop()
        check(code == 0, "%s exited with %s after SIGTERM:\n%s" % (self.name, code,
                                                                    tail(self.log_path)))
        check(self.final_counters, "%s printed no `worker N:` counter lines at shutdown:\n%s"
              % (self.name, tail(self.log_path)))
        if NET.dpdk:
            # Every mbuf back in its pool once the lcores, the port and the rings let go.
            found = [MBUFS_LINE.match(line) for line in self.log_lines()]
            found = [match for match in found if match]
            check(found, "%s printed no `dpdk: mbufs in use at exit` line:\n%s"
                  % (self.name, tail(self.log_path)))
            check(found[-1].group(1) == "0" and found[-1].group(2) == "0",
                  "%s lost mbufs: %s" % (self.name, found[-1].group(0)))
        return self.final_counters

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            kill_group(self.process, 1.0)
        if self.process is not None and not self.log.closed:
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


NET_LINE = re.compile(r"^net (worker \d+|control|kernel): (.*)$")
MBUFS_LINE = re.compile(r"^dpdk: mbufs in use at exit: (\d+) packets, (\d+) indirect$")


def parse_net_counters(lines):
    """DPDK mode: the last `net worker N: ...` / `net control: ...` line of each lcore (and
    `net kernel: ...`, the exception path's), as {"worker 0": {field: int}, "control": {...}}
    (the packet layer's counters)."""
    result = {}
    for line in lines:
        match = NET_LINE.match(line)
        if match:
            result[match.group(1)] = {key: int(value) for key, _, value in (
                pair.partition("=") for pair in match.group(2).split()) if value.isdigit()}
    return result


def parse_counter_blocks(lines):
    """Groups consecutive `worker N: k=v ...` lines into [{worker: {field: int}}]."""
    blocks = []
    current = None
    for line in lines:
        match = COUNTER_LINE.match(line)
        if not match:
            current = None
            continue
        worker = int(match.group(1))
        fields = {}
        for pair in match.group(2).split():
            key, _, value = pair.partition("=")
            if value.isdigit():
                fields[key] = int(value)
        if current is None or worker in current:
            current = {}
            blocks.append(current)
        current[worker] = fields
    return blocks


def brief(counters):
    """The non-zero fields of each worker, for logs: "w0{received=8 forwarded=4} w1{...}"."""
    return " ".join("w%d{%s}" % (worker, " ".join(
        "%s=%d" % (k, v) for k, v in fields.items() if v)) for worker, fields in
        sorted(counters.items()))


def total(counters, field):
    return sum(worker.get(field, 0) for worker in counters.values())


def counter_diff(after, before):
    return {w: {k: v - before.get(w, {}).get(k, 0) for k, v in fields.items()}
            for w, fields in after.items()}


# --- SIPp -----------------------------------------------------------------------------------

class Sipp:
    """One SIPp process with its statistics and error log in workdir. SIPp's own -timeout
    bounds it (it then exits and still writes its statistics); wait() kills it after that."""

    def __init__(self, workdir, name, scenario, args, time_limit):
        self.workdir = workdir
        self.name = name
        self.stat_path = workdir.file(name + "_stat.csv")
        self.err_path = workdir.file(name + "_errors.log")
        self.out_path = workdir.file(name + ".out")
        self.time_limit = int(time_limit)
        self.command = ["sipp", "-sf", scenario, "-i", NET.client_host, "-nostdin",
                        "-timeout", "%ds" % self.time_limit, "-trace_stat", "-stf", self.stat_path,
                        "-trace_err", "-error_file", self.err_path, "-trace_screen",
                        "-screen_file", workdir.file(name + "_screen.log")] + list(args)
        self.process = None

    def start(self):
        with open(self.out_path, "w") as out:
            out.write(" ".join(self.command) + "\n")
            out.flush()
            self.process = spawn(self.command, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, cwd=self.workdir.path)
        return self

    def wait(self, timeout):
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.process, 1.0)
            raise TestFailure("SIPp %s still running after %.0f s; killed.\n%s" % (
                self.name, timeout, self.diagnostics()))

    def kill(self):
        if self.process is not None:
            kill_group(self.process, 1.0)

    def stats(self):
        """The last (cumulative) row of the -trace_stat file, as {column: text}."""
        try:
            with open(self.stat_path, newline="") as handle:
                rows = [row for row in csv.reader(handle, delimiter=";") if row]
        except OSError:
            return {}
        if len(rows) < 2:
            return {}
        return dict(zip(rows[0], rows[-1]))

    def count(self, column):
        value = self.stats().get(column + "(C)", "")
        return int(value) if value.isdigit() else None

    def diagnostics(self):
        return "--- %s output:\n%s--- %s errors:\n%s" % (
            self.name, tail(self.out_path, 25), self.name, tail(self.err_path, 25))

    def require_success(self, calls, allow_retransmissions=True):
        """Exit code 0 and exactly `calls` successful calls, none failed."""
        code = self.process.returncode
        successful = self.count("SuccessfulCall")
        failed = self.count("FailedCall")
        check(code == 0 and successful == calls and failed == 0,
              "SIPp %s: exit %s, %s successful / %s failed calls, expected %d / 0\n%s" % (
                  self.name, code, successful, failed, calls, self.diagnostics()))
        if not allow_retransmissions:
            for column in ("Retransmissions", "FailedUnexpectedMessage", "OutOfCallMsgs",
                           "DeadCallMsgs"):
                value = self.count(column)
                check(value == 0, "SIPp %s: %s = %s, expected 0 (a message was lost or "
                      "reordered)\n%s" % (self.name, column, value, self.diagnostics()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
