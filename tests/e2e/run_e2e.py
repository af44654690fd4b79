#!/usr/bin/env python3
"""sipline end-to-end tests (issue 3 §5, issue 4 §3): the real binary driven by SIPp, a small
Python SIP client and Linphone, in socket mode on loopback or through the DPDK dataplane.

    run_e2e.py --sipline build/sipline register calls_un ...
    run_e2e.py --list
    run_dpdk_e2e.sh build/sipline          # the DPDK list, in network namespaces (root)

Each test starts its own sipline on free ports with a config written for it, waits for
`sipline: ready` (in DPDK mode also for the dataplane to answer ping), runs its traffic (every
load bounded by count and time), checks SIPp's statistics and sipline's counters, and stops
everything (process groups) however it ends. The scenario code is the same in both modes;
`--mode dpdk` only changes where sipline listens and where the agents bind (harness.NET).
Exit status 0 when every named test passed, 1 otherwise. Files of a failed test are kept.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import zlib
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import harness  # noqa: E402
import scanners  # noqa: E402
import sipmsg  # noqa: E402
from harness import PASSWORD, TestFailure, check, counter_diff, total  # noqa: E402

SIPP_DIR = os.path.join(HERE, "sipp")
DEFAULT_CORPUS = os.path.normpath(os.path.join(HERE, "..", "corpus"))
# Generous per-call bounds: a lost message fails the call after this, not the whole run.
RECV_TIMEOUT_MS = "5000"


class Context:
    """What one test needs: the binary, its temp folder, and everything to clean up."""

    def __init__(self, options, name):
        self.options = options
        self.binary = os.path.abspath(options.sipline)
        self.corpus = options.corpus
        self.workdir = harness.Workdir(name, options.keep)
        self.cleanups = []

    def scenario(self, name):
        return os.path.join(SIPP_DIR, name)

    def sipline(self, config_text, name="sipline", hosts_file=None):
        proxy = harness.Sipline(self.binary, self.workdir, config_text, name, hosts_file)
        self.cleanups.append(proxy.kill)
        return proxy

    def sipp(self, name, scenario, args, time_limit):
        process = harness.Sipp(self.workdir, name, self.scenario(scenario), args, time_limit)
        self.cleanups.append(process.kill)
        return process

    def close(self):
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as error:  # cleanup must not hide the test's own failure
                print("e2e: cleanup: %s" % error)


# --- shared steps ---------------------------------------------------------------------------

def contact_uri(user, port):
    return "sip:%s@%s:%d;transport=udp" % (user, harness.NET.client_host, port)


def proxy_address(port):
    return "%s:%d" % (harness.NET.proxy_host, port)


def split_outside_quotes(value, separator=","):
    parts, current, depth, quoted = [], "", 0, False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        if char == separator and not quoted and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def contacts_of(message):
    """The Contact values of a message as [(uri, {param: value})]."""
    result = []
    for value in message.get_all("Contact"):
        for item in split_outside_quotes(value):
            item = item.strip()
            match = re.match(r'^(?:"[^"]*"\s*|[^<"]*)?<([^>]*)>(.*)$', item)
            if match:
                uri, rest = match.group(1), match.group(2)
            else:  # addr-spec without angle brackets: parameters are the Contact's
                uri, _, rest = item.partition(";")
                rest = ";" + rest
            params = {}
            for param in rest.split(";"):
                key, _, val = param.strip().partition("=")
                if key:
                    params[key.lower()] = val
            result.append((uri, params))
    return result


def describe(message):
    return "no answer" if message is None else message.raw.decode("utf-8", "replace")


def require_status(message, code, what):
    check(message is not None and message.status == code,
          "%s: expected %d, got %s" % (what, code, describe(message)))
    return message


def challenged_register(agent, what, password=PASSWORD, **kwargs):
    """agent.register(), requiring the 401 first; returns the answer to the credentials."""
    first, final = agent.register(password, **kwargs)
    require_status(first, 401, "%s (without credentials)" % what)
    return final


def register_user(proxy_port, user, port, prefer="SHA-256", expires=300):
    """REGISTER `user` with a Contact on the client host:port, sent from that port (then closed, so
    a SIPp UAS can take the port). Requires 401 then 200 listing the contact."""
    with sipmsg.Agent(proxy_port, port=port, user=user) as agent:
        first, final = agent.register(PASSWORD, contact="<%s>" % contact_uri(user, port),
                                      expires=expires, prefer=prefer)
    require_status(first, 401, "REGISTER %s without credentials" % user)
    require_status(final, 200, "REGISTER %s with %s credentials" % (user, prefer))
    uris = [uri for uri, _ in contacts_of(final)]
    check(contact_uri(user, port) in uris,
          "200 for REGISTER %s does not list %s: %s" % (user, contact_uri(user, port), uris))
    return final


def sipp_common(transport="u1"):
    return ["-t", transport, "-recv_timeout", RECV_TIMEOUT_MS, "-max_socket", "1000",
            "-buff_size", "4194304"]


def run_call_load(ctx, proxy_port, uas_port, calls, rate, transport, uac_scenario="uac_call.xml",
                  uas_scenario="uas_call.xml", uac_extra=(), callee="1002",
                  allow_retransmissions=True, proxy=None, local_ip=None, uas_ip=None):
    """A SIPp UAS on uas_port (already registered as `callee`, or the target of a route) and
    a SIPp UAC sending `calls` calls at `rate` calls/s through the proxy (`proxy`: its
    "host:port", by default NET's address; `local_ip`: the address both SIPps bind, by default
    SIPp's choice; `uas_ip`: the UAS's own, if another). Requires every call to succeed on
    both sides."""
    uac_seconds = calls / rate
    time_limit = int(uac_seconds * 2 + 30)
    bind = ["-i", local_ip] if local_ip else []
    uas_bind = ["-i", uas_ip] if uas_ip else bind
    uas = ctx.sipp("uas", uas_scenario, sipp_common("u1") + uas_bind + [
        "-p", str(uas_port), "-s", callee, "-m", str(calls)], time_limit + 10).start()
    time.sleep(0.3)  # let the UAS bind before the first INVITE reaches it
    check(uas.process.poll() is None, "SIPp UAS exited at start:\n%s" % uas.diagnostics())
    uac_args = [proxy or proxy_address(proxy_port), "-s", callee, "-r", str(rate), "-rp", "1000",
                "-m", str(calls), "-l", str(max(rate * 2, 50)),
                "-p", str(harness.free_udp_port(exclude=(proxy_port, uas_port)))]
    uac_args += sipp_common(transport) + bind
    uac = ctx.sipp("uac", uac_scenario, uac_args + list(uac_extra), time_limit)
    started = time.monotonic()
    uac.start()
    uac.wait(time_limit + 5)
    elapsed = time.monotonic() - started
    try:
        uas.wait(15)
    except TestFailure:
        raise TestFailure("SIPp UAS did not finish its %d calls after the UAC ended (UAC exit "
                          "%s).\n%s\n%s" % (calls, uac.process.returncode, uac.diagnostics(),
                                            uas.diagnostics()))
    uac.require_success(calls, allow_retransmissions)
    uas.require_success(calls, allow_retransmissions)
    retransmissions = (uac.count("Retransmissions") or 0) + (uas.count("Retransmissions") or 0)
    print("e2e: %d calls (-t %s) in %.1f s, SIPp call rate %s/s, %d retransmissions" % (
        calls, transport, elapsed, uac.stats().get("CallRate(C)"), retransmissions))
    return uac, uas, retransmissions


def call_config(port, workers=2, store="memory", auth_calls=False, algorithms=("SHA-256", "MD5"),
                record_route=False):
    """Users 10xx are routed by location; with auth_calls, INVITEs are challenged (407) and
    in-dialog requests (ACK, BYE) are not."""
    routes = []
    if auth_calls:
        routes.append({"name": "calls-auth", "user_prefix": "10", "methods": ["INVITE"],
                       "action": "location", "auth": True})
    routes.append({"name": "users", "user_prefix": "10", "action": "location"})
    return harness.sipline_config(port, routes, workers=workers, store=store,
                                  algorithms=algorithms, record_route=record_route)


def sipp_duration_ms(text):
    """SIPp's statistics durations ("HH:MM:SS:uuuuuu") in milliseconds; None if unreadable."""
    parts = text.split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        return None
    hours, minutes, seconds, micros = (int(part) for part in parts)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + micros / 1000.0


def require_clean_stop(proxy):
    counters = proxy.stop_checked()
    print("e2e: %s counters at shutdown: %s" % (proxy.name, harness.brief(counters)))
    return counters


# --- 1. registration with digest ------------------------------------------------------------

def test_register(ctx):
    """401 -> 200 with SHA-256 and MD5 (Python client) and MD5 (SIPp); wrong password -> 403;
    unknown user -> 401 then 403; Expires 0 removes one binding; `*` removes all."""
    proxy_port, sipp_port = harness.free_udp_ports(2)
    # MD5 first: SIPp answers the first challenge only and knows MD5 only. The Python client
    # picks its algorithm among the challenges (RFC 8760 §2.4: one challenge per algorithm).
    algorithms = ("MD5", "SHA-256")
    proxy = ctx.sipline(harness.sipline_config(proxy_port, [], algorithms=algorithms)).start()
    registers_sent = 0

    with sipmsg.Agent(proxy_port, user="1001") as alice:
        own = "<%s>" % contact_uri("1001", alice.port)
        first, final = alice.register(PASSWORD, contact=own, expires=300, prefer="SHA-256")
        registers_sent += 2
        require_status(first, 401, "REGISTER 1001 without credentials")
        challenges = [sipmsg.parse_challenge(v) for v in first.get_all("WWW-Authenticate")]
        check([c.get("algorithm") for c in challenges] == list(algorithms),
              "401 must offer one challenge per configured algorithm, in order %s: %s" % (
                  list(algorithms), first.get_all("WWW-Authenticate")))
        for challenge in challenges:
            check(challenge.get("scheme") == "Digest" and challenge.get("realm") == "sipline.test"
                  and challenge.get("nonce") and "auth" in challenge.get("qop", "").split(","),
                  "challenge lacks Digest/realm sipline.test/nonce/qop=auth: %s" % challenge)
        check(";tag=" in (first.get("To") or ""), "401 without a To tag: %s" % describe(first))
        require_status(final, 200, "REGISTER 1001 with SHA-256 credentials")
        listed = dict((uri, params) for uri, params in contacts_of(final))
        check(list(listed) == [contact_uri("1001", alice.port)],
              "200 must list exactly the new binding: %s" % describe(final))
        expires = int(listed[contact_uri("1001", alice.port)].get("expires", "-1"))
        check(0 < expires <= 300, "binding expires=%d, expected 1..300" % expires)

        with sipmsg.Agent(proxy_port, user="1003") as carol:
            first, final = carol.register(PASSWORD, expires=300, prefer="MD5",
                                          contact="<%s>" % contact_uri("1003", carol.port))
            registers_sent += 2
            require_status(final, 200, "REGISTER 1003 with MD5 credentials")

        # SIPp (MD5) registers 1002 from its own port.
        sipp = ctx.sipp("register", "uac_register.xml", sipp_common("u1") + [
            proxy_address(proxy_port), "-p", str(sipp_port), "-s", "1002", "-au", "1002",
            "-ap", PASSWORD, "-m", "1"], 30).start()
        sipp.wait(35)
        sipp.require_success(1)
        registers_sent += 2

        # Wrong password: challenged, then 403.
        with sipmsg.Agent(proxy_port, user="1004") as mallory:
            first, final = mallory.register("wrong-password", contact="<%s>" % contact_uri(
                "1004", mallory.port), expires=300)
            registers_sent += 2
            require_status(first, 401, "REGISTER 1004 without credentials")
            require_status(final, 403, "REGISTER 1004 with a wrong password")
        # Unknown user: the same answers as a wrong password (no user enumeration).
        with sipmsg.Agent(proxy_port, user="1999") as stranger:
            first, final = stranger.register(PASSWORD, contact="<%s>" % contact_uri(
                "1999", stranger.port), expires=300)
            registers_sent += 2
            require_status(first, 401, "REGISTER unknown user 1999 without credentials")
            require_status(final, 403, "REGISTER unknown user 1999 with credentials")

        # A second contact for 1001, then remove it with Expires: 0 (RFC 3261 §10.2.2).
        second = contact_uri("1001", harness.free_udp_port())
        final = challenged_register(alice, "REGISTER a second contact", contact="<%s>" % second,
                                    expires=300)
        registers_sent += 2
        require_status(final, 200, "REGISTER a second contact for 1001")
        uris = sorted(uri for uri, _ in contacts_of(final))
        check(uris == sorted([contact_uri("1001", alice.port), second]),
              "200 must list both bindings of 1001: %s" % describe(final))
        final = challenged_register(alice, "REGISTER Expires 0", contact="<%s>" % second,
                                    expires=0)
        registers_sent += 2
        require_status(final, 200, "REGISTER Expires 0 for one contact")
        uris = [uri for uri, _ in contacts_of(final)]
        check(uris == [contact_uri("1001", alice.port)],
              "after Expires 0 only the first binding must remain: %s" % describe(final))

        # Contact: * with Expires: 0 removes every binding of 1001 (§10.2.2).
        final = challenged_register(alice, "REGISTER *", contact="*", expires=0)
        registers_sent += 2
        require_status(final, 200, "REGISTER Contact: * Expires: 0")
        check(contacts_of(final) == [], "200 after `*` must list no Contact: %s" % describe(final))
        query = challenged_register(alice, "query REGISTER for 1001")
        registers_sent += 2
        require_status(query, 200, "query REGISTER for 1001")
        check(contacts_of(query) == [], "1001 still has bindings after `*`: %s" % describe(query))

    # 1002 (SIPp's) and 1003 are untouched by 1001's `*`.
    with sipmsg.Agent(proxy_port, user="1002") as query_agent:
        query = challenged_register(query_agent, "query REGISTER for 1002")
        registers_sent += 2
    require_status(query, 200, "query REGISTER for 1002")
    uris = [uri for uri, _ in contacts_of(query)]
    check(len(uris) == 1 and re.match(r"sip:1002@%s:%d(;|$)" % (
        re.escape(harness.NET.client_host), sipp_port), uris[0]),
          "1002 must keep the binding SIPp registered (port %d): %s" % (sipp_port, uris))

    counters = require_clean_stop(proxy)
    if "to_control" in counters[0]:
        check(total(counters, "to_control") == registers_sent,
              "workers passed %d REGISTERs to the control thread, %d were sent" % (
                  total(counters, "to_control"), registers_sent))
    check(total(counters, "forwarded") == 0, "a REGISTER for our domain was forwarded")


# --- 2 and 8. calls under load --------------------------------------------------------------

def calls_test(ctx, transport, calls, rate, check_workers, min_rate=None):
    proxy_port, uas_port = harness.free_udp_ports(2)
    proxy = ctx.sipline(call_config(proxy_port, workers=2)).start()
    register_user(proxy_port, "1002", uas_port)
    uac, _, retransmissions = run_call_load(ctx, proxy_port, uas_port, calls, rate, transport,
                                            allow_retransmissions=not check_workers)
    if min_rate:
        achieved = float(uac.stats().get("CallRate(C)", "0") or 0)
        check(achieved >= min_rate, "SIPp's cumulative call rate %.1f calls/s is below %d" % (
            achieved, min_rate))
    counters = require_clean_stop(proxy)
    check(total(counters, "dropped") == 0, "sipline dropped messages: %s" % harness.brief(counters))
    if "forwarded_requests" in counters[0] and retransmissions == 0:
        # INVITE, ACK, BYE one way; 180, 200, 200 (BYE) the other.
        check(total(counters, "forwarded_requests") == 3 * calls and
              total(counters, "forwarded_responses") == 3 * calls,
              "expected %d requests and %d responses forwarded: %s" % (
                  3 * calls, 3 * calls, harness.brief(counters)))
    if check_workers:
        for worker, fields in counters.items():
            check(fields.get("forwarded", 0) > 0,
                  "worker %d forwarded nothing: Call-ID ownership did not spread the calls: %s"
                  % (worker, harness.brief(counters)))
        check(total(counters, "handed_off") > 0,
              "no message was handed off between workers with one 5-tuple: %s"
              % harness.brief(counters))
        check(total(counters, "handed_off") == total(counters, "handed_in"),
              "handed_off != handed_in (a hand-off got lost): %s" % harness.brief(counters))
    return counters


def test_calls_un(ctx):
    """2,000 calls at 250 calls/s, UAC with one socket per call (-t un), workers = 2."""
    calls_test(ctx, "un", ctx.options.calls, ctx.options.rate, check_workers=False,
               min_rate=ctx.options.min_rate)


def test_calls_u1(ctx):
    """2,000 calls at 250 calls/s, UAC with one socket for all calls (-t u1), workers = 2."""
    calls_test(ctx, "u1", ctx.options.calls, ctx.options.rate, check_workers=False,
               min_rate=ctx.options.min_rate)


def test_systemd_notify(ctx):
    """systemd's notify protocol (Type=notify, WatchdogSec; socket and DPDK modes): sipline
    started with NOTIFY_SOCKET naming the test's unix datagram socket and WATCHDOG_USEC=1 s
    sends READY=1 (with a STATUS) once it is ready, then WATCHDOG=1 every half second or so
    while its workers loop (at least 2 within 2.5 s, no more than 8), RELOADING=1 then READY=1
    around a SIGHUP reload, and STOPPING=1 when it is told to stop."""
    proxy_port = harness.free_udp_ports(1)[0]
    path = ctx.workdir.file("notify.sock")
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ctx.cleanups.append(systemd.close)
    systemd.bind(path)
    os.chmod(path, 0o777)
    systemd.settimeout(0.2)

    def states(duration):
        got = []
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            try:
                got.append(systemd.recv(4096).decode())
            except socket.timeout:
                continue
        return got

    routes = [{"name": "out", "user_prefix": "8", "action": "forward",
               "target": "sip:%s:5999" % harness.NET.client_host}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start(
        env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    first = states(2.5)
    check(first and first[0].startswith("READY=1\nSTATUS="),
          "the first state should be READY=1 with a STATUS: %s" % first)
    pings = first[1:].count("WATCHDOG=1")
    check(2 <= pings <= 8 and len(first) == pings + 1,
          "expected only WATCHDOG=1 every ~0.5 s after READY=1: %s" % first)
    os.kill(proxy.process.pid, signal.SIGHUP)
    around = [state for state in states(1.5) if state != "WATCHDOG=1"]
    check(around == ["RELOADING=1", "READY=1"],
          "a reload should be framed by RELOADING=1 and READY=1: %s" % around)
    require_clean_stop(proxy)
    last = [state for state in states(0.5) if state != "WATCHDOG=1"]
    check(last == ["STOPPING=1"], "a stop should say STOPPING=1: %s" % last)


def parse_hep3(packet):
    """A HEP3 packet as {chunk type: value bytes}; None when it is not one."""
    if len(packet) < 6 or packet[:4] != b"HEP3" or int.from_bytes(packet[4:6], "big") != len(packet):
        return None
    chunks, at = {}, 6
    while at + 6 <= len(packet):
        vendor = int.from_bytes(packet[at:at + 2], "big")
        kind = int.from_bytes(packet[at + 2:at + 4], "big")
        length = int.from_bytes(packet[at + 4:at + 6], "big")
        if vendor != 0 or length < 6 or at + length > len(packet):
            return None
        chunks[kind] = packet[at + 6:at + length]
        at += length
    return chunks if at == len(packet) else None


# A HEP collector where sipline's kernel sockets reach it: in socket mode a socket of the
# test's own; in DPDK mode (sipline in a namespace of its own, the collector on its management
# side) a small process in sipline's namespace, on its loopback, that writes what it gets to a
# file, one packet a line in hex.
HEP_COLLECTOR_SCRIPT = """
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[2])))
sock.settimeout(0.2)
deadline = time.monotonic() + float(sys.argv[3])
with open(sys.argv[1], "w") as out:
    print("ready", file=out, flush=True)
    while time.monotonic() < deadline:
        try:
            packet = sock.recv(65535)
        except socket.timeout:
            continue
        print(packet.hex(), file=out, flush=True)
"""


class HepCollector:
    def __init__(self, ctx, lifetime):
        self.path = None
        if harness.NET.dpdk:
            self.address = ("127.0.0.1", 9060)
            self.path = ctx.workdir.file("hep.hex")
            self.process = harness.spawn(harness.NET.sipline_prefix + [
                sys.executable, "-c", HEP_COLLECTOR_SCRIPT, self.path, "9060", str(lifetime)])
            ctx.cleanups.append(self.process.kill)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (
                    os.path.exists(self.path) and open(self.path).read().startswith("ready")):
                time.sleep(0.05)
            check(os.path.exists(self.path), "the HEP collector in sipline's namespace did not start")
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            ctx.cleanups.append(self.sock.close)
            self.sock.bind((harness.NET.client_host, 0))
            self.sock.settimeout(0.2)
            self.address = self.sock.getsockname()

    def packets(self, duration):
        """What arrived within `duration` seconds from now."""
        deadline = time.monotonic() + duration
        if self.path is not None:
            time.sleep(duration)
            with open(self.path) as lines:
                return [bytes.fromhex(line.strip()) for line in lines if line.strip() != "ready"]
        received = []
        while time.monotonic() < deadline:
            try:
                received.append(self.sock.recv(65535))
            except socket.timeout:
                continue
        return received


def test_route_token(ctx):
    """[domain] route_secret: sipline's Record-Route carries a token of the call's Call-ID
    (`;rt=` + 16 hex digits). A call through a forward route to an echo trunk: the trunk's
    INVITE has the signed Record-Route, the phone's ACK and BYE through that Route reach the
    trunk and the BYE is answered 200. Then the toll-fraud attempt of a phone that copied the
    Route: an INVITE with an invented To tag and a new Call-ID, the copied Route (and again
    the Route without its token), and the trunk as its Request-URI, is answered 403 both
    times; so is one without Route whose Request-URI names sipline's domain (the route table
    would send it on, unchallenged); none reaches the trunk, and the workers count
    foreign_dialog_refused=3."""
    proxy_port = harness.free_udp_ports(1)[0]
    trunk = EchoServer()
    ctx.cleanups.append(trunk.stop)
    host = harness.NET.client_host
    routes = [{"name": "trunk", "user_prefix": "8", "action": "forward",
               "target": "sip:%s:%d" % (host, trunk.port)}]
    config = harness.sipline_config(proxy_port, routes, record_route=True)
    config = config.replace("record_route = true\n", "record_route = true\nroute_secret = "
                            "\"5f0c1d7e9a2b4c6d8e0f1a3b5c7d9e1f\"\n", 1)
    check("route_secret" in config, "the test's config has no route_secret:\n" + config)
    proxy = ctx.sipline(config).start()
    target = "sip:8000@%s:%d" % (host, trunk.port)
    # The phone on an address of its own: the trunk's address is in the trust domain (a server
    # the configuration routes to), which needs no token.
    with sipmsg.Agent(proxy_port, user="1001", host=harness.NET.server_host) as phone:
        uri = "sip:8000@sipline.test"
        answer = phone.request("INVITE", uri, to="<%s>" % uri)
        require_status(answer, 200, "INVITE through the trunk route")
        record_route = trunk.requests("INVITE")[0].get("Record-Route")
        check(re.fullmatch(r"<sip:%s:%d;rt=[0-9a-f]{16};lr>" % (
            re.escape(harness.NET.proxy_host), proxy_port), record_route or ""),
              "the trunk's INVITE should carry a signed Record-Route: %r" % record_route)
        route = [("Route", record_route)]
        phone.request("ACK", target, to=answer.get("To"), cseq=phone.cseq, headers=route,
                      wait=False)
        require_status(phone.request("BYE", target, to=answer.get("To"), headers=route), 200,
                       "BYE through the signed Route")
        check(len(trunk.requests("BYE")) == 1, "the trunk should have got the BYE")

        unsigned = [("Route", re.sub(r";rt=[0-9a-f]{16}", "", record_route))]
        trunk_uri = "sip:+19005550100@%s:%d" % (host, trunk.port)
        # The third: no Route, the Request-URI our own domain, for the route table to send on.
        attempts = ((trunk_uri, route, "the copied Route"),
                    (trunk_uri, unsigned, "our Route, no token"),
                    ("sip:8000@sipline.test", [], "a Request-URI for the route table"))
        for request_uri, headers, what in attempts:
            phone.call_id = sipmsg.new_token("forged-") + "@" + harness.NET.server_host
            forged = phone.request("INVITE", request_uri,
                                   to="<sip:+19005550100@sipline.test>;tag=invented",
                                   headers=headers)
            require_status(forged, 403, "an invented dialog's INVITE with " + what)
    check(len(trunk.requests("INVITE")) == 1,
          "no forged INVITE may reach the trunk: %d INVITEs" % len(trunk.requests("INVITE")))
    refused = sum(worker.get("foreign_dialog_refused", 0) for worker in proxy.counters().values())
    check(refused == 3, "foreign_dialog_refused should be 3, not %d" % refused)
    require_clean_stop(proxy)


def test_hep_capture(ctx):
    """SIP capture to a Homer collector ([capture] hep; socket and DPDK modes): a UDP
    collector (in DPDK mode on the loopback of sipline's own namespace, its management side)
    gets one HEP3 packet (vendor-0 chunks: family 2, protocol 17, IPv4 addresses,
    ports, time, protocol type 1 = SIP, capture id 2001, the password, the message) for every
    datagram of a REGISTER with digest (the REGISTERs the workers received, the control
    thread's 401 and 200) and of a call through a forward route to an echo UAS (the caller's
    INVITE, ACK and BYE, each forwarded, the UAS's 200s, each relayed), and for the control
    thread's OPTIONS health probes to that UAS (a pool member, probed every second) and their
    answers, with the addresses each went from and to. The counters line `capture:` says
    captured = sent, nothing dropped."""
    proxy_port = harness.free_udp_ports(1)[0]
    collector = HepCollector(ctx, 30)
    trunk = EchoServer()
    ctx.cleanups.append(trunk.stop)
    host = harness.NET.client_host
    pools = [{"name": "carrier", "members": ["sip:%s:%d" % (host, trunk.port)],
              "probe_interval": 1}]
    routes = [{"name": "trunk", "user_prefix": "8", "action": "forward", "pool": "carrier"}]
    config = harness.sipline_config(proxy_port, routes, record_route=True, pools=pools)
    config += ("\n[capture]\nhep = \"%s:%d\"\ncapture_id = 2001\npassword = \"homer\"\n"
               % collector.address)
    proxy = ctx.sipline(config).start()
    proxy_address_text = "%s:%d" % (harness.NET.proxy_host, proxy_port)
    with sipmsg.Agent(proxy_port, user="1001") as phone:
        first, final = phone.register(PASSWORD, contact="<sip:1001@%s:%d>" % (
            host, phone.port), expires=60)
        require_status(first, 401, "REGISTER without credentials")
        require_status(final, 200, "REGISTER with credentials")
        uri = "sip:8000@sipline.test"
        answer = phone.request("INVITE", uri, to="<%s>" % uri)
        require_status(answer, 200, "INVITE through the trunk route")
        route = [("Route", trunk.requests("INVITE")[0].get("Record-Route"))]
        target = "sip:8000@%s:%d" % (host, trunk.port)
        phone.request("ACK", target, to=answer.get("To"), cseq=phone.cseq, headers=route,
                      wait=False)
        require_status(phone.request("BYE", target, to=answer.get("To"), headers=route), 200,
                       "BYE")
        phone_address = "%s:%d" % (host, phone.port)
    trunk_address = "%s:%d" % (host, trunk.port)
    seen = []
    for packet in collector.packets(2.5):  # past at least one more health probe
        chunks = parse_hep3(packet)
        check(chunks is not None, "not a HEP3 packet: %r" % packet[:64])
        check(chunks.get(1) == b"\x02" and chunks.get(2) == b"\x11" and chunks.get(11) == b"\x01"
              and chunks.get(12) == (2001).to_bytes(4, "big") and chunks.get(14) == b"homer"
              and len(chunks.get(9, b"")) == 4 and len(chunks.get(10, b"")) == 4,
              "HEP3 chunks not as configured: %s" % sorted(chunks))
        source = "%s:%d" % (socket.inet_ntoa(chunks[3]), int.from_bytes(chunks[7], "big"))
        destination = "%s:%d" % (socket.inet_ntoa(chunks[4]), int.from_bytes(chunks[8], "big"))
        first_line = chunks[15].split(b"\r\n", 1)[0].decode()
        seen.append((source, destination, first_line.split(" ")[0] + " " +
                     (first_line.split(" ")[1] if first_line.startswith("SIP/") else "")))
    expected = [
        (phone_address, proxy_address_text, "REGISTER "),
        (proxy_address_text, phone_address, "SIP/2.0 401"),
        (phone_address, proxy_address_text, "REGISTER "),
        (proxy_address_text, phone_address, "SIP/2.0 200"),
        (phone_address, proxy_address_text, "INVITE "),
        (proxy_address_text, trunk_address, "INVITE "),
        (trunk_address, proxy_address_text, "SIP/2.0 200"),
        (proxy_address_text, phone_address, "SIP/2.0 200"),
        (phone_address, proxy_address_text, "ACK "),
        (proxy_address_text, trunk_address, "ACK "),
        (phone_address, proxy_address_text, "BYE "),
        (proxy_address_text, trunk_address, "BYE "),
        (trunk_address, proxy_address_text, "SIP/2.0 200"),
        (proxy_address_text, phone_address, "SIP/2.0 200"),
    ]
    # Several threads capture: compare as multisets. Beyond the call: the health probes (the
    # control thread's OPTIONS, captured as it sends them) and the trunk's answers to them.
    extras = list(seen)
    for message in expected:
        check(message in extras, "not captured: %s in %s" % (message, seen))
        extras.remove(message)
    probes = extras.count((proxy_address_text, trunk_address, "OPTIONS "))
    answers = extras.count((trunk_address, proxy_address_text, "SIP/2.0 200"))
    check(probes >= 1 and answers >= 1 and probes + answers == len(extras),
          "beyond the call, only probes and their answers: %s" % extras)
    require_clean_stop(proxy)
    lines = [line for line in proxy.log_lines() if line.startswith("capture:")]
    check(lines and re.search(r" captured=(\d+) sent=\1 dropped_full=0 too_large=0 "
                              r"send_failed=0$", lines[-1].strip()),
          "the capture line at shutdown: %s" % lines)


def test_accounting(ctx):
    """Call records ([accounting] file): 20 SIPp calls (INVITE, 200, ACK, BYE, 200) through
    the proxy, then an INVITE to 1003, registered nowhere. After a clean stop the file holds
    one JSON line per event: 20 "answered" (code 200, each its own Call-ID, From/To users 1001
    ... 1002) and 20 "ended" (the same Call-IDs, a duration_ms, ended_by "caller": the SIPp
    UAC sends the BYE), no line twice however often a 200 was sent again, and one "failed"
    (480, by_proxy) for 1003. The workers' counters show the records made, none dropped, and
    the accounting line at shutdown 20 answered, 1 failed, 20 ended (all timed), 41 written."""
    proxy_port, uas_port = harness.free_udp_ports(2)
    records_path = ctx.workdir.file("calls.jsonl")
    routes = [{"name": "users", "user_prefix": "10", "action": "location"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes,
                                               accounting_file=records_path)).start()
    register_user(proxy_port, "1002", uas_port)
    calls = 20
    run_call_load(ctx, proxy_port, uas_port, calls, 10, "u1")
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        _, final = invite_user(caller, "1003", proxy_port, 5.0)
        require_status(final, 480, "INVITE to 1003, registered nowhere")
    counters = require_clean_stop(proxy)
    with open(records_path) as records_file:
        lines = [json.loads(line) for line in records_file]
    by_event = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)
    answered, ended = by_event.get("answered", []), by_event.get("ended", [])
    failed = by_event.get("failed", [])
    check(len(answered) == calls and len(ended) == calls and len(failed) == 1 and
          len(lines) == 2 * calls + 1,
          "expected %d answered, %d ended and 1 failed record: %s" % (
              calls, calls, [(l["event"], l.get("code")) for l in lines]))
    check(len({l["call_id"] for l in answered}) == calls and
          {l["call_id"] for l in answered} == {l["call_id"] for l in ended},
          "each call should have its own Call-ID, answered and ended once")
    for line in answered:
        check(line["code"] == 200 and line["reason"] == "OK" and line["from_tag"] and
              line["to_tag"] and
              line["to"] == "1002" and line["caller"].startswith(harness.NET.client_host) and
              line["callee"] == "%s:%d" % (harness.NET.client_host, uas_port) and
              line["time"].endswith("Z"), "an answered record is not right: %s" % line)
    for line in ended:
        check(line["code"] == 200 and line.get("duration_ms", -1) >= 0 and
              line.get("ended_by") == "caller", "an ended record is not right: %s" % line)
    check(failed[0]["code"] == 480 and failed[0]["reason"] == "Temporarily Unavailable" and
          failed[0].get("by_proxy") is True and
          failed[0]["to"] == "1003" and "callee" not in failed[0],
          "the failed call's record is not right: %s" % failed[0])
    check(total(counters, "call_records") >= 2 * calls + 1 and
          total(counters, "call_records_dropped") == 0,
          "expected the records made and none dropped: %s" % harness.brief(counters))
    with open(proxy.log_path) as log:
        summary = re.search(r"accounting: answered=(\d+) failed=(\d+) ended=(\d+) "
                            r"ended_timed=(\d+) talk_ms=\d+ written=(\d+) ", log.read())
    check(summary is not None and [int(n) for n in summary.groups()] ==
          [calls, 1, calls, calls, 2 * calls + 1],
          "the accounting line at shutdown should count each event once (ASR, ACD): %s" %
          (summary.group(0) if summary else "none"))


def test_call_limits(ctx):
    """Concurrent-call limits ([[routes]] max_calls; socket and DPDK modes, two workers): a
    trunk route to an echo UAS with max_calls = 2 and record_route. Two calls are answered
    200 (their Call-IDs owned by either worker: the limit is the workers' together); a third
    INVITE gets sipline's 503 and never reaches the trunk; the first call's BYE, sent by its
    Record-Route through the proxy, frees a place, and the third, tried again, is answered
    200. A route with max_cps = 1 and limit_code = 486: of three INVITEs sent one after
    another, the first is answered 200 and a later one 486 by sipline. 100 SIPp calls through
    a location route with max_calls = 500 and max_cps = 500 all complete, and afterwards its
    line shows calls=0: every call gave its place back with its BYE. `siplinectl routes`
    shows the limit, `siplinectl counters` the calls in progress
    (calls=2, refused=1) before the BYE. Counters: calls_limited = 1; the shutdown line
    `call_limit route trunk: calls=4 max=2 refused=1` (the second and third calls are up, and
    an INVITE to the emergency number 8112 ([limits] emergency_numbers) and one to
    urn:service:sos.ambulance (RFC 5031, placed as 8112: the trunk gets
    `INVITE sip:8112@sipline.test`) that were not refused although the trunk had its two
    calls: counted, emergency_requests=2).
    With [limits] session_expires = 1800 (RFC 4028): both limited INVITEs reach the trunk with
    `Session-Expires: 1800`; the trunk (no session timers) answers without one, and the first
    caller, whose INVITE said `Supported: timer`, gets its 200 with
    `Session-Expires: 1800;refresher=uac` and `Require: timer`; the second, which did not,
    gets it as the trunk sent it."""
    proxy_port, uas_port = harness.free_udp_ports(2)
    trunk = EchoServer()
    ctx.cleanups.append(trunk.stop)
    host = harness.NET.client_host
    routes = [{"name": "trunk", "user_prefix": "8", "action": "forward",
               "target": "sip:%s:%d" % (host, trunk.port), "max_calls": 2},
              {"name": "cps", "user_prefix": "7", "action": "forward",
               "target": "sip:%s:%d" % (host, trunk.port), "max_cps": 1, "limit_code": 486},
              {"name": "users", "user_prefix": "10", "action": "location", "max_calls": 500,
               "max_cps": 500}]
    admin = ctx.workdir.file("admin.sock")
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, record_route=True,
                                               admin_socket=admin) +
                        "\n[limits]\nsession_expires = 1800\nemergency_numbers = [\"8112\"]\n"
                        ).start()
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")

    def siplinectl(word):
        return subprocess.run(harness.NET.sipline_prefix + [ctl, "--socket", admin, word],
                              stdout=subprocess.PIPE, timeout=10).stdout.decode()

    listed = siplinectl("routes")
    check(" max_calls=2 (503)\n" in listed and " max_cps=1 (486)\n" in listed,
          "siplinectl routes should show the limits: %r" % listed)
    uri = "sip:8000@sipline.test"
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        calls = []
        for n in range(3):
            call_id = sipmsg.new_token("limit-%d-" % n) + "@" + host
            supported = [("Supported", "replaces, timer")] if n == 0 else []
            answer = caller.request("INVITE", uri, to="<%s>" % uri, call_id=call_id,
                                    headers=supported, timeout=3.0)
            calls.append((call_id, answer))
        for n in (0, 1):
            require_status(calls[n][1], 200, "INVITE %d within the trunk's 2 calls" % n)
        # RFC 4028 §8.1-§8.2: asked for at the trunk, its refresher named to the caller that
        # does session timers.
        asked = [m.get("Session-Expires") for m in trunk.requests("INVITE")]
        check(asked == ["1800", "1800"], "Session-Expires at the trunk: %s" % asked)
        timers = [(answer.get("Session-Expires"), answer.get("Require")) for _, answer in calls[:2]]
        check(timers == [("1800;refresher=uac", "timer"), (None, None)],
              "Session-Expires and Require of the two 200s: %s" % timers)
        require_status(calls[2][1], 503, "the third call at once")
        check(len(trunk.requests("INVITE")) == 2,
              "the refused INVITE reached the trunk: %d INVITEs there" %
              len(trunk.requests("INVITE")))
        # The route set the proxy's Record-Route made (the echo UAS does not copy it back).
        forwarded = trunk.requests("INVITE")[0]
        route = [("Route", forwarded.get("Record-Route"))]
        target = "sip:8000@%s:%d" % (host, trunk.port)
        for call_id, answer in calls[:2]:
            caller.request("ACK", target, to=answer.get("To"), call_id=call_id, cseq=1,
                           headers=route, wait=False)
        live = siplinectl("counters")
        check("call_limit route trunk: calls=2 max=2 refused=1 max_cps=0 refused_cps=0\n" in live,
              "siplinectl counters should show the trunk's two calls: %r" % live)
        first_id, first = calls[0]
        bye = caller.request("BYE", target, to=first.get("To"), call_id=first_id, cseq=2,
                             headers=route)
        require_status(bye, 200, "the first call's BYE through the proxy")
        again = caller.request("INVITE", uri, to="<%s>" % uri, call_id=calls[2][0], cseq=3)
        require_status(again, 200, "the third call once the first ended")
        # An emergency number ([limits] emergency_numbers) on the full trunk: not refused,
        # and counted (RFC 7339 §5.10.1).
        emergency = caller.request("INVITE", "sip:8112@sipline.test", to="<sip:8112@sipline.test>",
                                   call_id=sipmsg.new_token("sos-") + "@" + host)
        require_status(emergency, 200, "the emergency call on a trunk at its limit")
        # The emergency service URN (RFC 5031) of a phone that knows the dialled string is an
        # emergency call: placed as [limits] emergency_service_number (by default the first
        # emergency number, 8112), not refused either.
        by_service = caller.request("INVITE", "urn:service:sos.ambulance",
                                    to="<urn:service:sos.ambulance>",
                                    call_id=sipmsg.new_token("urn-") + "@" + host)
        require_status(by_service, 200, "the emergency service URN's call on a trunk at its limit")
        placed = trunk.requests("INVITE")[-1].start_line
        check(placed == "INVITE sip:8112@sipline.test SIP/2.0",
              "the trunk should get the service URN's call as 8112: %r" % placed)
        live = siplinectl("counters")
        check("call_limit route trunk: calls=4 max=2 refused=1 max_cps=0 refused_cps=0\n" in live
              and "emergency_requests=2" in live,
              "siplinectl counters should count the emergency calls: %r" % live)
        # max_cps = 1: of three INVITEs sent within a second or two, at most two start.
        codes = [caller.request("INVITE", "sip:7000@sipline.test", to="<sip:7000@sipline.test>",
                                call_id=sipmsg.new_token("cps-%d-" % n) + "@" + host).status
                 for n in range(3)]
        check(sorted(set(codes)) == [200, 486] and codes[0] == 200,
              "max_cps = 1 should start the first INVITE and refuse a later one with 486: %s"
              % codes)
    # 100 SIPp calls (INVITE, 200, ACK, BYE, 200) through a limited location route: each
    # takes its place and gives it back with its BYE, on whichever worker owns it.
    register_user(proxy_port, "1002", uas_port)
    run_call_load(ctx, proxy_port, uas_port, 100, 20, "u1")
    users = siplinectl("counters")
    check("call_limit route users: calls=0 max=500 refused=0 max_cps=500 refused_cps=0\n"
          in users, "every SIPp call should have given its place back: %r" % users)
    counters = require_clean_stop(proxy)
    check(total(counters, "calls_limited") == 1 and
          total(counters, "calls_rate_limited") == codes.count(486),
          "expected one call refused by max_calls and %d by max_cps: %s" % (
              codes.count(486), harness.brief(counters)))
    lines = [line for line in proxy.log_lines() if line.startswith("call_limit route trunk:")]
    check(lines and lines[-1].strip() ==
          "call_limit route trunk: calls=4 max=2 refused=1 max_cps=0 refused_cps=0",
          "the trunk's call_limit line at shutdown: %s" % lines)


def test_workers_u1(ctx):
    """One source 5-tuple and workers = 2: both workers carry calls (Call-ID ownership with
    hand-offs), and no message is lost or reordered (no retransmission, nothing unexpected)."""
    calls_test(ctx, "u1", max(ctx.options.calls // 2, 10), ctx.options.rate, check_workers=True)


def test_call_auth(ctx):
    """Route auth = true: INVITE -> 407 -> ACK (absorbed) -> INVITE with credentials -> call."""
    calls = 20
    proxy_port, uas_port = harness.free_udp_ports(2)
    proxy = ctx.sipline(call_config(proxy_port, auth_calls=True,
                                    algorithms=("MD5", "SHA-256"))).start()
    register_user(proxy_port, "1002", uas_port, prefer="SHA-256")
    run_call_load(ctx, proxy_port, uas_port, calls, 10, "u1", uac_scenario="uac_call_auth.xml",
                  uac_extra=["-au", "1001", "-ap", PASSWORD,
                             # SIPp's digest uri is remote_ip:port unless told: it must be the
                             # Request-URI (RFC 7616 §3.4.6), or the proxy answers 400.
                             "-auth_uri", "1002@" + proxy_address(proxy_port)])
    counters = require_clean_stop(proxy)
    check(total(counters, "local_4xx") == calls,
          "expected %d local 4xx (the 407s): %s" % (calls, harness.brief(counters)))
    if "acks_absorbed" in counters[0]:
        check(total(counters, "acks_absorbed") == calls,
              "expected the %d ACKs for 407 absorbed: %s" % (calls, harness.brief(counters)))


# --- 3. redirect ----------------------------------------------------------------------------

def test_redirect(ctx):
    """Redirect route: INVITE -> 302 with the registered Contact; the ACK is absorbed and the
    callee receives nothing."""
    calls = 30
    proxy_port, callee_port = harness.free_udp_ports(2)
    routes = [{"name": "redirect-users", "user_prefix": "10", "methods": ["INVITE"],
               "action": "redirect"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start()
    # The callee registers and keeps its socket: whatever reaches it is counted.
    callee = sipmsg.Agent(proxy_port, port=callee_port, user="1002")
    ctx.cleanups.append(callee.close)
    final = challenged_register(callee, "REGISTER 1002",
                                contact="<%s>" % contact_uri("1002", callee_port), expires=300)
    require_status(final, 200, "REGISTER 1002")

    with sipmsg.Agent(proxy_port, user="1001") as caller:
        uri = "sip:1002@" + proxy_address(proxy_port)
        branch = sipmsg.new_token("z9hG4bK")
        answer = caller.request("INVITE", uri, branch=branch, headers=[(
            "Contact", "<sip:1001@%s:%d>" % (harness.NET.client_host, caller.port))])
        require_status(answer, 302, "INVITE to a redirect route")
        check([u for u, _ in contacts_of(answer)] == [contact_uri("1002", callee_port)],
              "302 must carry the registered Contact %s: %s" % (contact_uri("1002", callee_port),
                                                               describe(answer)))
        caller.request("ACK", uri, to=answer.get("To"), cseq=caller.cseq, branch=branch,
                       wait=False)
    sipp = ctx.sipp("uac", "uac_redirect.xml", sipp_common("u1") + [
        proxy_address(proxy_port), "-p", str(harness.free_udp_port()), "-s", "1002",
        "-r", "20", "-m", str(calls)], 40).start()
    sipp.wait(45)
    sipp.require_success(calls)
    stray = callee.receive(0.5)
    check(stray is None, "the callee of a redirect received %s" % describe(stray))
    counters = require_clean_stop(proxy)
    check(total(counters, "local_3xx") == calls + 1,
          "expected %d local 3xx: %s" % (calls + 1, harness.brief(counters)))
    check(total(counters, "forwarded") == 0,
          "a redirect forwarded something: %s" % harness.brief(counters))
    if "acks_absorbed" in counters[0]:
        check(total(counters, "acks_absorbed") == calls + 1,
              "expected %d ACKs absorbed: %s" % (calls + 1, harness.brief(counters)))


# --- 4. CANCEL ------------------------------------------------------------------------------

def test_cancel(ctx):
    """CANCEL before the answer: 200 (CANCEL) and 487 pass back, the ACK for 487 reaches the
    callee (SIPp requires it in uas_cancel.xml)."""
    calls = 30
    proxy_port, uas_port = harness.free_udp_ports(2)
    proxy = ctx.sipline(call_config(proxy_port)).start()
    register_user(proxy_port, "1002", uas_port)
    _, _, retransmissions = run_call_load(ctx, proxy_port, uas_port, calls, 15, "u1",
                                          uac_scenario="uac_cancel.xml",
                                          uas_scenario="uas_cancel.xml")
    counters = require_clean_stop(proxy)
    if "forwarded_requests" in counters[0] and retransmissions == 0:
        # INVITE, CANCEL, ACK one way; 180, 200 (CANCEL), 487 the other.
        check(total(counters, "forwarded_requests") == 3 * calls and
              total(counters, "forwarded_responses") == 3 * calls,
              "expected %d requests and responses forwarded each way: %s" % (
                  3 * calls, harness.brief(counters)))


# --- 5. every method ------------------------------------------------------------------------

def test_methods(ctx):
    """The 14 methods of RFC 3261 and its extensions and an unknown one are forwarded and
    their responses routed back; REGISTER for a domain not ours is forwarded too."""
    proxy_port, echo_port = harness.free_udp_ports(2)
    echo = sipmsg.EchoUas()
    ctx.cleanups.append(echo.close)
    # The client host is not among our names here, so "REGISTER sip:<client>:<echo port>" is
    # for another registrar; users' requests go to sip:2000@sipline.test.
    echo_address = "%s:%d" % (harness.NET.client_host, echo.port)
    routes = [{"name": "to-echo", "action": "forward", "target": "sip:" + echo_address}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, names=("sipline.test",))).start()
    forwarded_requests = forwarded_responses = 0
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        invite_to = invite_cseq = None
        for method in sipmsg.METHODS + ("FOOBAR",):
            uri = "sip:2000@sipline.test"
            to = None
            if method == "REGISTER":
                uri = "sip:" + echo_address
                to = "<sip:1001@%s>" % echo_address
            cseq = agent.cseq + 1
            if method == "ACK":
                to, cseq = invite_to, invite_cseq
            agent.cseq = max(agent.cseq, cseq)
            branch = sipmsg.new_token("z9hG4bK")
            agent.request(method, uri, to=to, cseq=cseq, branch=branch, wait=False)
            seen = len(echo.received)
            echo.poll(0.3)
            arrived = [m for m in echo.received[seen:] if m is not None and not m.is_response]
            check(len(arrived) == 1 and arrived[0].method == method,
                  "%s was not forwarded once to the next hop: %s" % (method, arrived))
            forwarded_requests += 1
            vias = arrived[0].get_all("Via")
            check(len(vias) == 2 and ("branch=%s" % branch) in vias[1] and
                  proxy_address(proxy_port) in vias[0],
                  "%s arrived without the proxy's Via on top of ours: %s" % (method, vias))
            check(arrived[0].get("Max-Forwards") == "69",
                  "%s: Max-Forwards %s, expected 69" % (method, arrived[0].get("Max-Forwards")))
            if method == "ACK":
                continue
            answer = agent.wait_final(agent.call_id, cseq, 2.0)
            require_status(answer, 200, "%s through the proxy" % method)
            check(answer.method == method and len(answer.get_all("Via")) == 1 and
                  ("branch=%s" % branch) in answer.get("Via"),
                  "200 for %s came back with the wrong Via/CSeq: %s" % (method, describe(answer)))
            forwarded_responses += 1
            if method == "INVITE":
                invite_to, invite_cseq = answer.get("To"), cseq
    counters = require_clean_stop(proxy)
    if "forwarded_requests" in counters[0]:
        check(total(counters, "forwarded_requests") == forwarded_requests and
              total(counters, "forwarded_responses") == forwarded_responses,
              "expected %d requests and %d responses forwarded: %s" % (
                  forwarded_requests, forwarded_responses, harness.brief(counters)))
    check(total(counters, "to_control") == 0, "the foreign REGISTER went to our registrar")


# --- 5a. Route headers: loose and strict routers (RFC 3261 §16.4, §16.6 step 7) ------------

def test_routing(ctx):
    """In-dialog BYEs along Route headers to an echo UAS standing in for the next router: our
    own Route is popped and a loose next hop gets the Request-URI unchanged; a next hop
    without ;lr (an RFC 2543 strict router) gets its URI as Request-URI and the Request-URI as
    last Route value; a BYE from a strict router (our address as Request-URI) goes on with the
    last Route value as Request-URI. A REGISTER for us with a preloaded Route to us (a phone's
    outbound proxy) reaches the registrar: 401."""
    proxy_port, = harness.free_udp_ports(1)
    echo = sipmsg.EchoUas()
    ctx.cleanups.append(echo.close)
    echo_address = "%s:%d" % (harness.NET.client_host, echo.port)
    routes = [{"name": "users", "user_prefix": "10", "action": "location"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, names=("sipline.test",))).start()
    ours = "<sip:%s;lr>" % proxy_address(proxy_port)
    target = "sip:2000@" + echo_address  # the callee's Contact, behind the next router
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        def through(uri, route, what):
            """The BYE as the next hop received it; its 200 must come back."""
            agent.request("BYE", uri, headers=[("Route", route)],
                          to="<sip:2000@sipline.test>;tag=callee", wait=False)
            seen = len(echo.received)
            echo.poll(0.3)
            arrived = [m for m in echo.received[seen:] if m is not None and not m.is_response]
            check(len(arrived) == 1, "%s: the next hop got %s" % (what, arrived))
            require_status(agent.wait_final(agent.call_id, agent.cseq, 2.0), 200, what)
            return arrived[0]

        bye = through(target, "%s, <sip:%s;lr>" % (ours, echo_address), "loose next hop")
        check(bye.start_line == "BYE %s SIP/2.0" % target and
              bye.get_all("Route") == ["<sip:%s;lr>" % echo_address],
              "loose next hop: %s, Route %s" % (bye.start_line, bye.get_all("Route")))

        bye = through(target, "%s, <sip:%s>" % (ours, echo_address), "strict next hop")
        check(bye.start_line == "BYE sip:%s SIP/2.0" % echo_address and
              bye.get_all("Route") == ["<%s>" % target],
              "strict next hop: %s, Route %s" % (bye.start_line, bye.get_all("Route")))

        bye = through("sip:%s" % proxy_address(proxy_port),
                      "<sip:%s;lr>, <%s>" % (echo_address, target), "from a strict router")
        check(bye.start_line == "BYE %s SIP/2.0" % target and
              bye.get_all("Route") == ["<sip:%s;lr>" % echo_address],
              "from a strict router: %s, Route %s" % (bye.start_line, bye.get_all("Route")))

        agent.call_id = sipmsg.new_token("e2e-") + "@" + harness.NET.client_host
        answer = agent.request("REGISTER", "sip:sipline.test", headers=[("Route", ours)],
                               to="<sip:1001@sipline.test>")
        require_status(answer, 401, "REGISTER with a preloaded Route to us")
    counters = require_clean_stop(proxy)
    check(total(counters, "forwarded") == 6 and total(counters, "dropped") == 0,
          "expected 3 BYEs and their 200s forwarded, nothing dropped: %s" %
          harness.brief(counters))


# --- 5b. Server pools with OPTIONS health probes --------------------------------------------

class EchoServer:
    """A sipmsg.EchoUas answering on a thread of its own until stopped, so that the proxy's
    probes are answered whenever they come."""

    def __init__(self, port=0, lose_invites=0, ring=False, ring_after=0.0):
        self.echo = sipmsg.EchoUas(port, lose_invites, ring, ring_after)
        self.port = self.echo.port
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                self.echo.poll(0.05)
            except OSError:  # closed by stop()
                return

    def stop(self):
        if self.running:
            self.running = False
            self.thread.join(5)
            self.echo.close()

    def requests(self, method):
        return [m for m in list(self.echo.received)
                if m is not None and not m.is_response and m.method == method]


def wait_for_log(proxy, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in proxy.log_lines()):
            return
        time.sleep(0.05)
    raise TestFailure("no log line with %r within %.0f s:\n%s" % (
        text, timeout, harness.tail(proxy.log_path)))


def test_pools(ctx):
    """A route to a pool of three servers, probed with OPTIONS every second: two echo UASes
    and a port where nothing answers. The silent member goes down after two lost probes and
    gets no call; new INVITEs spread over the two others, each answered 200 through the
    proxy. One echo stopped: it goes down, and every INVITE goes to the other. Both stopped:
    503 with Retry-After, counted as pool_unavailable. One started again on its port: it is up
    after one answered probe and takes the calls again."""
    proxy_port, dead_port = harness.free_udp_ports(2)
    servers = [EchoServer(), EchoServer()]
    for server in servers:
        ctx.cleanups.append(server.stop)
    host = harness.NET.client_host
    members = ["sip:%s:%d" % (host, server.port) for server in servers]
    dead = "sip:%s:%d" % (host, dead_port)
    pools = [{"name": "pbx", "members": members + [dead], "probe_interval": 1,
              "down_after": 2, "up_after": 1}]
    routes = [{"name": "to-pbx", "user_prefix": "8", "action": "forward", "pool": "pbx"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    wait_for_log(proxy, 'pool "pbx": member %s is down' % dead, 10)

    def calls(count, expect):
        """`count` INVITEs with new Call-IDs; each must be answered `expect`. Returns how many
        each echo received."""
        before = [len(server.requests("INVITE")) for server in servers]
        with sipmsg.Agent(proxy_port, user="1001") as agent:
            for n in range(count):
                agent.call_id = sipmsg.new_token("pool-") + "@" + host
                answer = agent.request("INVITE", "sip:8000@sipline.test",
                                       to="<sip:8000@sipline.test>", timeout=3.0)
                require_status(answer, expect, "INVITE %d to the pool" % n)
                if expect == 503:
                    check(answer.get("Retry-After") == "1",
                          "503 without Retry-After: 1: %s" % describe(answer))
        time.sleep(0.2)
        return [len(server.requests("INVITE")) - b for server, b in zip(servers, before)]

    spread = calls(40, 200)
    check(sum(spread) == 40 and min(spread) > 0,
          "40 INVITEs should reach the two live members, both: %s" % spread)
    for server in servers:
        options = server.requests("OPTIONS")
        check(len(options) >= 2 and "branch=z9hG4bK-sl" in options[0].get("Via") and
              options[0].start_line.startswith("OPTIONS sip:%s:" % host),
              "the live members were not probed with OPTIONS: %s" % [o.start_line for o in options])

    servers[0].stop()
    wait_for_log(proxy, 'pool "pbx": member %s is down' % members[0], 10)
    check(calls(20, 200) == [0, 20], "with member 0 down every INVITE goes to member 1")

    servers[1].stop()
    wait_for_log(proxy, 'pool "pbx": member %s is down' % members[1], 10)
    calls(3, 503)

    servers[0] = EchoServer(servers[0].port)  # started again on its port
    ctx.cleanups.append(servers[0].stop)
    wait_for_log(proxy, 'pool "pbx": member %s is up' % members[0], 10)
    check(calls(10, 200)[0] == 10, "the member that came back takes the calls again")

    require_clean_stop(proxy)
    counters = proxy.final_counters
    check(total(counters, "pool_unavailable") == 3,
          "expected 3 requests answered 503 for the pool: %s" % harness.brief(counters))
    pool_lines = [line for line in proxy.log_lines() if line.startswith("pool pbx member")]
    check(len(pool_lines) >= 3 and "member 2 %s: down" % dead in " ".join(pool_lines) and
          "lost=0" not in pool_lines[-1],
          "the shutdown counters should list the members: %s" % pool_lines)


def test_pool_unanswering(ctx):
    """Failover in a probed pool: an echo UAS and a port where nothing listens, probed every
    5 s (down after 3 lost probes: 15 s). The first INVITE that meets the silent member waits
    failover_timeout_ms (300) and is answered by the echo; that worker takes the silent
    member out of new calls at once ("unanswering"), so the 30 calls that follow, sent
    within the next few seconds (long before the probes would take it down), never wait for
    it: exactly one failover timeout for 31 calls, every call answered 200, the member line
    says `down unanswering`."""
    proxy_port, dead_port = harness.free_udp_ports(2)
    echo = EchoServer()
    ctx.cleanups.append(echo.stop)
    host = harness.NET.client_host
    dead = "sip:%s:%d" % (host, dead_port)
    pools = [{"name": "pbx", "members": ["sip:%s:%d" % (host, echo.port), dead],
              "probe_interval": 5, "down_after": 3, "up_after": 1, "failover": True,
              "failover_timeout_ms": 300}]
    routes = [{"name": "to-pbx", "user_prefix": "8", "action": "forward", "pool": "pbx"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    started = time.monotonic()
    waited = []
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        for n in range(31):
            agent.call_id = sipmsg.new_token("unanswering-") + "@" + host
            sent = time.monotonic()
            answer = agent.request("INVITE", "sip:8000@sipline.test",
                                   to="<sip:8000@sipline.test>", timeout=3.0)
            require_status(answer, 200, "INVITE %d to the pool" % n)
            if time.monotonic() - sent > 0.25:
                waited.append(n)
    elapsed = time.monotonic() - started
    check(elapsed < 12, "31 calls took %.1f s: the probes may have taken the member down "
          "first, the test proves nothing" % elapsed)
    wait_for_log(proxy, "member %s did not answer an INVITE within 300 ms" % dead, 2)
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "failover_timeouts") == 1 and len(waited) <= 1 and
          total(counters, "failover_unanswering") == 1,
          "one call should have waited for the silent member, none after it was marked: "
          "calls that waited %s, counters %s" % (waited, brief))
    check(total(counters, "failover_tracked") == 31 and total(counters, "dropped") == 0,
          "expected 31 tracked calls and nothing dropped: %s" % brief)
    lines = [line for line in proxy.log_lines() if line.startswith("pool pbx member 1 ")]
    check(lines and ": down unanswering " in lines[-1],
          "the silent member's line should say down unanswering: %s" % lines)


def test_pools_under_load(ctx):
    """1,500 SIPp calls at 150 calls/s to a pool of two SIPp UASes (not probed: a SIPp UAS
    takes an OPTIONS for a failed call). Four seconds in, a reload drains member A: every
    call still completes (those A had go on: their ACK and BYE follow its Contact, not the
    pool), the calls split A ≈ 300 (before the drain) and B the rest, and nothing is
    dropped."""
    calls, rate, drain_after = 1500, 150, 4.0
    proxy_port, port_a, port_b = harness.free_udp_ports(3)
    host = harness.NET.client_host
    members = ["sip:%s:%d" % (host, port) for port in (port_a, port_b)]

    def config(drain_a):
        first = {"uri": members[0], "drain": True} if drain_a else members[0]
        pools = [{"name": "pbx", "members": [first, members[1]], "probe_interval": 0}]
        routes = [{"name": "to-pbx", "user_prefix": "1002", "action": "forward", "pool": "pbx"}]
        return harness.sipline_config(proxy_port, routes, pools=pools)

    proxy = ctx.sipline(config(False)).start()
    uas_limit = int(calls / rate + drain_after + 6)
    servers = [ctx.sipp("uas-" + name, "uas_call.xml", sipp_common("u1") + [
        "-p", str(port), "-s", "1002"], uas_limit).start()
        for name, port in (("a", port_a), ("b", port_b))]
    time.sleep(0.3)
    uac = ctx.sipp("uac", "uac_call.xml", [
        proxy_address(proxy_port), "-s", "1002", "-r", str(rate), "-rp", "1000",
        "-m", str(calls), "-l", str(rate * 2),
        "-p", str(harness.free_udp_port(exclude=(proxy_port, port_a, port_b)))] +
        sipp_common("u1"), int(calls / rate * 2 + 30)).start()
    time.sleep(drain_after)
    with open(proxy.config_path + ".new", "w") as handle:
        handle.write(config(True))
    os.replace(proxy.config_path + ".new", proxy.config_path)
    os.kill(proxy.process.pid, signal.SIGHUP)
    uac.wait(int(calls / rate * 2 + 35))
    for server in servers:
        server.wait(uas_limit + 10)  # each exits at its -timeout, writing its statistics
    uac.require_success(calls)
    on_a, on_b = (server.count("SuccessfulCall") or 0 for server in servers)
    failed = [server.count("FailedCall") for server in servers]
    print("e2e: calls completed by member A %d (drained after %.0f s), by B %d" % (
        on_a, drain_after, on_b))
    check(on_a + on_b == calls and failed == [0, 0],
          "the UASes completed %d + %d calls (failed %s), expected %d" % (
              on_a, on_b, failed, calls))
    # Before the drain A takes about half of 4 s x 150 calls/s; after it, none.
    check(0 < on_a <= drain_after * rate * 0.75 and on_b >= calls - drain_after * rate * 0.75,
          "draining A should leave it only the calls of the first %.0f s: A %d, B %d" % (
              drain_after, on_a, on_b))
    counters = require_clean_stop(proxy)
    check(total(counters, "dropped") == 0, "sipline dropped messages: %s" % harness.brief(counters))


def test_pool_failover(ctx):
    """Per-call failover (`failover = true`): 200 SIPp calls at 25 calls/s to a pool of three
    members, not probed: A (a SIPp UAS answering every INVITE 503, uas_503.xml), B (a SIPp
    UAS that takes calls, uas_call.xml) and C (a port where nothing listens). Each call's
    Call-ID orders the members; a call that meets A first gets A's 503 ACKed by sipline and
    goes on to the next member, one that meets C waits failover_timeout_ms (300) and goes
    on. Every call completes, on B; A got its ACK for every 503 (its scenario requires it);
    the caller never saw a 503, and its calls took as long as the waits for C say; sipline
    counts every call tracked, retries and timeouts, nothing exhausted or untracked,
    nothing dropped; sipline answered each INVITE 100 Trying itself (RFC 3261 §17.2.1), so
    the caller never retransmitted it.

    Before sipline answered 100 itself, the caller retransmitted its INVITE after T1 =
    500 ms, the retransmission went on to the current member, and arriving at B just after
    B's 200 it made SIPp's UAS abort the call (SIPp 3.6.1 takes an INVITE retransmission
    after its 200 for an unexpected message; a real UAS absorbs it). The test found that;
    it keeps a short failover_timeout_ms (300) only to run quickly."""
    calls, rate, timeout_ms = 200, 25, 300
    proxy_port, port_a, port_b, port_c = harness.free_udp_ports(4)
    host = harness.NET.client_host
    members = ["sip:%s:%d" % (host, port) for port in (port_a, port_b, port_c)]
    pools = [{"name": "pbx", "members": members, "probe_interval": 0, "failover": True,
              "failover_codes": [503], "failover_timeout_ms": timeout_ms}]
    routes = [{"name": "to-pbx", "user_prefix": "1002", "action": "forward", "pool": "pbx"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    uac_limit = int(calls / rate * 2 + 30)
    # A runs until told to stop (SIGUSR1: SIPp's graceful quit, statistics written); its
    # -timeout only bounds it. B ends after its `calls` calls.
    uas_a = ctx.sipp("uas-a", "uas_503.xml", sipp_common("u1") + [
        "-p", str(port_a), "-s", "1002"], uac_limit + 20).start()
    uas_b = ctx.sipp("uas-b", "uas_call.xml", sipp_common("u1") + [
        "-p", str(port_b), "-s", "1002", "-m", str(calls)], uac_limit + 20).start()
    time.sleep(0.3)
    for server in (uas_a, uas_b):
        check(server.process.poll() is None, "SIPp %s exited at start:\n%s" % (
            server.name, server.diagnostics()))
    uac = ctx.sipp("uac", "uac_call.xml", [
        proxy_address(proxy_port), "-s", "1002", "-r", str(rate), "-rp", "1000",
        "-m", str(calls), "-l", str(rate * 2),
        "-p", str(harness.free_udp_port(exclude=(proxy_port, port_a, port_b, port_c)))] +
        sipp_common("u1"), uac_limit)
    started = time.monotonic()
    uac.start()
    uac.wait(uac_limit + 5)
    elapsed = time.monotonic() - started
    try:
        uas_b.wait(15)
    except TestFailure:
        raise TestFailure("SIPp UAS B did not finish its %d calls after the UAC ended (UAC "
                          "exit %s).\n%s\n%s" % (calls, uac.process.returncode,
                                                 uac.diagnostics(), uas_b.diagnostics()))
    # A's last 503 was ACKed long ago (at least a BYE's round trip): nothing is in flight.
    if uas_a.process.poll() is None:
        os.kill(uas_a.process.pid, signal.SIGUSR1)
    uas_a.wait(15)
    uac.require_success(calls)
    uas_b.require_success(calls)
    on_a, failed_a = uas_a.count("SuccessfulCall"), uas_a.count("FailedCall")
    print("e2e: %d calls in %.1f s; member A answered 503 to %s INVITEs (%s without our ACK), "
          "B completed %s; UAC retransmissions %s" % (
              calls, elapsed, on_a, failed_a, uas_b.count("SuccessfulCall"),
              uac.count("Retransmissions")))
    check(on_a is not None and on_a > 0 and failed_a == 0,
          "member A should have answered some INVITEs 503 and got our ACK for each: %s "
          "successful, %s failed (a failed call there: no ACK within %s ms)\n%s" % (
              on_a, failed_a, RECV_TIMEOUT_MS, uas_a.diagnostics()))
    # A 503 relayed to the caller (as 500, RFC 3261 §16.7 step 6) fails its call
    # (unexpected) or, after the call, is logged as a message for a dead call.
    try:
        with open(uac.err_path, errors="replace") as handle:
            text = handle.read()
            relayed = text.count("SIP/2.0 503 ") + text.count("SIP/2.0 500 ")
    except OSError:  # SIPp writes no error file when nothing went wrong
        relayed = 0
    check(relayed == 0, "the caller received %d 503s or 500s (failover must absorb them):\n%s" % (
        relayed, uac.diagnostics()))
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "failover_tracked") == calls,
          "expected every one of the %d INVITEs tracked: %s" % (calls, brief))
    check(total(counters, "local_1xx") == calls,
          "expected our 100 Trying for each of the %d INVITEs: %s" % (calls, brief))
    # Each call meets A first, or C first, or B first (a third each, by its Call-ID).
    timeouts = total(counters, "failover_timeouts")
    check(total(counters, "failover_retries") > 0 and timeouts > 0,
          "some calls should have failed over from A (503) and some from C (no answer): %s"
          % brief)
    check(total(counters, "failover_retries") >= timeouts,
          "every timeout (B is always left) must lead to a retry: %s" % brief)
    # A call waits failover_timeout_ms for C each time: the callers' mean call length shows
    # that those waits were not cut short (an attempt timed out early would leave its
    # member's late answers to a call that went on elsewhere).
    mean_ms = sipp_duration_ms(uac.stats().get("CallLength(C)", ""))
    floor_ms = 0.8 * timeouts * timeout_ms / calls
    print("e2e: %d timeouts, mean call length %s ms (floor %.0f ms), %d ACKs sent" % (
        timeouts, mean_ms, floor_ms, total(counters, "acks_sent")))
    check(mean_ms is not None and mean_ms >= floor_ms,
          "mean call length %s ms: %d timeouts of %d ms over %d calls need at least %.0f ms"
          % (mean_ms, timeouts, timeout_ms, calls, floor_ms))
    # Every 503 A sent got our ACK: the first of each call (A's successful calls) and the
    # 503s A sent again for an INVITE retransmission the caller sent while A was the
    # current attempt (A's Retransmissions; their ACKs reach A after its call ended).
    retransmitted_a = uas_a.count("Retransmissions") or 0
    check(total(counters, "acks_sent") == on_a + retransmitted_a,
          "sipline sent %d ACKs; member A sent %d 503s (%d calls, %d again): %s" % (
              total(counters, "acks_sent"), on_a + retransmitted_a, on_a, retransmitted_a,
              brief))
    retransmissions = sum(sipp.count("Retransmissions") or 0 for sipp in (uac, uas_a, uas_b))
    if retransmissions == 0:
        # Each call: INVITE, ACK, BYE from the caller, the INVITE again per retry and our
        # ACKs; back only 180, 200 and the BYE's 200 (no 503 relayed).
        check(total(counters, "forwarded_requests") == 3 * calls + total(
            counters, "failover_retries") + total(counters, "acks_sent") and
              total(counters, "forwarded_responses") == 3 * calls,
              "expected %d requests (3 per call, retries, our ACKs) and %d responses "
              "forwarded: %s" % (3 * calls + total(counters, "failover_retries") +
                                 total(counters, "acks_sent"), 3 * calls, brief))
    check(total(counters, "failover_exhausted") == 0 and
          total(counters, "failover_untracked") == 0,
          "no call should run out of members (B takes them all) or go untracked: %s" % brief)
    check(total(counters, "dropped") == 0, "sipline dropped messages: %s" % brief)


def test_pool_retransmit(ctx):
    """Timer A (RFC 3261 §17.1.1.2) towards pool members. sipline answers a tracked INVITE
    100 Trying itself, so the caller stops retransmitting; sipline retransmits it to the
    member instead. Pool "lossy" (failover_timeout_ms 2000, probed): one echo UAS that loses
    the first two copies of every INVITE. Each of 4 calls is answered 200 after the third
    copy, at least 1.5 s after it was sent (T1 = 500 ms, then 2 T1); the member got three
    byte-identical copies per call (the same branch: one client transaction); nothing timed
    out, failed over or marked the member. Pool "silent" (failover_timeout_ms 1200): an echo
    UAS that answers no INVITE gets exactly two copies (at 0 and T1; the next would be at
    1.5 s, after the failover timer) and the caller gets 408 from sipline, which sends it
    again T1 later (Timer G: the caller stopped retransmitting at our 100) and no more after
    the caller's ACK."""
    calls = 4
    proxy_port, = harness.free_udp_ports(1)
    lossy, silent = EchoServer(lose_invites=2), EchoServer(lose_invites=1000)
    for server in (lossy, silent):
        ctx.cleanups.append(server.stop)
    host = harness.NET.client_host
    pools = [{"name": "lossy", "members": ["sip:%s:%d" % (host, lossy.port)],
              "probe_interval": 5, "failover": True, "failover_timeout_ms": 2000},
             {"name": "silent", "members": ["sip:%s:%d" % (host, silent.port)],
              "probe_interval": 0, "failover": True, "failover_timeout_ms": 1200}]
    routes = [{"name": "to-lossy", "user_prefix": "8", "action": "forward", "pool": "lossy"},
              {"name": "to-silent", "user_prefix": "9", "action": "forward", "pool": "silent"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        for n in range(calls):
            agent.call_id = sipmsg.new_token("lossy-") + "@" + host
            sent = time.monotonic()
            answer = agent.request("INVITE", "sip:8000@sipline.test",
                                   to="<sip:8000@sipline.test>", timeout=4.0)
            took = time.monotonic() - sent
            require_status(answer, 200, "INVITE %d to the lossy member" % n)
            check(took >= 1.45, "call %d was answered after %.2f s: the member's third copy "
                  "cannot have been sent before 1.5 s" % (n, took))
        agent.call_id = sipmsg.new_token("silent-") + "@" + host
        branch = sipmsg.new_token("z9hG4bK")
        sent = time.monotonic()
        answer = agent.request("INVITE", "sip:9000@sipline.test", branch=branch, cseq=1,
                               to="<sip:9000@sipline.test>", timeout=4.0)
        took = time.monotonic() - sent
        require_status(answer, 408, "INVITE to the silent member")
        check(1.15 <= took < 3.0, "the 408 came after %.2f s, expected the failover timer's "
              "1.2 s" % took)
        # Timer G (§17.2.1): the caller stopped retransmitting at our 100, so our 408 comes
        # again T1 later until the caller ACKs it (on the INVITE's branch, §17.1.1.3).
        again = agent.wait_final(agent.call_id, 1, 1.5)
        check(again is not None and again.status == 408 and
              again.get("To") == answer.get("To"),
              "our 408 was not sent again before the caller's ACK: %s" % again)
        agent.request("ACK", "sip:9000@sipline.test", branch=branch, cseq=1,
                      to=answer.get("To"), wait=False)
        check(agent.wait_final(agent.call_id, 1, 2.5) is None,
              "our 408 was sent again after the caller's ACK")
    copies = {}
    for raw, message in zip(list(lossy.echo.raw), list(lossy.echo.received)):
        if message is not None and not message.is_response and message.method == "INVITE":
            copies.setdefault(message.get("Call-ID"), []).append(raw)
    check(len(copies) == calls and all(
        len(sent) == 3 and len(set(sent)) == 1 for sent in copies.values()),
        "the lossy member should have got 3 identical copies of each of %d INVITEs: %s" % (
            calls, {call_id: len(sent) for call_id, sent in copies.items()}))
    silent_invites = silent.requests("INVITE")
    check(len(silent_invites) == 2, "the silent member got %d INVITEs, expected 2 (at 0 and "
          "T1)" % len(silent_invites))
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "failover_retransmits") == 2 * calls + 1,
          "expected %d retransmissions: %s" % (2 * calls + 1, brief))
    check(total(counters, "failover_timeouts") == 1 and
          total(counters, "failover_exhausted") == 1 and
          total(counters, "failover_retries") == 0 and
          total(counters, "failover_unanswering") == 0,
          "only the silent member's call should have timed out (no member to retry, not "
          "probed: not marked): %s" % brief)
    check(total(counters, "failover_tracked") == calls + 1 and total(counters, "dropped") == 0,
          "expected %d tracked calls and nothing dropped: %s" % (calls + 1, brief))
    check(total(counters, "answers_retransmitted") == 1 and
          total(counters, "acks_absorbed") == 1,
          "expected our 408 sent once more and the caller's ACK absorbed: %s" % brief)


def test_pool_timer_c(ctx):
    """Timer C (RFC 3261 §16.6 step 11, §16.8) towards a pool member whose callee rings and
    never answers. Pool "ringing" (failover, timer_c_ms 2000, not probed): one UAS that
    answers INVITE 180 only, CANCEL 200 and then the INVITE 487. The caller gets sipline's
    100 and the 180, then, about 2 s after the 180, the 487 that sipline's own CANCEL brought.
    The member got exactly one INVITE, one CANCEL and the caller's ACK for the 487: the CANCEL
    matches the INVITE it got (Request-URI, top Via, From, Call-ID, CSeq number; To without
    the callee's tag, §9.1) and the ACK has the INVITE's branch (hop by hop, §17.1.1.3).
    Counters: Timer C fired once, one CANCEL of ours, its answer absorbed, nothing dropped."""
    proxy_port, = harness.free_udp_ports(1)
    member = EchoServer(ring=True)
    ctx.cleanups.append(member.stop)
    host = harness.NET.client_host
    pools = [{"name": "ringing", "members": ["sip:%s:%d" % (host, member.port)],
              "probe_interval": 0, "failover": True, "timer_c_ms": 2000}]
    routes = [{"name": "to-ringing", "user_prefix": "8", "action": "forward",
               "pool": "ringing"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    statuses, final = [], None
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        agent.call_id = sipmsg.new_token("ring-") + "@" + host
        branch = sipmsg.new_token("z9hG4bK")
        agent.request("INVITE", "sip:8000@sipline.test", branch=branch, cseq=1,
                      to="<sip:8000@sipline.test>", wait=False)
        sent = time.monotonic()
        deadline = sent + 8.0
        while final is None and time.monotonic() < deadline:
            message = agent.receive(deadline - time.monotonic())
            if message is None or not message.is_response:
                continue
            statuses.append((message.status, time.monotonic() - sent))
            if message.status >= 200:
                final = message
        require_status(final, 487, "INVITE to the member whose callee never answers")
        ringing_at = [at for status, at in statuses if status == 180]
        check([status for status, _ in statuses] == [100, 180, 487] and
              1.9 <= statuses[-1][1] - ringing_at[0] < 4.0,
              "expected 100, 180, then 487 about 2 s (Timer C) after the 180: %s" % statuses)
        agent.request("ACK", "sip:8000@sipline.test", branch=branch, cseq=1,
                      to=final.get("To"), wait=False)
        ack_deadline = time.monotonic() + 3.0
        while not member.requests("ACK") and time.monotonic() < ack_deadline:
            time.sleep(0.05)
    invites, cancels, acks = (member.requests(m) for m in ("INVITE", "CANCEL", "ACK"))
    check(len(invites) == 1 and len(cancels) == 1 and len(acks) == 1,
          "the member should have got one INVITE, one CANCEL and one ACK: %d, %d, %d" % (
              len(invites), len(cancels), len(acks)))
    invite, cancel, ack = invites[0], cancels[0], acks[0]
    check(cancel.start_line == invite.start_line.replace("INVITE", "CANCEL", 1) and
          cancel.get_all("Via") == invite.get_all("Via")[:1] and
          cancel.get("From") == invite.get("From") and
          cancel.get("To") == invite.get("To") and
          cancel.get("Call-ID") == invite.get("Call-ID") and
          cancel.get("CSeq") == "1 CANCEL",
          "sipline's CANCEL does not match the INVITE the member got (§9.1):\n%s\n%s" % (
              cancel.raw, invite.raw))
    check(ack.top_via_branch() == invite.top_via_branch(),
          "the caller's ACK for the 487 reached the member on branch %s, its INVITE had %s" % (
              ack.top_via_branch(), invite.top_via_branch()))
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "timer_c_fired") == 1 and total(counters, "cancels_sent") == 1 and
          total(counters, "cancel_answers") == 1 and
          total(counters, "cancels_unsent") == 0 and total(counters, "dropped") == 0,
          "expected one CANCEL of ours at Timer C, its answer absorbed, nothing dropped: %s" %
          brief)


def test_pool_cancel(ctx):
    """The caller's CANCEL of an INVITE tracked for a pool (RFC 3261 §16.10, §9.1). Pool
    "ringing": a member that rings at once; pool "slow": one whose 180 comes 1 s after the
    INVITE (both answer CANCEL 200, then the INVITE 487). In both calls the caller gets 200
    for its CANCEL from sipline at once and then the member's 487, and the member gets one
    CANCEL of sipline's own, matching its INVITE (its Via alone), and the caller's ACK on the
    INVITE's branch. To the slow member that CANCEL goes only after its 180 (a CANCEL must not
    overtake the INVITE), and no INVITE copy follows the caller's CANCEL (Timer A stops).
    Counters: two CANCELs of ours, both answers absorbed, Timer C never fired, nothing
    dropped."""
    proxy_port, = harness.free_udp_ports(1)
    ringing, slow = EchoServer(ring=True), EchoServer(ring=True, ring_after=1.0)
    for server in (ringing, slow):
        ctx.cleanups.append(server.stop)
    host = harness.NET.client_host
    pools = [{"name": "ringing", "members": ["sip:%s:%d" % (host, ringing.port)],
              "probe_interval": 0, "failover": True},
             {"name": "slow", "members": ["sip:%s:%d" % (host, slow.port)],
              "probe_interval": 0, "failover": True, "failover_timeout_ms": 4000}]
    routes = [{"name": "to-ringing", "user_prefix": "8", "action": "forward",
               "pool": "ringing"},
              {"name": "to-slow", "user_prefix": "9", "action": "forward", "pool": "slow"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        for uri, member, cancel_at in (("sip:8000@sipline.test", ringing, 180),
                                       ("sip:9000@sipline.test", slow, 100)):
            agent.call_id = sipmsg.new_token("cancel-") + "@" + host
            branch = sipmsg.new_token("z9hG4bK")
            agent.request("INVITE", uri, branch=branch, cseq=1, to="<%s>" % uri, wait=False)
            got, final = [], None
            deadline = time.monotonic() + 6.0
            while final is None and time.monotonic() < deadline:
                message = agent.receive(deadline - time.monotonic())
                if message is None or not message.is_response:
                    continue
                got.append(message)
                if message.status == cancel_at and message.get("CSeq") == "1 INVITE":
                    agent.request("CANCEL", uri, branch=branch, cseq=1, to="<%s>" % uri,
                                  wait=False)
                if message.status >= 200 and message.get("CSeq") == "1 INVITE":
                    final = message
            answered = [m.status for m in got if m.get("CSeq") == "1 CANCEL"]
            check(answered == [200], "the caller's CANCEL to %s should be answered 200 once: "
                  "%s" % (uri, got))
            require_status(final, 487, "the cancelled INVITE to %s" % uri)
            agent.request("ACK", uri, branch=branch, cseq=1, to=final.get("To"), wait=False)
            ack_deadline = time.monotonic() + 3.0
            while not any(m.get("Call-ID") == agent.call_id for m in member.requests("ACK")) \
                    and time.monotonic() < ack_deadline:
                time.sleep(0.05)
            echo = member.echo
            mine = [(m, at) for m, at in zip(list(echo.received), list(echo.received_at))
                    if m is not None and not m.is_response and m.get("Call-ID") == agent.call_id]
            by_method = {}
            for message, at in mine:
                by_method.setdefault(message.method, []).append((message, at))
            invites, cancels, acks = (by_method.get(m, []) for m in ("INVITE", "CANCEL", "ACK"))
            check(len(invites) == 1 and len(cancels) == 1 and len(acks) == 1,
                  "%s: the member should have got one INVITE, one CANCEL and one ACK: %s" % (
                      uri, [m.start_line for m, _ in mine]))
            invite, cancel = invites[0][0], cancels[0][0]
            check(cancel.get_all("Via") == invite.get_all("Via")[:1] and
                  cancel.get("CSeq") == "1 CANCEL" and cancel.get("To") == invite.get("To"),
                  "%s: the CANCEL at the member is not sipline's own for its INVITE:\n%s" % (
                      uri, cancel.raw))
            check(acks[0][0].top_via_branch() == invite.top_via_branch(),
                  "%s: the caller's ACK should reach the member on its INVITE's branch" % uri)
            rang = echo.rang_at.get(agent.call_id)
            check(rang is not None and cancels[0][1] >= rang,
                  "%s: the CANCEL reached the member before its 180 was sent (§9.1)" % uri)
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "cancels_sent") == 2 and total(counters, "cancel_answers") == 2 and
          total(counters, "timer_c_fired") == 0 and total(counters, "dropped") == 0,
          "expected two CANCELs of ours, their answers absorbed, nothing dropped: %s" % brief)


def register_sleeping_phone(ctx, proxy_port, user, port, expires):
    """A phone that registered and went to sleep: its socket stays open (closed at cleanup)
    and records what reaches it, and it never answers. Returns its sipmsg.Agent."""
    phone = sipmsg.Agent(proxy_port, port=port, user=user)
    ctx.cleanups.append(phone.close)
    final = challenged_register(phone, "REGISTER %s from the sleeping phone" % user,
                                contact="<%s>" % contact_uri(user, port), expires=expires)
    require_status(final, 200, "REGISTER %s from the sleeping phone" % user)
    return phone


def invite_user(caller, user, proxy_port, timeout):
    """The caller's INVITE to `user` through the proxy; its responses as (status, seconds after
    sending) up to the final one (or `timeout`), and that final response (None when none)."""
    caller.request("INVITE", "sip:%s@%s" % (user, proxy_address(proxy_port)),
                   [("Contact", "<sip:%s@%s:%d>" % (caller.user, harness.NET.client_host,
                                                    caller.port))], wait=False)
    started = time.monotonic()
    statuses, final = [], None
    while final is None and time.monotonic() < started + timeout:
        message = caller.receive(started + timeout - time.monotonic())
        if message is None or not message.is_response:
            continue
        statuses.append((message.status, round(time.monotonic() - started, 2)))
        if message.status >= 200:
            final = message
    return statuses, final


def test_serial_fork(ctx):
    """Serial forking over a user's contacts (a location route's fork = "serial",
    fork_timeout_ms 500). User 1002 is registered twice: from a "laptop" that went to sleep
    (its socket stays open and records what reaches it, but never answers) and refreshed last,
    so first in the table's order, and from a "desk phone" (an echo UAS answering 200). The
    caller's INVITE gets sipline's 100 at once, reaches the laptop with the laptop's own
    Request-URI, and, 0.5 s of silence later, the desk phone with its own, on another branch
    of ours; the desk phone's 200 reaches the caller. Then user 1003 (ring_timeout_ms 1000):
    a phone that rings unanswered is cancelled after 1 s and the next one answers. The
    counters show one timeout, one Timer C CANCEL, two contacts hunted, nothing dropped."""
    proxy_port, laptop_port, desk_port, ringing_port, answering_port = harness.free_udp_ports(5)
    routes = [{"name": "hunt", "user_prefix": "10", "action": "location", "fork": "serial",
               "fork_timeout_ms": 500, "ring_timeout_ms": 1000}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start()
    register_user(proxy_port, "1002", desk_port, expires=300)
    laptop = register_sleeping_phone(ctx, proxy_port, "1002", laptop_port, expires=600)
    desk = EchoServer(port=desk_port)
    ctx.cleanups.append(desk.stop)
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        statuses, final = invite_user(caller, "1002", proxy_port, 5.0)
        require_status(final, 200, "INVITE to a user whose first contact sleeps")
        check(statuses[0][0] == 100 and statuses[0][1] < 0.4 and statuses[-1][1] >= 0.45,
              "expected our 100 at once and the 200 after the 0.5 s fork timeout: %s" % statuses)
        invite_to_laptop = laptop.receive(0.5)
    check(invite_to_laptop is not None and invite_to_laptop.method == "INVITE" and
          invite_to_laptop.start_line == "INVITE %s SIP/2.0" % contact_uri("1002", laptop_port),
          "the laptop (first in order) should have got the INVITE first: %s" %
          describe(invite_to_laptop))
    invites = desk.requests("INVITE")
    check(len(invites) == 1 and
          invites[0].start_line == "INVITE %s SIP/2.0" % contact_uri("1002", desk_port) and
          invites[0].top_via_branch() != invite_to_laptop.top_via_branch(),
          "the desk phone should have got one INVITE with its own URI on a new branch: %s" %
          [m.start_line for m in invites])

    # User 1003: a phone that rings and is never picked up (first in order), then one that
    # answers. ring_timeout_ms 1000: sipline cancels the first after 1 s of ringing, ACKs its
    # 487, and the second answers.
    register_user(proxy_port, "1003", answering_port, expires=300)
    register_user(proxy_port, "1003", ringing_port, expires=600)
    ringing = EchoServer(port=ringing_port, ring=True)
    ctx.cleanups.append(ringing.stop)
    answering = EchoServer(port=answering_port)
    ctx.cleanups.append(answering.stop)
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        statuses, final = invite_user(caller, "1003", proxy_port, 6.0)
        require_status(final, 200, "INVITE to a user whose first phone rings unanswered")
        check([status for status, _ in statuses][:2] == [100, 180] and
              statuses[-1][1] >= 0.95,
              "expected 100, the first phone's 180, then the second's 200 after the 1 s ring "
              "timeout: %s" % statuses)
        deadline = time.monotonic() + 3.0
        while not ringing.requests("ACK") and time.monotonic() < deadline:
            time.sleep(0.05)
    first = ringing.requests("INVITE")
    cancels, acks = ringing.requests("CANCEL"), ringing.requests("ACK")
    check(len(first) == 1 and len(cancels) == 1 and len(acks) == 1 and
          cancels[0].start_line == "CANCEL %s SIP/2.0" % contact_uri("1003", ringing_port) and
          cancels[0].top_via_branch() == first[0].top_via_branch() and
          acks[0].top_via_branch() == first[0].top_via_branch(),
          "the ringing phone should have got INVITE, our CANCEL and our ACK for its 487 on the "
          "INVITE's branch: %s" % [m.start_line for m in first + cancels + acks])
    check(len(answering.requests("INVITE")) == 1,
          "the second phone should have got one INVITE: %d" % len(answering.requests("INVITE")))
    counters = require_clean_stop(proxy)
    check(total(counters, "contacts_hunted") == 2 and
          total(counters, "failover_timeouts") == 1 and total(counters, "timer_c_fired") == 1 and
          total(counters, "cancels_sent") == 1 and total(counters, "dropped") == 0,
          "expected two contacts hunted (after a timeout, after a ring timeout), one CANCEL, "
          "nothing dropped: %s" % harness.brief(counters))


def test_parallel_fork(ctx):
    """Parallel forking (a location route's fork = "parallel"): user 1002 is registered from a
    desk phone (an echo UAS answering 200), a mobile that rings and is never picked up (180;
    a CANCEL gets 200 and the INVITE 487) and a laptop that went to sleep (its socket records
    what reaches it and never answers). The caller's INVITE gets sipline's 100 and reaches all
    three at once, each with its own Request-URI on a branch of its own; the desk phone's 200
    reaches the caller; the mobile gets sipline's CANCEL (same Request-URI and branch as its
    INVITE, once it has answered provisionally, §9.1; "Reason: SIP;cause=200;text="Call
    completed elsewhere"", RFC 3326) and sipline's ACK for its 487; the laptop
    never answered, so it gets no CANCEL. Then a MESSAGE: tried on one phone at a time, the
    silent laptop first and after fork_timeout_ms the mobile, whose 200 reaches the sender.
    Counters: three branches, one CANCEL, one contact hunted on."""
    proxy_port, desk_port, mobile_port, laptop_port = harness.free_udp_ports(4)
    routes = [{"name": "ring-all", "user_prefix": "10", "action": "location",
               "fork": "parallel"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start()
    register_user(proxy_port, "1002", desk_port, expires=300)
    register_user(proxy_port, "1002", mobile_port, expires=400)
    laptop = register_sleeping_phone(ctx, proxy_port, "1002", laptop_port, expires=600)
    desk = EchoServer(port=desk_port)
    ctx.cleanups.append(desk.stop)
    mobile = EchoServer(port=mobile_port, ring=True)
    ctx.cleanups.append(mobile.stop)
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        statuses, final = invite_user(caller, "1002", proxy_port, 5.0)
        require_status(final, 200, "INVITE forked to three phones")
        check(statuses[0][0] == 100, "sipline's 100 should come first: %s" % statuses)
        deadline = time.monotonic() + 3.0
        while not mobile.requests("ACK") and time.monotonic() < deadline:
            time.sleep(0.05)
        laptop_invite = laptop.receive(0.5)
    check(len(desk.requests("INVITE")) == 1 and desk.requests("INVITE")[0].start_line ==
          "INVITE %s SIP/2.0" % contact_uri("1002", desk_port),
          "the desk phone should have got one INVITE with its own URI: %s" %
          [m.start_line for m in desk.requests("INVITE")])
    invites, cancels, acks = (mobile.requests(m) for m in ("INVITE", "CANCEL", "ACK"))
    check(len(invites) == 1 and len(cancels) == 1 and len(acks) == 1 and
          invites[0].start_line == "INVITE %s SIP/2.0" % contact_uri("1002", mobile_port) and
          cancels[0].start_line == "CANCEL %s SIP/2.0" % contact_uri("1002", mobile_port) and
          cancels[0].top_via_branch() == invites[0].top_via_branch() and
          acks[0].top_via_branch() == invites[0].top_via_branch(),
          "the mobile should have got INVITE, our CANCEL and our ACK for its 487 on the INVITE's "
          "branch: %s" % [m.start_line for m in invites + cancels + acks])
    check(cancels[0].get("Reason") == 'SIP;cause=200;text="Call completed elsewhere"',
          "the mobile's CANCEL should say the call was answered elsewhere (RFC 3326): %s" %
          cancels[0].get("Reason"))
    check(laptop_invite is not None and laptop_invite.start_line ==
          "INVITE %s SIP/2.0" % contact_uri("1002", laptop_port),
          "the laptop should have got the INVITE with its own URI: %s" % describe(laptop_invite))
    branches = {invites[0].top_via_branch(), desk.requests("INVITE")[0].top_via_branch(),
                laptop_invite.top_via_branch()}
    check(len(branches) == 3, "each phone's INVITE should have a branch of its own: %s" % branches)
    stray = laptop.receive(0.3)
    while stray is not None and stray.method == "INVITE":  # Timer A's copies
        stray = laptop.receive(0.3)
    check(stray is None, "the silent laptop should get no CANCEL (§9.1): %s" % describe(stray))
    # A MESSAGE rings nobody: it goes to one phone at a time, the laptop first (the most
    # recently registered), and when the laptop says nothing for fork_timeout_ms (2 s), to
    # the mobile, whose 200 reaches the sender.
    with sipmsg.Agent(proxy_port, user="1001") as sender:
        uri = "sip:1002@sipline.test"
        answer = sender.request("MESSAGE", uri, to="<%s>" % uri, timeout=5.0,
                                headers=[("Content-Type", "text/plain")], body=b"hello")
    require_status(answer, 200, "MESSAGE to 1002 (three phones, the first asleep)")
    laptop_message = laptop.receive(0.5)
    check(laptop_message is not None and laptop_message.method == "MESSAGE",
          "the laptop should have been offered the MESSAGE first: %s" % describe(laptop_message))
    check(len(mobile.requests("MESSAGE")) == 1 and not desk.requests("MESSAGE"),
          "the mobile alone should have taken the MESSAGE: mobile %d, desk %d" % (
              len(mobile.requests("MESSAGE")), len(desk.requests("MESSAGE"))))
    counters = require_clean_stop(proxy)
    check(total(counters, "contacts_forked") == 3 and total(counters, "cancels_sent") == 1 and
          total(counters, "contacts_hunted") == 1,
          "expected three branches, one CANCEL and one MESSAGE hunted on: %s" %
          harness.brief(counters))


def test_q_groups(ctx):
    """Forking by q groups (a location route's fork = "q-groups", fork_timeout_ms = 500): user
    1002 is registered from a laptop that went to sleep (no q: 1.0) and from a mobile with
    q=0.5 (an echo UAS answering 200). The caller's INVITE gets sipline's 100 and reaches the
    laptop alone; only after the laptop has said nothing for 500 ms does the mobile get the
    INVITE (its own Request-URI, a branch of its own), and its 200 reaches the caller. The
    laptop gets no CANCEL (it never answered, §9.1). `siplinectl routes` shows the fork.
    Counters: two branches, one more q group rung, one silent contact."""
    proxy_port, mobile_port, laptop_port = harness.free_udp_ports(3)
    routes = [{"name": "desk-then-mobile", "user_prefix": "10", "action": "location",
               "fork": "q-groups", "fork_timeout_ms": 500}]
    admin = ctx.workdir.file("admin.sock")
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, admin_socket=admin)).start()
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    listed = subprocess.run(harness.NET.sipline_prefix + [ctl, "--socket", admin, "routes"],
                            stdout=subprocess.PIPE, timeout=10).stdout.decode()
    check(listed.endswith(" location fork=q-groups\n"),
          "siplinectl routes should show the fork: %r" % listed)
    laptop = register_sleeping_phone(ctx, proxy_port, "1002", laptop_port, expires=600)
    with sipmsg.Agent(proxy_port, port=mobile_port, user="1002") as agent:
        final = challenged_register(agent, "REGISTER 1002 from the mobile with q=0.5",
                                    contact="<%s>;q=0.5" % contact_uri("1002", mobile_port),
                                    expires=400)
        require_status(final, 200, "REGISTER 1002 from the mobile with q=0.5")
    mobile = EchoServer(port=mobile_port)
    ctx.cleanups.append(mobile.stop)
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        statuses, final = invite_user(caller, "1002", proxy_port, 5.0)
        require_status(final, 200, "INVITE to 1002 by q groups")
        check(statuses[0][0] == 100, "sipline's 100 should come first: %s" % statuses)
        check("tag=" in (final.get("To") or ""), "the 200 should be the mobile's (a To tag)")
    check(statuses[-1][1] >= 0.45, "the mobile should ring only after the laptop's 500 ms of "
          "silence, not after %.2f s" % statuses[-1][1])
    laptop_invite = laptop.receive(0.5)
    check(laptop_invite is not None and laptop_invite.start_line ==
          "INVITE %s SIP/2.0" % contact_uri("1002", laptop_port),
          "the laptop (q=1.0) should have got the INVITE first: %s" % describe(laptop_invite))
    invites = mobile.requests("INVITE")
    check(len(invites) == 1 and
          invites[0].start_line == "INVITE %s SIP/2.0" % contact_uri("1002", mobile_port) and
          invites[0].top_via_branch() != laptop_invite.top_via_branch(),
          "the mobile (q=0.5) should have got one INVITE with its own URI and branch: %s" %
          [m.start_line for m in invites])
    stray = laptop.receive(0.3)
    while stray is not None and stray.method == "INVITE":  # Timer A's copies
        stray = laptop.receive(0.3)
    check(stray is None, "the silent laptop should get no CANCEL (§9.1): %s" % describe(stray))
    counters = require_clean_stop(proxy)
    check(total(counters, "contacts_forked") == 2 and total(counters, "q_groups_rung") == 1 and
          total(counters, "failover_timeouts") == 1,
          "expected two branches, one more q group and one silent contact: %s" %
          harness.brief(counters))


def test_voicemail_fallback(ctx):
    """A location route's fallback (voicemail; fork = "parallel", ring_timeout_ms = 1000,
    fallback = the echo UAS "voicemail"). A call to 1003, registered nowhere, goes straight to
    voicemail, with the called user in its Request-URI and RFC 5806's "Diversion:
    <sip:1003@...>;reason=unavailable". User 1002 is registered from a mobile that rings and is
    never picked up and a laptop that went to sleep: both get the INVITE; after the ring
    timeout the mobile gets sipline's CANCEL, and the call goes to voicemail with
    reason=no-answer, whose 200 reaches the caller. `siplinectl routes` shows the fork and the
    fallback. Counters: two calls diverted, one CANCEL."""
    proxy_port, mobile_port, laptop_port, voicemail_port = harness.free_udp_ports(4)
    host = harness.NET.client_host
    routes = [{"name": "ring-all", "user_prefix": "10", "action": "location",
               "fork": "parallel", "fork_timeout_ms": 500, "ring_timeout_ms": 1000,
               "fallback": "sip:%s:%d" % (host, voicemail_port)}]
    admin = ctx.workdir.file("admin.sock")
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, admin_socket=admin)).start()
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    listed = subprocess.run(harness.NET.sipline_prefix + [ctl, "--socket", admin, "routes"],
                            stdout=subprocess.PIPE, timeout=10).stdout.decode()
    check(listed.endswith(" location fork=parallel fallback sip:%s:%d (%s:%d)\n" %
                          (host, voicemail_port, host, voicemail_port)),
          "siplinectl routes should show the fork and its fallback: %r" % listed)
    voicemail = EchoServer(port=voicemail_port)
    ctx.cleanups.append(voicemail.stop)
    register_user(proxy_port, "1002", mobile_port, expires=400)
    laptop = register_sleeping_phone(ctx, proxy_port, "1002", laptop_port, expires=600)
    mobile = EchoServer(port=mobile_port, ring=True)
    ctx.cleanups.append(mobile.stop)

    def mailbox_invite(user):
        invites = [m for m in voicemail.requests("INVITE")
                   if m.start_line == "INVITE sip:%s@%s:%d SIP/2.0" % (user, host, voicemail_port)]
        check(len(invites) == 1, "voicemail should have got one INVITE for %s's mailbox: %s" %
              (user, [m.start_line for m in voicemail.requests("INVITE")]))
        return invites[0]

    with sipmsg.Agent(proxy_port, user="1001") as caller:
        statuses, final = invite_user(caller, "1003", proxy_port, 5.0)
        require_status(final, 200, "INVITE to 1003, registered nowhere")
    diversion = mailbox_invite("1003").get("Diversion") or ""
    check(diversion.startswith("<sip:1003@") and diversion.endswith(";reason=unavailable;counter=1"),
          "the INVITE for 1003 should say why it was diverted: %s" % diversion)
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        statuses, final = invite_user(caller, "1002", proxy_port, 6.0)
        require_status(final, 200, "INVITE to 1002, whose phones do not answer")
        check([s for s, _ in statuses][:2] == [100, 180],
              "the caller should hear sipline's 100 and the mobile ringing first: %s" % statuses)
        answered_after = statuses[-1][1]
        check(answered_after >= 0.9, "voicemail should answer after the ring timeout (1 s), not "
              "after %.2f s" % answered_after)
    diversion = mailbox_invite("1002").get("Diversion") or ""
    check(diversion.startswith("<sip:1002@") and diversion.endswith(";reason=no-answer;counter=1"),
          "the INVITE for 1002 should say nobody answered: %s" % diversion)
    cancels = mobile.requests("CANCEL")
    check(len(cancels) == 1 and
          cancels[0].top_via_branch() == mobile.requests("INVITE")[0].top_via_branch(),
          "the mobile should have been cancelled at the ring timeout: %s" %
          [m.start_line for m in mobile.requests("CANCEL")])
    check(laptop.receive(0.2) is not None, "the sleeping laptop should have got the INVITE")
    counters = require_clean_stop(proxy)
    check(total(counters, "calls_diverted") == 2 and total(counters, "cancels_sent") == 1,
          "expected two calls diverted and one CANCEL: %s" % harness.brief(counters))


def test_nat_keepalive(ctx):
    """NAT keep-alives ([registrar] nat_ping_interval = 1): a phone registers a Contact naming
    a private address (10.20.30.40:5060) from its own socket, as a phone behind a NAT does;
    sipline sends a double CRLF (RFC 5626 §4.4.1) from its SIP address to the address the
    REGISTER came from, about once a second (three within 3.5 s, at least 0.7 s apart). A
    phone whose Contact names the address it registered from gets none. After the phone
    unregisters, none follows. siplinectl's counters show them sent."""
    proxy_port, natted_port, lan_port = harness.free_udp_ports(3)
    admin = ctx.workdir.file("admin.sock")
    proxy = ctx.sipline(harness.sipline_config(proxy_port, [], nat_ping_interval=1,
                                               admin_socket=admin)).start()
    proxy_peer = (harness.NET.proxy_host, proxy_port)
    lan = sipmsg.Agent(proxy_port, port=lan_port, user="1003")
    ctx.cleanups.append(lan.close)
    final = challenged_register(lan, "REGISTER 1003 from the LAN",
                                contact="<%s>" % "sip:1003@%s:%d" % (harness.NET.client_host,
                                                                      lan_port))
    require_status(final, 200, "REGISTER 1003 from the LAN")
    with sipmsg.Agent(proxy_port, port=natted_port, user="1002") as phone:
        private = "<sip:1002@10.20.30.40:5060>"
        final = challenged_register(phone, "REGISTER 1002 from behind a NAT", contact=private)
        require_status(final, 200, "REGISTER 1002 from behind a NAT")
        arrivals = []
        deadline = time.monotonic() + 3.5
        while len(arrivals) < 3 and time.monotonic() < deadline:
            phone.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data, source = phone.sock.recvfrom(65535)
            except socket.timeout:
                break
            check(data == b"\r\n\r\n" and source[:2] == proxy_peer,
                  "expected a double CRLF from sipline's SIP address, got %r from %s" %
                  (data, source))
            arrivals.append(time.monotonic())
        check(len(arrivals) == 3, "expected three keep-alives within 3.5 s, got %d" % len(arrivals))
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        check(all(gap >= 0.7 for gap in gaps), "keep-alives should come about a second "
              "apart: %s" % ["%.2f" % gap for gap in gaps])
        final = phone.register(PASSWORD, contact=private, expires=0)[1]
        require_status(final, 200, "REGISTER 1002 with Expires 0")
        phone.sock.settimeout(1.5)
        try:
            late = phone.sock.recvfrom(65535)
        except socket.timeout:
            late = None
        check(late is None or late[0] != b"\r\n\r\n",
              "no keep-alive should follow the unregistration: %r" % (late,))
    lan.sock.settimeout(0.2)
    try:
        stray = lan.sock.recvfrom(65535)
    except socket.timeout:
        stray = None
    check(stray is None, "the LAN phone should get no keep-alive: %r" % (stray,))
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    stats = subprocess.run(harness.NET.sipline_prefix + [ctl, "--socket", admin, "counters"],
                           stdout=subprocess.PIPE, timeout=10).stdout.decode()
    sent = re.search(r"nat_pings: interval_s=1 sent=(\d+) failed=0 ", stats)
    check(sent is not None and int(sent.group(1)) >= 3, "siplinectl stats should count the "
          "keep-alives: %s" % [l for l in stats.splitlines() if "nat_pings" in l])
    require_clean_stop(proxy)


def test_nat_keepalive_options(ctx):
    """NAT keep-alives as OPTIONS with removal of silent contacts ([registrar]
    nat_ping_interval = 1, nat_ping = "options", nat_ping_timeout = 2): user 1002 registers
    from two sockets with Contacts naming private addresses, a desk phone (an echo UAS, which
    answers OPTIONS 200) and a laptop that went to sleep (its socket stays open and answers
    nothing). Both get OPTIONS for their own Contact URI at the address they registered from;
    within 6 s the laptop's binding is gone (`siplinectl registrations 1002`) while the desk
    phone's stays, and `siplinectl counters` shows the answers and one silent contact."""
    proxy_port, desk_port, laptop_port = harness.free_udp_ports(3)
    admin = ctx.workdir.file("admin.sock")
    proxy = ctx.sipline(harness.sipline_config(
        proxy_port, [], nat_ping_interval=1, nat_ping="options", nat_ping_timeout=2,
        admin_socket=admin)).start()
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")

    def siplinectl(*words):
        return subprocess.run(harness.NET.sipline_prefix + [ctl, "--socket", admin] + list(words),
                              stdout=subprocess.PIPE, timeout=10).stdout.decode()

    desk_contact = "sip:1002@10.20.30.41:5060"
    laptop_contact = "sip:1002@10.20.30.42:5060"
    with sipmsg.Agent(proxy_port, port=desk_port, user="1002") as phone:
        final = challenged_register(phone, "REGISTER the desk phone", contact="<%s>" % desk_contact)
        require_status(final, 200, "REGISTER the desk phone")
    desk = EchoServer(port=desk_port)
    ctx.cleanups.append(desk.stop)
    laptop = sipmsg.Agent(proxy_port, port=laptop_port, user="1002")
    ctx.cleanups.append(laptop.close)
    final = challenged_register(laptop, "REGISTER the laptop", contact="<%s>" % laptop_contact)
    require_status(final, 200, "REGISTER the laptop")
    check(laptop_contact in siplinectl("registrations", "1002"),
          "the laptop should be registered at first")
    deadline = time.monotonic() + 6.0
    listed = ""
    while time.monotonic() < deadline:
        listed = siplinectl("registrations", "1002")
        if laptop_contact not in listed:
            break
        time.sleep(0.2)
    check(laptop_contact not in listed and desk_contact in listed,
          "the silent laptop's binding should be gone and the desk phone's kept: %r" % listed)
    pings = []
    message = laptop.receive(0.2)
    while message is not None:
        pings.append(message)
        message = laptop.receive(0.2)
    check(len(pings) >= 2 and all(m.start_line == "OPTIONS %s SIP/2.0" % laptop_contact
                                  for m in pings),
          "the laptop should have got OPTIONS for its own URI: %s" % [m.start_line for m in pings])
    options = desk.requests("OPTIONS")
    check(len(options) >= 2 and options[0].start_line == "OPTIONS %s SIP/2.0" % desk_contact,
          "the desk phone should have got OPTIONS: %s" % [m.start_line for m in options])
    counters = siplinectl("counters")
    found = re.search(r"nat_pings: interval_s=1 sent=\d+ failed=0 answered=(\d+) silent=1\b",
                      counters)
    check(found is not None and int(found.group(1)) >= 2,
          "siplinectl counters should show the answers and one silent contact: %s" %
          [l for l in counters.splitlines() if "nat_pings" in l])
    require_clean_stop(proxy)


def test_route_sources(ctx):
    """Routes restricted by source address (`sources`): a trunk-facing route takes requests
    from the carrier's addresses only. Three routes for the same user prefix: one for
    203.0.113.0/24 (echo UAS A), one for the test client's own address (echo UAS B), a
    catch-all that answers 403. The second route names a [source_groups] entry, "clients",
    rather than the address. The client's INVITE reaches B, none reaches A. After a reload
    that moves the group to 198.51.100.0/24, the client's INVITE is answered 403 by the
    catch-all and reaches neither."""
    proxy_port, = harness.free_udp_ports(1)
    servers = {"a": EchoServer(), "b": EchoServer()}
    for server in servers.values():
        ctx.cleanups.append(server.stop)
    host = harness.NET.client_host

    def config(client_prefix):
        routes = [{"name": "from-carrier", "user_prefix": "7", "sources": ["203.0.113.0/24"],
                   "action": "forward", "target": "sip:%s:%d" % (host, servers["a"].port)},
                  {"name": "from-client", "user_prefix": "7", "sources": ["clients"],
                   "action": "forward", "target": "sip:%s:%d" % (host, servers["b"].port)},
                  {"name": "others", "action": "reject", "code": 403}]
        return (harness.sipline_config(proxy_port, routes) +
                '\n[source_groups]\nclients = ["%s"]\n' % client_prefix)

    proxy = ctx.sipline(config(host)).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        def invite(expect, what):
            agent.call_id = sipmsg.new_token("sources-") + "@" + host
            answer = agent.request("INVITE", "sip:7000@sipline.test",
                                   to="<sip:7000@sipline.test>", timeout=3.0)
            require_status(answer, expect, what)

        invite(200, "INVITE from the client's address")
        check(len(servers["b"].requests("INVITE")) == 1 and
              not servers["a"].requests("INVITE"),
              "the INVITE should have reached B only: A %d, B %d" % (
                  len(servers["a"].requests("INVITE")), len(servers["b"].requests("INVITE"))))
        seen = len(proxy.log_lines())
        with open(proxy.config_path, "w") as handle:
            handle.write(config("198.51.100.0/24"))
        os.kill(proxy.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not any("configuration reloaded" in line for line in proxy.log_lines()[seen:]):
            check(time.monotonic() < deadline, "no reload after SIGHUP:\n%s" %
                  harness.tail(proxy.log_path))
            time.sleep(0.05)
        invite(403, "INVITE from an address no route lists any more")
        check(len(servers["b"].requests("INVITE")) == 1 and
              not servers["a"].requests("INVITE"),
              "no INVITE should have reached a member after the reload")
    counters = require_clean_stop(proxy)
    check(total(counters, "local_4xx") == 1 and total(counters, "dropped") == 0,
          "expected one 403 and nothing dropped: %s" % harness.brief(counters))


def test_number_translation(ctx):
    """Number translation on routes (`strip`, `prepend`). A DID route strips "+44207946" from
    "+442079461002" and looks the extension 1002 up: the INVITE reaches 1002's registered
    contact (a Python agent), To unchanged, and the callee's 486 reaches the caller. A
    national route strips "0", prepends "+44" and forwards to an echo UAS: the INVITE and its
    CANCEL both arrive with Request-URI sip:+442079460000@sipline.test;user=phone, To as
    dialled. "+44207946" alone (nothing left of the user) is answered 484."""
    proxy_port, = harness.free_udp_ports(1)
    uas = EchoServer()
    ctx.cleanups.append(uas.stop)
    host = harness.NET.client_host
    routes = [{"name": "did", "user_prefix": "+44207946", "strip": 9, "action": "location"},
              {"name": "national", "user_prefix": "0", "strip": 1, "prepend": "+44",
               "methods": ["INVITE"], "action": "forward",
               "target": "sip:%s:%d" % (host, uas.port)},
              {"name": "others", "action": "reject", "code": 404}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start()
    with sipmsg.Agent(proxy_port, user="1002") as callee, \
            sipmsg.Agent(proxy_port, user="1001") as caller:
        final = challenged_register(callee, "REGISTER 1002", expires=300,
                                    contact="<%s>" % contact_uri("1002", callee.port))
        require_status(final, 200, "REGISTER 1002 with credentials")
        did = "sip:+442079461002@sipline.test"
        caller.request("INVITE", did, to="<%s>" % did, wait=False)
        arrived = callee.receive(3.0)
        check(arrived is not None and not arrived.is_response and arrived.method == "INVITE",
              "the DID's INVITE did not reach 1002: %s" % describe(arrived))
        check(arrived.start_line == "INVITE %s SIP/2.0" % contact_uri("1002", callee.port),
              "the INVITE should carry 1002's contact: %s" % arrived.start_line)
        check(arrived.get("To") == "<%s>" % did, "To changed: %s" % arrived.get("To"))
        callee.send_raw(sipmsg.EchoUas.answer(arrived, 486, "Busy Here"))
        require_status(caller.wait_final(caller.call_id, caller.cseq), 486,
                       "the callee's answer to the DID's INVITE")

        national = "sip:02079460000@sipline.test;user=phone"
        dialled = "<sip:02079460000@sipline.test>"
        caller.call_id = sipmsg.new_token("translate-") + "@" + host
        branch = sipmsg.new_token("z9hG4bK")
        require_status(caller.request("INVITE", national, to=dialled, branch=branch), 200,
                       "INVITE through the national route")
        # §9.1: the CANCEL, routed alike (the route lists INVITE only), is translated alike.
        require_status(caller.request("CANCEL", national, to=dialled, branch=branch,
                                      cseq=caller.cseq), 200, "CANCEL through the national route")
        translated = "sip:+442079460000@sipline.test;user=phone"
        for method in ("INVITE", "CANCEL"):
            received = uas.requests(method)
            check(len(received) == 1 and
                  received[0].start_line == "%s %s SIP/2.0" % (method, translated) and
                  received[0].get("To") == dialled,
                  "the UAS should have one %s for %s, To %s: %s" % (
                      method, translated, dialled, [m.start_line for m in received]))

        incomplete = "sip:+44207946@sipline.test"
        caller.call_id = sipmsg.new_token("translate-") + "@" + host
        require_status(caller.request("INVITE", incomplete, to="<%s>" % incomplete), 484,
                       "INVITE for a DID with no extension")
    counters = require_clean_stop(proxy)
    check(total(counters, "local_4xx") == 1 and total(counters, "dropped") == 0,
          "expected one 484 and nothing dropped: %s" % harness.brief(counters))


class FakeCarrier:
    """A carrier's registrar or SBC on a thread of its own: records every request of
    `methods` with its arrival time and answers through `answer(message, count)` (count:
    requests so far, this one included), which returns the response bytes or None (the
    request is "lost", or needs no answer)."""

    def __init__(self, answer, methods=("REGISTER",), host=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.host = host or harness.NET.client_host
        self.sock.bind((self.host, 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.methods = methods
        self.registers = []  # (monotonic time, raw bytes, parsed)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.05)
        while self.running:
            try:
                data, source = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            message = sipmsg.parse(data)
            if message is None or message.is_response or message.method not in self.methods:
                continue
            self.registers.append((time.monotonic(), data, message))
            reply = self.answer(message, len(self.registers))
            if reply is not None:
                self.sock.sendto(reply, source)

    def stop(self):
        if self.running:
            self.running = False
            self.thread.join(5)
            self.sock.close()


def test_trunk_registration(ctx):
    """A registration-based trunk ([[trunk_registrations]]): sipline registers with a fake
    carrier registrar (Python) as a UA. The registrar loses the first REGISTER: the same bytes
    come again after T1 (≥ 0.4 s). It challenges that one (401: SHA-256 with qop=auth and
    opaque, then MD5); the next REGISTER (same Call-ID and From tag, CSeq + 1, To and From the
    AOR, Request-URI the registrar's domain, Contact our address with the contact user,
    Expires 3600) carries SHA-256 credentials for the auth user, which the test verifies with
    Python's hashlib; it is answered 200 granting 4 s. The refresh comes when 90% of that has
    passed (3.6 s, ±0.8 s), CSeq + 1, with the challenge's credentials again (nc 2), and is
    answered 200 granting 600 s. Then the carrier's INVITE to the registered number reaches
    the PBX (an echo UAS) through a DID route. At SIGTERM sipline removes its binding (a
    REGISTER with Expires 0 and credentials, CSeq + 1); the shutdown counters show the trunk
    unregistered, registered twice before, no failure."""
    proxy_port, = harness.free_udp_ports(1)
    pbx = EchoServer()
    ctx.cleanups.append(pbx.stop)
    host = harness.NET.client_host
    realm, nonce, opaque = "carrier.test", sipmsg.new_token("n"), "op-42"
    problems = []

    def verify_credentials(message, nc):
        credentials = sipmsg.parse_challenge(message.get("Authorization") or "")
        expected = sipmsg.digest_response(
            "SHA-256", "trunk-auth", realm, "carrier-secret", "REGISTER", credentials.get("uri"),
            nonce, credentials.get("nc"), credentials.get("cnonce"), "auth")
        wanted = {"username": "trunk-auth", "realm": realm, "nonce": nonce,
                  "uri": "sip:carrier.test:%d" % registrar.port, "algorithm": "SHA-256",
                  "qop": "auth", "nc": "%08x" % nc, "opaque": opaque, "response": expected}
        for key, value in wanted.items():
            if credentials.get(key) != value:
                problems.append("Authorization %s=%r, expected %r" % (
                    key, credentials.get(key), value))

    def answer(message, count):
        if count == 1:
            return None  # lost: Timer E sends it again
        if count == 2:
            return sipmsg.EchoUas.answer(message, 401, "Unauthorized").replace(
                b"Content-Length", ("WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", "
                                    "qop=\"auth\", algorithm=SHA-256, opaque=\"%s\"\r\n"
                                    "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", "
                                    "algorithm=MD5\r\nContent-Length" % (
                                        realm, nonce, opaque, realm, nonce)).encode(), 1)
        verify_credentials(message, count - 2)
        granted = 4 if count == 3 else 600
        contact = message.get("Contact") or ""
        return sipmsg.EchoUas.answer(message, 200, "OK").replace(
            b"Content-Length", ("Contact: %s;expires=%d\r\nContent-Length" % (
                contact, granted)).encode(), 1)

    registrar = FakeCarrier(answer)
    ctx.cleanups.append(registrar.stop)
    routes = [{"name": "did", "user_prefix": "+1555123", "sources": [host],
               "action": "forward", "target": "sip:%s:%d" % (host, pbx.port)}]
    config = harness.sipline_config(proxy_port, routes, names=("sipline.test", harness.NET.proxy_host))
    config += "\n".join([
        "[[trunk_registrations]]", 'name = "carrier"',
        'registrar = "sip:carrier.test:%d"' % registrar.port,
        'user = "+15551230000"', 'auth_user = "trunk-auth"', 'password = "carrier-secret"', ""])
    hosts_file = ctx.workdir.file("hosts")
    with open(hosts_file, "w") as handle:
        handle.write("127.0.0.1 localhost\n%s carrier.test\n" % host)
    proxy = ctx.sipline(config, hosts_file=hosts_file).start()
    deadline = time.monotonic() + 10
    while len(registrar.registers) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    registers = list(registrar.registers)
    check(len(registers) >= 4, "expected 4 REGISTERs within 10 s, got %d:\n%s" % (
        len(registers), harness.tail(proxy.log_path)))
    check(not problems, "; ".join(problems))
    (t1, lost, first), (t2, again, _), (t3, _, answered), (t4, _, refresh) = registers[:4]
    check(again == lost and 0.4 <= t2 - t1 <= 1.5,
          "the lost REGISTER should come again, byte for byte, after T1: %.2f s later" % (t2 - t1))
    aor = "<sip:+15551230000@carrier.test>"
    contact = "<sip:+15551230000@%s:%d>" % (harness.NET.proxy_host, proxy_port)
    check(first.start_line == "REGISTER sip:carrier.test:%d SIP/2.0" % registrar.port and
          first.get("To") == aor and (first.get("From") or "").startswith(aor + ";tag=") and
          first.get("Contact") == contact and first.get("Expires") == "3600" and
          first.get("Authorization") is None,
          "first REGISTER: %s" % lost.decode(errors="replace"))
    cseq = int(first.get("CSeq").split()[0])
    for number, message in ((cseq + 1, answered), (cseq + 2, refresh)):
        check(message.get("Call-ID") == first.get("Call-ID") and
              message.get("From") == first.get("From") and
              message.get("CSeq") == "%d REGISTER" % number,
              "REGISTER with CSeq %d should keep Call-ID and From: %s / %s / %s" % (
                  number, message.get("Call-ID"), message.get("From"), message.get("CSeq")))
    check(2.8 <= t4 - t3 <= 4.4, "the refresh should come 3.6 s after the 4 s grant, came "
          "%.2f s later" % (t4 - t3))

    with sipmsg.Agent(proxy_port, user="carrier") as carrier:
        uri = "sip:+15551230000@%s:%d" % (harness.NET.proxy_host, proxy_port)
        require_status(carrier.request("INVITE", uri, to="<%s>" % uri), 200,
                       "the carrier's INVITE to the registered number")
    check(len(pbx.requests("INVITE")) == 1, "the INVITE should reach the PBX once")
    seen = proxy.log_lines()
    check(any("trunk registration \"carrier\": sip:+15551230000@carrier.test registered" in line
              for line in seen), "no registration log line:\n%s" % harness.tail(proxy.log_path))
    require_clean_stop(proxy)
    # Shutdown removed the binding (Expires 0, the challenge answered again, CSeq + 1).
    deadline = time.monotonic() + 3
    while len(registrar.registers) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(len(registrar.registers) == 5, "expected one REGISTER at shutdown, got %d in all" %
          len(registrar.registers))
    removal = registrar.registers[4][2]
    check(removal.get("Expires") == "0" and removal.get("CSeq") == "%d REGISTER" % (cseq + 3) and
          removal.get("Call-ID") == first.get("Call-ID"),
          "the shutdown REGISTER should remove the binding: %s" %
          registrar.registers[4][1].decode(errors="replace"))
    check(not problems, "; ".join(problems))
    final = [line for line in proxy.log_lines() if line.startswith("trunk carrier: ")]
    check(final and final[-1].startswith("trunk carrier: unregistered ") and
          " registrations=2 failures=0" in final[-1],
          "shutdown line should show the trunk registered twice, no failure, unregistered: %s"
          % final)


def test_trunk_outbound_proxy(ctx):
    """A carrier that names an outbound proxy (its SBC) apart from its registrar
    (`outbound_proxy`, RFC 3261 §8.1.2): every REGISTER goes to the SBC, with
    `Route: <sip:sbc.carrier.test:PORT;lr>`, while its Request-URI, To and the digest uri stay
    the registrar's. The registrar's own name resolves to a port where nothing listens, so a
    REGISTER sent there is lost. The SBC challenges the first (401, MD5) and grants the second;
    the shutdown line shows the trunk registered through the SBC."""
    proxy_port, registrar_port = harness.free_udp_ports(2)
    host = harness.NET.client_host
    realm, nonce = "carrier.test", sipmsg.new_token("n")
    problems = []

    def answer(message, count):
        if count == 1:
            return sipmsg.EchoUas.answer(message, 401, "Unauthorized").replace(
                b"Content-Length", ("WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", "
                                    "algorithm=MD5\r\nContent-Length" % (realm, nonce)).encode(), 1)
        credentials = sipmsg.parse_challenge(message.get("Authorization") or "")
        if credentials.get("uri") != "sip:carrier.test:%d" % registrar_port:
            problems.append("digest uri %r" % credentials.get("uri"))
        return sipmsg.EchoUas.answer(message, 200, "OK").replace(
            b"Content-Length", ("Contact: %s;expires=600\r\nContent-Length" % (
                message.get("Contact") or "")).encode(), 1)

    sbc = FakeCarrier(answer)
    ctx.cleanups.append(sbc.stop)
    config = harness.sipline_config(proxy_port, [], names=("sipline.test", harness.NET.proxy_host))
    config += "\n".join([
        "[[trunk_registrations]]", 'name = "carrier"',
        'registrar = "sip:carrier.test:%d"' % registrar_port,
        'outbound_proxy = "sip:sbc.carrier.test:%d"' % sbc.port,
        'user = "+15551230000"', 'password = "carrier-secret"', ""])
    hosts_file = ctx.workdir.file("hosts")
    with open(hosts_file, "w") as handle:
        handle.write("127.0.0.1 localhost\n%s carrier.test\n%s sbc.carrier.test\n" % (host, host))
    proxy = ctx.sipline(config, hosts_file=hosts_file).start()
    deadline = time.monotonic() + 10
    while len(sbc.registers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(len(sbc.registers) >= 2, "expected 2 REGISTERs at the SBC within 10 s, got %d:\n%s" % (
        len(sbc.registers), harness.tail(proxy.log_path)))
    for _, raw, message in sbc.registers[:2]:
        check(message.start_line == "REGISTER sip:carrier.test:%d SIP/2.0" % registrar_port and
              message.get("Route") == "<sip:sbc.carrier.test:%d;lr>" % sbc.port and
              message.get("To") == "<sip:+15551230000@carrier.test>",
              "REGISTER at the SBC: %s" % raw.decode(errors="replace"))
    check(sbc.registers[1][2].get("Authorization") is not None,
          "the second REGISTER should answer the challenge")
    check(not problems, "; ".join(problems))
    deadline = time.monotonic() + 5
    while not any("trunk registration \"carrier\": sip:+15551230000@carrier.test registered" in line
                  for line in proxy.log_lines()):
        check(time.monotonic() < deadline, "no registration log line:\n%s" %
              harness.tail(proxy.log_path))
        time.sleep(0.05)
    require_clean_stop(proxy)
    final = [line for line in proxy.log_lines() if line.startswith("trunk carrier: ")]
    check(final and " via sip:sbc.carrier.test:%d (%s:%d)" % (sbc.port, host, sbc.port) in final[-1]
          and " registrations=1 failures=0" in final[-1],
          "shutdown line should show the trunk registered through the SBC: %s" % final)


def test_nat_contact_alias(ctx):
    """DPDK mode only (the private Contacts below must never meet a real network: inside the
    test's namespaces nothing routes them). Two phones behind NATs call through sipline,
    which record-routes: caller A writes Contact <sip:1001@192.168.1.20:5060>, callee B
    answers 200 with Contact <sip:7000@192.168.7.2:5060>, neither reachable as written. The
    INVITE reaches B with A's Contact aliased to A's real source
    (";alias=ADDR~PORT~1"), the 200 reaches A with B's aliased to B's. A's ACK and BYE, sent
    to the aliased target through the Record-Route, reach B at its real address with the
    Request-URI B wrote (the alias removed), and the BYE's 200 comes back to A; the counters
    show two Contacts aliased."""
    net = harness.NET
    check(net.dpdk, "nat_contact_alias needs the DPDK mode (run_dpdk_e2e.sh)")
    proxy_port, = harness.free_udp_ports(1)
    callee_contact = "<sip:7000@192.168.7.2:5060>"

    def answer(message, count):
        if message.method == "ACK":
            return None
        reply = sipmsg.EchoUas.answer(message, 200, "OK", tag="callee")
        if message.method == "INVITE":
            # RFC 3261 §12.1.1: the 2xx copies the Record-Route; our Contact.
            lines = ["Record-Route: %s\r\n" % value for value in message.get_all("Record-Route")]
            lines.append("Contact: %s\r\n" % callee_contact)
            reply = reply.replace(b"Content-Length", ("".join(lines) + "Content-Length").encode(), 1)
        return reply

    callee = FakeCarrier(answer, methods=("INVITE", "ACK", "BYE"))
    ctx.cleanups.append(callee.stop)
    routes = [{"name": "out", "user_prefix": "7", "action": "forward",
               "target": "sip:%s:%d" % (net.client_host, callee.port)}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, record_route=True)).start()
    with sipmsg.Agent(proxy_port, user="1001") as caller:
        uri = "sip:7000@%s" % net.proxy_host
        ok = caller.request("INVITE", uri, [("Contact", "<sip:1001@192.168.1.20:5060>")])
        require_status(ok, 200, "INVITE from behind NAT")
        invite = callee.registers[0][2]
        check(invite.get("Contact") == "<sip:1001@192.168.1.20:5060;alias=%s~%d~1>" % (
            net.client_host, caller.port), "the callee's INVITE Contact: %s" % invite.get("Contact"))
        target = (ok.get("Contact") or "").strip("<>")
        check(target == "sip:7000@192.168.7.2:5060;alias=%s~%d~1" % (net.client_host, callee.port),
              "the caller's 200 Contact: %s" % ok.get("Contact"))
        route = ok.get("Record-Route")
        check(route is not None, "the 200 should carry our Record-Route")
        to = ok.get("To")
        caller.request("ACK", target, [("Route", route)], to=to, cseq=caller.cseq, wait=False)
        bye = caller.request("BYE", target, [("Route", route)], to=to)
        require_status(bye, 200, "BYE to the aliased target")
    methods = [(message.method, message.start_line) for _, _, message in callee.registers]
    check([method for method, _ in methods] == ["INVITE", "ACK", "BYE"],
          "the callee should get INVITE, ACK, BYE: %s" % methods)
    for method, start_line in methods[1:]:
        check(start_line == "%s sip:7000@192.168.7.2:5060 SIP/2.0" % method,
              "%s should carry the callee's own URI: %s" % (method, start_line))
    counters = require_clean_stop(proxy)
    check(total(counters, "contacts_aliased") == 2 and total(counters, "dropped") == 0,
          "expected two Contacts aliased, nothing dropped: %s" % harness.brief(counters))


def test_carrier_challenge(ctx):
    """A carrier that challenges our INVITEs ([[pools]] credentials: the account of the
    trunk registration, which registers with the same fake carrier): the phone
    authenticates to sipline first (the route's own 407), and its credentials for sipline's
    realm do not reach the carrier (consumed, RFC 7235 §4.4), and the P-Asserted-Identity it
    tries is replaced by the one sipline asserts for it (assert_identity: its caller_id). The
    fake carrier SBC (Python)
    answers an INVITE without credentials 407 (SHA-256 with qop=auth and
    opaque, then MD5). sipline answers the caller 100 itself, ACKs the 407 on the INVITE's
    branch (the caller never sees it) and sends the INVITE again on a new branch of ours,
    same CSeq, with Proxy-Authorization, which the test verifies with Python's hashlib
    (SHA-256, nc 1, the Request-URI the carrier was sent: the route's translated number). The
    carrier answers 200; it reaches the caller. The caller's BYE, sent to the carrier's
    address, is challenged and answered alike (no ACK for a non-INVITE). A second call, whose credentials the carrier
    challenges again, gets the carrier's 407 (counted as refused), and the caller's ACK for it
    goes to the carrier on the branch of our INVITE with credentials."""
    proxy_port, = harness.free_udp_ports(1)
    realm, nonce, opaque = "carrier.test", sipmsg.new_token("n"), "op-7"
    problems = []
    challenge = ("Proxy-Authenticate: Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", "
                 "algorithm=SHA-256, opaque=\"%s\"\r\n"
                 "Proxy-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5\r\n" % (
                     realm, nonce, opaque, realm, nonce))

    def verify_credentials(message):
        credentials = sipmsg.parse_challenge(message.get("Proxy-Authorization") or "")
        expected = sipmsg.digest_response(
            "SHA-256", "trunk-auth", realm, "carrier-secret", message.method,
            credentials.get("uri"), nonce, credentials.get("nc"), credentials.get("cnonce"),
            "auth")
        wanted = {"username": "trunk-auth", "realm": realm, "nonce": nonce,
                  "uri": message.start_line.split()[1], "algorithm": "SHA-256", "qop": "auth",
                  "nc": "00000001", "opaque": opaque, "response": expected}
        for key, value in wanted.items():
            if credentials.get(key) != value:
                problems.append("Proxy-Authorization %s=%r, expected %r" % (
                    key, credentials.get(key), value))

    def answer(message, count):
        if message.method == "ACK":
            return None
        if message.method == "REGISTER":  # the trunk registration whose account calls use
            return sipmsg.EchoUas.answer(message, 200, "OK").replace(
                b"Content-Length", ("Contact: %s;expires=600\r\nContent-Length" % (
                    message.get("Contact") or "")).encode(), 1)
        refuse = message.start_line.startswith("INVITE sip:+449")
        if message.get("Proxy-Authorization") is None or refuse:
            return sipmsg.EchoUas.answer(message, 407, "Proxy Authentication Required").replace(
                b"Content-Length", (challenge + "Content-Length").encode(), 1)
        verify_credentials(message)
        return sipmsg.EchoUas.answer(message, 200, "OK")

    carrier = FakeCarrier(answer, methods=("REGISTER", "INVITE", "ACK", "CANCEL", "BYE"))
    ctx.cleanups.append(carrier.stop)
    carrier_uri = "sip:%s:%d" % (harness.NET.client_host, carrier.port)
    # The pool answers with the account of the trunk registration (credentials = TRUNK).
    pools = [{"name": "carrier", "members": [carrier_uri], "probe_interval": 0,
              "credentials": "carrier-trunk"}]
    routes = [{"name": "national", "user_prefix": "0", "strip": 1, "prepend": "+44",
               "action": "forward", "pool": "carrier", "auth": True, "assert_identity": True}]
    config = harness.sipline_config(proxy_port, routes, pools=pools)
    config = config.replace('user = "1001"\n', 'user = "1001"\ncaller_id = "+442079461001"\n', 1)
    config += "\n".join([
        "[[trunk_registrations]]", 'name = "carrier-trunk"', 'registrar = "%s"' % carrier_uri,
        'user = "+442079461000"', 'auth_user = "trunk-auth"', 'password = "carrier-secret"', ""])
    proxy = ctx.sipline(config).start()
    with sipmsg.Agent(proxy_port) as caller:
        uri = "sip:02079460000@%s:%d" % (harness.NET.proxy_host, proxy_port)
        # The phone authenticates to sipline first (the route's own 407, realm sipline.test).
        ours = caller.request("INVITE", uri)
        require_status(ours, 407, "sipline's own challenge")
        credentials = caller.answer_challenge(ours, "Proxy-Authenticate", caller.user,
                                              harness.PASSWORD, "INVITE", uri, "SHA-256")
        # The number the phone would like to present is replaced by the one sipline asserts
        # for user 1001 (RFC 3325 §9.1: its caller_id).
        final = caller.request("INVITE", uri, headers=[
            ("Proxy-Authorization", credentials),
            ("P-Asserted-Identity", "<sip:+15550000000@%s>" % harness.NET.proxy_host)],
            timeout=5.0)
        require_status(final, 200, "the INVITE the carrier challenged")
        check(not problems, "; ".join(problems))
        check(any(entry[2].method == "REGISTER" for entry in carrier.registers),
              "the trunk registration never registered")
        invites = [entry for entry in carrier.registers if entry[2].method == "INVITE"]
        acks = [entry for entry in carrier.registers if entry[2].method == "ACK"]
        check(len(invites) == 2 and len(acks) == 1,
              "expected 2 INVITEs and our ACK at the carrier, got %s" % [
                  entry[2].start_line for entry in carrier.registers])
        first, second, ack = invites[0][2], invites[1][2], acks[0][2]
        check(first.start_line == "INVITE sip:+442079460000@%s:%d SIP/2.0" % (
            harness.NET.proxy_host, proxy_port), "translated Request-URI: %s" % first.start_line)
        check(ack.top_via_branch() == first.top_via_branch() and ack.get("CSeq") == "2 ACK" and
              ack.start_line.split()[1] == first.start_line.split()[1],
              "our ACK for the 407 should be on the first INVITE's branch: %s" % ack.raw)
        # The phone's credentials for sipline's realm were consumed (RFC 7235 §4.4): the
        # carrier sees none at first, then only ours for its realm.
        asserted = "<sip:+442079461001@sipline.test>"
        check(first.get_all("P-Asserted-Identity") == [asserted] and
              second.get_all("P-Asserted-Identity") == [asserted],
              "P-Asserted-Identity at the carrier: %s / %s" % (
                  first.get_all("P-Asserted-Identity"), second.get_all("P-Asserted-Identity")))
        check(first.get_all("Proxy-Authorization") == [] and
              len(second.get_all("Proxy-Authorization")) == 1,
              "credentials at the carrier: %s / %s" % (first.get_all("Proxy-Authorization"),
                                                       second.get_all("Proxy-Authorization")))
        check(second.top_via_branch() != first.top_via_branch() and
              second.get("CSeq") == first.get("CSeq") == "2 INVITE" and
              second.call_id() == first.call_id() and second.get("From") == first.get("From"),
              "the INVITE with credentials: a new branch, the caller's CSeq, Call-ID and From")
        # The BYE, sent to the carrier's address (its Request-URI) through the proxy, is
        # challenged and answered alike.
        bye_uri = "sip:+442079460000@%s:%d" % (harness.NET.client_host, carrier.port)
        require_status(caller.request("BYE", bye_uri, to=final.get("To"), timeout=5.0), 200,
                       "the BYE the carrier challenged")
        byes = [entry[2] for entry in carrier.registers if entry[2].method == "BYE"]
        check(len(byes) == 2 and byes[0].get("Proxy-Authorization") is None and
              byes[1].get("Proxy-Authorization") is not None and
              byes[1].top_via_branch() != byes[0].top_via_branch() and
              byes[1].get("CSeq") == byes[0].get("CSeq") == "3 BYE",
              "expected the BYE twice at the carrier, the second with credentials: %s" % [
                  message.raw for message in byes])
        check(not problems, "; ".join(problems))

        refused_uri = "sip:09990000@%s:%d" % (harness.NET.proxy_host, proxy_port)
        branch = sipmsg.new_token("z9hG4bK")
        ours = caller.request("INVITE", refused_uri, call_id="refused-" + caller.call_id)
        require_status(ours, 407, "sipline's own challenge to the second call")
        credentials = caller.answer_challenge(ours, "Proxy-Authenticate", caller.user,
                                              harness.PASSWORD, "INVITE", refused_uri, "SHA-256")
        refused = caller.request("INVITE", refused_uri, branch=branch, call_id="refused-" +
                                 caller.call_id, timeout=5.0,
                                 headers=[("Proxy-Authorization", credentials)])
        require_status(refused, 407, "the INVITE whose credentials the carrier refused")
        caller.request("ACK", refused_uri, branch=branch, call_id="refused-" + caller.call_id,
                       cseq=caller.cseq, to=refused.get("To"), wait=False)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sum(
                1 for entry in carrier.registers if entry[2].method == "ACK") < 3:
            time.sleep(0.05)
        acks = [entry[2] for entry in carrier.registers if entry[2].method == "ACK"]
        invites = [entry[2] for entry in carrier.registers if entry[2].method == "INVITE"]
        check(len(acks) == 3 and len(invites) == 4,
              "expected 4 INVITEs and 3 ACKs at the carrier, got %s" % [
                  entry[2].start_line for entry in carrier.registers])
        check(acks[2].top_via_branch() == invites[3].top_via_branch(),
              "the caller's ACK for the refused call should go on our last INVITE's branch")
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "pool_challenges_answered") == 3 and
          total(counters, "pool_challenges_refused") == 1 and
          total(counters, "acks_sent") == 2 and total(counters, "failover_tracked") == 3,
          "expected 3 challenges answered, 1 refused, 2 ACKs of ours, 3 tracked: %s" % brief)
    check(total(counters, "dropped") == 0, "nothing should be dropped: %s" % brief)
    check(total(counters, "local_4xx") == 2, "expected sipline's two own 407s: %s" % brief)


def test_privacy(ctx):
    """RFC 3325's trust boundary with the carrier and the phone on different addresses: the
    carrier, a pool member on NET.server_host, is inside the trust domain; the phones, on
    NET.client_host, are not. A call from the carrier with Privacy: id reaches the phone
    without the P-Asserted-Identity (§7), a call without it with the carrier's assertion; the
    phone's 200, claiming an identity, reaches the carrier without it (§5). A call out: the
    phone's P-Asserted-Identity is removed before the carrier, and the carrier's 200 with
    Privacy: id (connected line restricted) reaches the phone without its identity."""
    proxy_port, phone_port = harness.free_udp_ports(2)
    carrier_identity = "<sip:+442079460000@carrier.test>"
    phone_identity = "<sip:+15550000000@%s>" % harness.NET.proxy_host

    def carrier_answer(message, count):
        if message.method != "INVITE":
            return None
        return sipmsg.EchoUas.answer(message, 200, "OK").replace(b"Content-Length", (
            "P-Asserted-Identity: %s\r\nPrivacy: id\r\nContent-Length" %
            carrier_identity).encode(), 1)

    carrier = FakeCarrier(carrier_answer, methods=("INVITE", "ACK", "BYE"),
                          host=harness.NET.server_host)
    ctx.cleanups.append(carrier.stop)
    pools = [{"name": "carrier", "members": ["sip:%s:%d" % (carrier.host, carrier.port)],
              "probe_interval": 0}]
    routes = [{"name": "national", "user_prefix": "0", "action": "forward", "pool": "carrier"},
              {"name": "users", "user_prefix": "10", "action": "location"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, pools=pools)).start()
    register_user(proxy_port, "1002", phone_port)
    user_uri = "sip:1002@%s:%d" % (harness.NET.proxy_host, proxy_port)
    with sipmsg.Agent(proxy_port, port=phone_port, user="1002") as phone, \
            sipmsg.Agent(proxy_port, user="carrier", host=harness.NET.server_host) as trunk:

        def call_in(privacy, call_id):
            headers = [("P-Asserted-Identity", carrier_identity)]
            headers += [("Privacy", "id")] if privacy else []
            trunk.request("INVITE", user_uri, headers=headers, call_id=call_id, wait=False)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                message = phone.receive(deadline - time.monotonic())
                if message is not None and not message.is_response and \
                        message.call_id() == call_id:
                    return message
            raise harness.TestFailure("the phone got no INVITE for %s" % call_id)

        private = call_in(True, "private-" + trunk.call_id)
        check(private.get_all("P-Asserted-Identity") == [] and
              private.get("Privacy") == "id",
              "Privacy: id: the phone must get no asserted identity: %s" % private.raw)
        # The phone answers claiming an identity: not passed on to the carrier (§5).
        answer = sipmsg.EchoUas.answer(private, 200, "OK").replace(b"Content-Length", (
            "P-Asserted-Identity: %s\r\nContent-Length" % phone_identity).encode(), 1)
        phone.send_raw(answer)
        final = trunk.wait_final("private-" + trunk.call_id, trunk.cseq)
        require_status(final, 200, "the phone's answer at the carrier")
        check(final.get_all("P-Asserted-Identity") == [],
              "the phone's asserted identity must not reach the carrier: %s" % final.raw)
        shown = call_in(False, "shown-" + trunk.call_id)
        check(shown.get_all("P-Asserted-Identity") == [carrier_identity],
              "without Privacy the phone gets the carrier's assertion: %s" % shown.raw)
        phone.send_raw(sipmsg.EchoUas.answer(shown, 486, "Busy Here"))
        require_status(trunk.wait_final("shown-" + trunk.call_id, trunk.cseq), 486,
                       "the phone's 486 at the carrier")

        out_uri = "sip:02079460000@%s:%d" % (harness.NET.proxy_host, proxy_port)
        out = phone.request("INVITE", out_uri, headers=[("P-Asserted-Identity", phone_identity)],
                            timeout=5.0)
        require_status(out, 200, "the call out through the carrier")
        check(out.get_all("P-Asserted-Identity") == [],
              "Privacy: id in the carrier's 200: the phone must get no identity: %s" % out.raw)
        invites = [entry[2] for entry in carrier.registers if entry[2].method == "INVITE"]
        check(len(invites) == 1 and invites[0].get_all("P-Asserted-Identity") == [],
              "the phone's asserted identity must not reach the carrier: %s" % [
                  message.raw for message in invites])
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "identity_removed") == 2 and
          total(counters, "identity_withheld") == 2,
          "expected 2 identities removed (the phone's 200 and INVITE), 2 withheld (the private "
          "INVITE and 200): %s" % brief)


def stun_binding_request(transaction_id, fingerprint):
    """RFC 5389 §6: a Binding request without attributes, with FINGERPRINT (§15.5, CRC-32
    from Python's zlib, not sipline's) when asked."""
    length = 8 if fingerprint else 0
    message = struct.pack("!HHI", 0x0001, length, 0x2112A442) + transaction_id
    if fingerprint:
        message += struct.pack("!HHI", 0x8028, 4, zlib.crc32(message) ^ 0x5354554E)
    return message


def read_stun_success(answer, transaction_id, fingerprint):
    """The (host, port) of a Binding success response's XOR-MAPPED-ADDRESS (IPv4); checks its
    header, transaction ID and FINGERPRINT."""
    check(len(answer) >= 32, "STUN answer too short: %r" % answer)
    kind, length, cookie = struct.unpack("!HHI", answer[:8])
    check(kind == 0x0101 and cookie == 0x2112A442 and length == len(answer) - 20 and
          answer[8:20] == transaction_id, "not our Binding success response: %r" % answer)
    attribute, size, _, family, xport = struct.unpack("!HHBBH", answer[20:28])
    check(attribute == 0x0020 and size == 8 and family == 1,
          "expected XOR-MAPPED-ADDRESS (IPv4) first: %r" % answer)
    host = socket.inet_ntoa(bytes(a ^ b for a, b in zip(answer[28:32], answer[4:8])))
    if fingerprint:
        check(len(answer) == 40 and struct.unpack("!HHI", answer[32:40]) == (
            0x8028, 4, zlib.crc32(answer[:32]) ^ 0x5354554E),
            "the answer's FINGERPRINT does not match its CRC-32: %r" % answer)
    else:
        check(len(answer) == 32, "unexpected attributes after XOR-MAPPED-ADDRESS: %r" % answer)
    return host, xport ^ 0x2112


def test_keepalives(ctx):
    """NAT keep-alives on the SIP port (RFC 5626 §4.4): a STUN Binding request, with and
    without FINGERPRINT, is answered from the SIP port with the client's own address and port
    in XOR-MAPPED-ADDRESS (RFC 5389, checked with Python's struct and zlib); CRLF keep-alives
    (and an empty datagram) get no answer and count as keepalives, not as errors; the proxy
    answers SIP on the same socket afterwards."""
    proxy_port, = harness.free_udp_ports(1)
    proxy = ctx.sipline(harness.sipline_config(proxy_port, [])).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        own = (sipmsg.LOCAL_HOST, agent.port)
        for n, fingerprint in enumerate((False, True, True)):
            transaction_id = os.urandom(12)
            agent.send_raw(stun_binding_request(transaction_id, fingerprint))
            agent.sock.settimeout(3.0)
            try:
                answer, source = agent.sock.recvfrom(2048)
            except socket.timeout:
                raise TestFailure("no answer to STUN Binding request %d" % n)
            check(source == agent.proxy, "the STUN answer came from %s, not the SIP port %s" % (
                source, agent.proxy))
            mapped = read_stun_success(answer, transaction_id, fingerprint)
            check(mapped == own, "XOR-MAPPED-ADDRESS says %s, the client is %s" % (mapped, own))
        for keepalive in (b"\r\n\r\n", b"\r\n\r\n", b"\r\n", b""):
            agent.send_raw(keepalive)
        agent.sock.settimeout(0.5)
        try:
            unexpected = agent.sock.recvfrom(2048)
            raise TestFailure("a CRLF keep-alive was answered: %r" % (unexpected,))
        except socket.timeout:
            pass
        answer = agent.request("OPTIONS", "sip:%s:%d" % (sipmsg.PROXY_HOST, proxy_port))
        require_status(answer, 200, "OPTIONS after the keep-alives")
    counters = require_clean_stop(proxy)
    brief = harness.brief(counters)
    check(total(counters, "stun_answered") == 3 and total(counters, "keepalives") == 4,
          "expected 3 STUN answers and 4 keep-alives counted: %s" % brief)
    check(total(counters, "dropped") == 0, "keep-alives must not count as drops: %s" % brief)


def test_dns_refresh(ctx):
    """[dns] refresh_interval: a forward target named by host name follows the name to its new
    address without a reload. sipline reads a hosts file of the test's own (bind-mounted over
    /etc/hosts in a private mount namespace: no DNS query leaves the machine). The name first
    points where nothing answers (the INVITE goes unanswered); the test rewrites the file;
    within the refresh interval (1 s) sipline resolves the name again, logs the change, and
    the next INVITE reaches the echo UAS and is answered 200."""
    proxy_port, = harness.free_udp_ports(1)
    echo = EchoServer()
    ctx.cleanups.append(echo.stop)
    host = harness.NET.client_host
    nowhere = "10.99.0.3" if harness.NET.dpdk else "127.0.0.2"  # nothing listens there
    name = "sbc.sipline-e2e.test"
    hosts = ctx.workdir.file("hosts")

    def point_name_at(address):
        with open(hosts, "w") as handle:  # the same file: the bind mount shows the new text
            handle.write("127.0.0.1 localhost\n%s %s\n" % (address, name))

    point_name_at(nowhere)
    routes = [{"name": "out", "user_prefix": "7", "action": "forward",
               "target": "sip:%s:%d" % (name, echo.port)}]
    config = harness.sipline_config(proxy_port, routes) + "\n[dns]\nrefresh_interval = 1\n"
    proxy = ctx.sipline(config, hosts_file=hosts).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        def invite(timeout):
            agent.call_id = sipmsg.new_token("dns-") + "@" + host
            return agent.request("INVITE", "sip:7000@sipline.test",
                                 to="<sip:7000@sipline.test>", timeout=timeout)

        check(invite(1.0) is None and not echo.requests("INVITE"),
              "the INVITE should have gone to %s, where nothing answers" % nowhere)
        point_name_at(host)
        wait_for_log(proxy, 'DNS refresh: new addresses: route "out": %s:%d -> %s:%d' % (
            nowhere, echo.port, host, echo.port), 5)
        require_status(invite(3.0), 200, "INVITE after the DNS refresh")
        check(len(echo.requests("INVITE")) == 1, "the echo UAS should have got one INVITE")
    require_clean_stop(proxy)


# --- 5c. Configuration reload (SIGHUP) ------------------------------------------------------

def test_reload(ctx):
    """SIGHUP reloads the routing from the same file while calls flow: a route to echo UAS A
    becomes a route to a pool holding echo UAS B, and a new route answers 488; the next
    INVITEs follow the new routes (no restart: the same process, the same registrations). A
    file that no longer loads, and one that changes [listen], are refused with the reason
    logged (FILE:LINE for the first), and the running configuration stays."""
    proxy_port, = harness.free_udp_ports(1)
    first, second = EchoServer(), EchoServer()
    for server in (first, second):
        ctx.cleanups.append(server.stop)
    host = harness.NET.client_host
    # Socket mode names echo A by host name: resolved when the file is loaded (/etc/hosts;
    # no DNS query leaves the machine).
    first_host = "localhost" if harness.NET.mode == "socket" else host
    before = [{"name": "out", "user_prefix": "7", "action": "forward",
               "target": "sip:%s:%d" % (first_host, first.port)}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, before)).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        def invite(user, expect, what):
            agent.call_id = sipmsg.new_token("reload-") + "@" + host
            answer = agent.request("INVITE", "sip:%s@sipline.test" % user,
                                   to="<sip:%s@sipline.test>" % user, timeout=3.0)
            require_status(answer, expect, what)

        invite("7000", 200, "INVITE before the reload")
        check(len(first.requests("INVITE")) == 1, "the INVITE did not reach echo A")

        def rewrite(routes, pools=(), port=proxy_port):
            with open(proxy.config_path, "w") as handle:
                handle.write(harness.sipline_config(port, routes, pools=pools))

        def hangup_and_wait(text):
            seen = len(proxy.log_lines())
            os.kill(proxy.process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                lines = proxy.log_lines()[seen:]
                if any(text in line for line in lines):
                    return lines
                time.sleep(0.05)
            raise TestFailure("no %r after SIGHUP:\n%s" % (text, harness.tail(proxy.log_path)))

        pools = [{"name": "b", "members": ["sip:%s:%d" % (host, second.port)],
                  "probe_interval": 1}]
        after = [{"name": "out", "user_prefix": "7", "action": "forward", "pool": "b"},
                 {"name": "busy", "user_prefix": "9", "action": "reject", "code": 488}]
        rewrite(after, pools)
        hangup_and_wait("configuration reloaded")
        invite("7000", 200, "INVITE after the reload")
        invite("9000", 488, "INVITE for the route the reload added")
        check(len(first.requests("INVITE")) == 1 and len(second.requests("INVITE")) == 1,
              "after the reload the INVITE should reach echo B only")

        rewrite(after + [{"name": "bad", "action": "teleport"}], pools)
        lines = hangup_and_wait("was not reloaded")
        check(any(re.search(r"reload refused: .*\.toml:\d+: routes\[2\]\.action", line)
                  for line in lines), "the refusal should say FILE:LINE: %s" % lines)
        rewrite(after, pools, port=proxy_port + 1 if proxy_port < 65535 else proxy_port - 1)
        lines = hangup_and_wait("was not reloaded")
        check(any("[listen] differs from the running configuration" in line for line in lines),
              "the refusal should name [listen]: %s" % lines)
        invite("7000", 200, "INVITE after the refused reloads")
        check(len(second.requests("INVITE")) == 2, "refused reloads changed the routing")
    require_clean_stop(proxy)
    control = [line for line in proxy.log_lines() if line.startswith("control:")]
    check(control and "reloads=1" in control[-1], "expected reloads=1: %s" % control)


def test_reload_under_load(ctx):
    """1,500 SIPp calls at 150 calls/s to a registered user while sipline is sent SIGHUP every
    half second, the file alternating between two versions (a route and the log level
    differ): every call completes on both sides, no message is dropped, and every reload is
    applied (the workers swap contexts between iterations, nothing waits or is lost)."""
    calls, rate = 1500, 150
    proxy_port, uas_port = harness.free_udp_ports(2)
    versions = [call_config(proxy_port),
                call_config(proxy_port).replace('level = "info"', 'level = "warn"') +
                '\n[[routes]]\nname = "busy"\nuser_prefix = "9"\naction = "reject"\ncode = 486\n']
    proxy = ctx.sipline(versions[0]).start()
    register_user(proxy_port, "1002", uas_port)
    stop = threading.Event()
    sent = [0]

    def hang_up():
        while not stop.wait(0.5):
            sent[0] += 1
            with open(proxy.config_path + ".new", "w") as handle:
                handle.write(versions[sent[0] % 2])
            os.replace(proxy.config_path + ".new", proxy.config_path)  # never read half-written
            os.kill(proxy.process.pid, signal.SIGHUP)

    reloader = threading.Thread(target=hang_up, daemon=True)
    reloader.start()
    try:
        run_call_load(ctx, proxy_port, uas_port, calls, rate, "u1")
    finally:
        stop.set()
        reloader.join(5)
    time.sleep(0.3)  # the last SIGHUP's reload
    counters = require_clean_stop(proxy)
    check(total(counters, "dropped") == 0, "sipline dropped messages: %s" % harness.brief(counters))
    control = [line for line in proxy.log_lines() if line.startswith("control:")]
    reloads = int(re.search(r"reloads=(\d+)", control[-1]).group(1)) if control else 0
    check(sent[0] >= 10 and reloads == sent[0],
          "%d SIGHUPs sent, %d reloads applied (%s)" % (sent[0], reloads, control))


# --- 5d. The admin socket and siplinectl -----------------------------------------------------

# GET http://127.0.0.1:PORT/PATH, printed as JSON (run in sipline's namespace in DPDK mode).
SCRAPE = """
import http.client, json, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
connection.request("GET", sys.argv[2])
response = connection.getresponse()
print(json.dumps({"status": response.status, "type": response.getheader("Content-Type"),
                  "body": response.read().decode()}))
"""


def test_admin(ctx):
    """siplinectl against the running proxy's [admin] socket: `counters` prints the worker
    lines, `routes` the dial plan in order, `registrations 1001` the contact a REGISTER just
    bound, `pools` each member's
    health, `reload` of a broken file exits 1 with the FILE:LINE reason, of a good one exits
    0 and the new route answers; an unknown command exits 1. The socket file is gone after
    the proxy stops. The [admin] metrics endpoint answers GET /metrics in Prometheus's text
    format with the same counters (the REGISTERs, the pool member up), 404 elsewhere.
    In DPDK mode siplinectl and the scrape run in sipline's network namespace."""
    proxy_port, = harness.free_udp_ports(1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    socket_path = ctx.workdir.file("admin.sock")
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    check(os.access(ctl, os.X_OK), "siplinectl not built next to sipline: %s" % ctl)
    echo = EchoServer()
    ctx.cleanups.append(echo.stop)
    host = harness.NET.client_host
    pools = [{"name": "pbx", "members": ["sip:%s:%d" % (host, echo.port)], "probe_interval": 1}]
    routes = [{"name": "users", "user_prefix": "10", "action": "location"},
              {"name": "to-pbx", "user_prefix": "8", "action": "forward", "pool": "pbx"}]

    def config(extra_routes):
        return harness.sipline_config(proxy_port, routes + extra_routes, pools=pools,
                                      admin_socket=socket_path,
                                      metrics="127.0.0.1:%d" % metrics_port)

    proxy = ctx.sipline(config([])).start()

    # DPDK mode: siplinectl and the scrape run in sipline's namespace (its autobound admin
    # address and its metrics listener on 127.0.0.1 are there, not in the peer's).
    def siplinectl(*words):
        argv = harness.NET.sipline_prefix + [ctl, "--socket", socket_path] + list(words)
        result = subprocess.run(argv,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        return result.returncode, result.stdout.decode(), result.stderr.decode()

    code, out, _ = siplinectl("counters")
    check(code == 0 and re.search(r"^worker 0: received=", out, re.M) and "control:" in out,
          "siplinectl counters: %d %r" % (code, out))
    code, out, _ = siplinectl("routes")
    check(code == 0 and out == 'route users: user_prefix="10" methods=any sources=any location\n'
          'route to-pbx: user_prefix="8" methods=any sources=any forward pool pbx\n',
          "siplinectl routes: %d %r" % (code, out))
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        contact = "<%s>" % contact_uri("1001", agent.port)
        require_status(challenged_register(agent, "REGISTER 1001", contact=contact,
                                           expires=300), 200, "REGISTER 1001")
    code, out, _ = siplinectl("registrations", "1001")
    check(code == 0 and out.startswith(contact_uri("1001", agent.port) + " expires_in="),
          "siplinectl registrations 1001: %d %r" % (code, out))
    deadline = time.monotonic() + 5
    while True:
        code, out, _ = siplinectl("pools")
        if "answered=1" in out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(code == 0 and re.search(r"^pool pbx member 0 sip:\S+: up probes=\d+ answered=[1-9]",
                                  out, re.M), "siplinectl pools: %d %r" % (code, out))

    def scrape(path):
        result = subprocess.run(harness.NET.sipline_prefix + [sys.executable, "-c", SCRAPE,
                                                      str(metrics_port), path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
        check(result.returncode == 0, "scraping %s failed: %s" % (path, result.stderr.decode()))
        answer = json.loads(result.stdout)
        return answer["status"], answer["type"], answer["body"]

    status, content_type, body = scrape("/metrics")
    check(status == 200 and content_type.startswith("text/plain; version=0.0.4"),
          "GET /metrics: %s %s" % (status, content_type))
    patterns = [r'^sipline_worker_received\{worker="%d"\} \d+$' % worker
                for worker in range(proxy.workers)]
    for pattern in patterns + [
            r"^sipline_control_registers [1-9]\d*$",
            r'^sipline_pool_member_up\{pool="pbx",member="0",uri="sip:[^"]+"\} 1$',
            r"^sipline_location_aors 1$"]:
        check(re.search(pattern, body, re.M), "no %s in /metrics:\n%s" % (pattern, body))
    check("total" not in body, "the total line is left to the query: %s" % body)
    check(scrape("/")[0] == 404, "GET / should be 404")

    # An operator takes the pool's only member out at once, then puts it back.
    def invite_pool(expect, what):
        with sipmsg.Agent(proxy_port, user="1001") as agent:
            require_status(agent.request("INVITE", "sip:8000@sipline.test",
                                         to="<sip:8000@sipline.test>"), expect, what)

    invite_pool(200, "INVITE to the pool before the drain")
    code, out, _ = siplinectl("drain", "pbx", "0")
    check(code == 0 and re.search(r"^pool pbx member 0 sip:\S+: up drain ", out, re.M),
          "siplinectl drain pbx 0: %d %r" % (code, out))
    invite_pool(503, "INVITE to the pool with its only member drained")
    check(re.search(r'^sipline_pool_member_drained\{pool="pbx",member="0",[^}]*\} 1$',
                    scrape("/metrics")[2], re.M), "the drain should show in /metrics")
    code, out, _ = siplinectl("undrain", "pbx", "sip:%s:%d" % (host, echo.port))
    check(code == 0 and re.search(r"^pool pbx member 0 sip:\S+: up probes=", out, re.M),
          "siplinectl undrain pbx URI: %d %r" % (code, out))
    invite_pool(200, "INVITE to the pool after the undrain")
    code, _, err = siplinectl("drain", "pbx", "9")
    check(code == 1 and 'has no member "9"' in err, "drain of no member: %d %r" % (code, err))

    with open(proxy.config_path, "w") as handle:
        handle.write(config([{"name": "bad", "action": "teleport"}]))
    code, out, err = siplinectl("reload")
    check(code == 1 and re.search(r"reload refused: .*\.toml:\d+: routes\[2\]\.action", err),
          "siplinectl reload of a broken file: %d %r %r" % (code, out, err))
    with open(proxy.config_path, "w") as handle:
        handle.write(config([{"name": "busy", "user_prefix": "9", "action": "reject",
                              "code": 486}]))
    code, out, err = siplinectl("reload")
    check(code == 0 and "configuration reloaded" in out,
          "siplinectl reload: %d %r %r" % (code, out, err))
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        require_status(agent.request("INVITE", "sip:9000@sipline.test",
                                     to="<sip:9000@sipline.test>"), 486, "the reloaded route")
    code, out, _ = siplinectl("unregister", "1001")
    check(code == 0 and 'removed 1 binding(s) of "1001"' in out,
          "siplinectl unregister 1001: %d %r" % (code, out))
    code, out, _ = siplinectl("registrations", "1001")
    check(code == 0 and out == "", "1001 should have no binding left: %d %r" % (code, out))
    code, _, err = siplinectl("frobnicate")
    check(code == 1 and "unknown command" in err, "unknown command: %d %r" % (code, err))
    require_clean_stop(proxy)
    check(not os.path.exists(socket_path), "the admin socket outlived the proxy")


# --- 5e. DPDK: the exception path to the kernel (issue 4 §2) --------------------------------

# A TCP server for the kernel side: accepts one connection, answers one line, exits.
KERNEL_TCP_SERVER = """
import socket, sys
server = socket.socket()
server.settimeout(30)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(1)
print("listening", flush=True)
connection, _ = server.accept()
connection.settimeout(10)
line = connection.makefile("rb").readline()
connection.sendall(b"kernel: " + line)
connection.close()
"""


SYN_FLOOD = 20000  # TCP SYNs sent at the kernel in exception_path, within 5 s at most


def test_exception_path(ctx):
    """DPDK mode only. sipline with a net_tap port as dataplane.exception_port, the TAP given
    the dataplane's address: a TCP exchange with a server of the kernel in sipline's namespace
    (the SYN and everything after it reach the kernel through the control lcore, its answers
    leave by the NIC, its ARP for the peer included); then a flood of 20,000 SYNs for the
    kernel, after which SIP (an OPTIONS keepalive: 200) and ping are still answered by the
    dataplane and the control ring ARP uses lost nothing."""
    check(harness.NET.dpdk, "exception_path needs the DPDK mode (run_dpdk_e2e.sh)")
    proxy_port, = harness.free_udp_ports(1)
    tap, tcp_port = "sl-exc0", 2222
    dataplane = {"eal": harness.NET.dataplane["eal"] + ["--vdev=net_tap0,iface=%s" % tap],
                 "exception_port": 1}
    proxy = ctx.sipline(harness.sipline_config(proxy_port, [], dataplane=dataplane)).start()
    subprocess.run(["ip", "-n", harness.NET.dpdk_netns, "address", "add",
                    "%s/24" % harness.DPDK_ADDRESS, "dev", tap], check=True, timeout=10)
    server = subprocess.Popen(["ip", "netns", "exec", harness.NET.dpdk_netns, "python3", "-c",
                               KERNEL_TCP_SERVER, harness.DPDK_ADDRESS, str(tcp_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ctx.cleanups.append(lambda: server.kill())
    check(server.stdout.readline().strip() == b"listening", "the kernel's TCP server did not start")
    with socket.create_connection((harness.DPDK_ADDRESS, tcp_port), timeout=10) as connection:
        connection.sendall(b"hello through the tap\n")
        answer = connection.makefile("rb").readline()
    check(answer == b"kernel: hello through the tap\n",
          "TCP through the exception path: %r" % answer)
    server.wait(timeout=10)
    # A flood of TCP SYNs for the kernel (checksum left 0, so the kernel discards them after
    # the dataplane passed them on): they take the kernel's ring, so SIP, ARP and ping stay
    # served.
    flood = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    syn = struct.pack("!HHIIBBHHH", 40000, tcp_port + 1, 1, 0, 0x50, 0x02, 65535, 0, 0)
    deadline = time.monotonic() + 5
    for sent in range(SYN_FLOOD):
        flood.sendto(syn, (harness.DPDK_ADDRESS, 0))
        if sent % 1000 == 0 and time.monotonic() > deadline:
            break
    flood.close()
    # Sent as a UA sends it over UDP: retransmitted (same branch, RFC 3261 §17.1.2.2 Timer E)
    # when no answer comes, since the port's receive ring can still be full from the flood
    # when the first copy arrives (counted as `imissed` on the port line).
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        branch = sipmsg.new_token("z9hG4bK")
        answer = None
        for _ in range(3):
            answer = agent.request("OPTIONS", "sip:%s" % proxy_address(proxy_port),
                                   branch=branch, cseq=1, timeout=1.5)
            if answer is not None:
                break
        require_status(answer, 200, "OPTIONS keepalive next to the exception path")
    ping = subprocess.run(["ping", "-c", "1", "-W", "3", harness.DPDK_ADDRESS],
                          stdout=subprocess.DEVNULL, timeout=10)
    check(ping.returncode == 0, "ping of the dataplane address failed")
    require_clean_stop(proxy)
    worker = proxy.final_net.get("worker 0", {})
    check(worker.get("kernel_frames", 0) + worker.get("drop_kernel_ring_full", 0) >= SYN_FLOOD // 2,
          "the SYN flood did not take the kernel's way: %s" % worker)
    check(worker.get("drop_control_ring_full", 0) == 0,
          "the flood reached the control ring ARP and ping use: %s" % worker)
    kernel = proxy.final_net.get("kernel", {})
    control = proxy.final_net.get("control", {})
    check(kernel.get("tx_frames", 0) >= 3 and kernel.get("rx_frames", 0) >= 3,
          "the kernel's TAP moved too few frames: %s" % kernel)
    check(control.get("icmp_echo_replies", 0) >= 1,
          "the ping was not answered by the dataplane: %s" % control)
    check(not any(key.startswith("drop_") for key in kernel),
          "frames to or from the kernel were dropped: %s" % kernel)


# --- 5c. DPDK: address announcements on start (RFC 5227 §2.3) ------------------------------

def test_announce(ctx):
    """DPDK mode only. Within a second of start the peer's link carries sipline's ARP
    Announcement: a broadcast ARP request from the dataplane's MAC whose sender and target
    addresses are both the dataplane's address (a standby taking over an address is found at
    once)."""
    check(harness.NET.dpdk, "announce needs the DPDK mode (run_dpdk_e2e.sh)")
    link = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    ctx.cleanups.append(link.close)
    link.bind(("veth-peer", 0))
    link.settimeout(0.2)
    proxy_port, = harness.free_udp_ports(1)
    proxy = ctx.sipline(harness.sipline_config(proxy_port, [])).start()
    ours = socket.inet_aton(harness.DPDK_ADDRESS)
    announced = None
    deadline = time.monotonic() + 3
    while announced is None and time.monotonic() < deadline:
        try:
            frame = link.recv(2048)
        except socket.timeout:
            continue
        arp = frame[14:42]
        if (frame[0:6] == b"\xff" * 6 and arp[6:8] == b"\x00\x01" and arp[14:18] == ours and
                arp[24:28] == ours):
            announced = frame
    check(announced is not None, "no ARP Announcement of %s within 3 s of start" %
          harness.DPDK_ADDRESS)
    check(announced[6:12] == announced[22:28], "the announcement's Ethernet source is not its "
          "sender MAC: %s" % announced[:42].hex())
    require_clean_stop(proxy)
    check(proxy.final_net.get("control", {}).get("announcements", 0) >= 1,
          "net control counted no announcement: %s" % proxy.final_net.get("control"))


# --- 6. error answers -----------------------------------------------------------------------

def test_errors(ctx):
    """483, 416, 420 + Unsupported, 505, 404 (no route, unknown user) and 480 (no binding);
    and the one local 200 next to them: OPTIONS for the proxy itself (a trunk's keepalive)."""
    proxy_port, = harness.free_udp_ports(1)
    routes = [{"name": "users", "user_prefix": "10", "action": "location"}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        def expect(code, what, method="OPTIONS", uri="sip:1002@sipline.test", **kwargs):
            agent.call_id = sipmsg.new_token("e2e-") + "@" + harness.NET.client_host
            answer = agent.request(method, uri, **kwargs)
            require_status(answer, code, what)
            check(";tag=" in (answer.get("To") or ""),
                  "local %d without a To tag: %s" % (code, describe(answer)))
            return answer

        expect(483, "OPTIONS with Max-Forwards: 0", max_forwards=0)
        expect(483, "INVITE with Max-Forwards: 0", method="INVITE", max_forwards=0)
        expect(416, "unknown Request-URI scheme", uri="nobodyKnowsThisScheme:1002",
               to="<sip:1002@sipline.test>")
        answer = expect(420, "Proxy-Require: an unknown option tag",
                        headers=[("Proxy-Require", "sipline-e2e-nope")])
        check("sipline-e2e-nope" in (answer.get("Unsupported") or ""),
              "420 must list the tag in Unsupported: %s" % describe(answer))
        expect(505, "SIP/7.0 request", version="SIP/7.0")
        expect(404, "no route for user 3000", uri="sip:3000@sipline.test")
        expect(404, "user 1099 is not configured", method="INVITE", uri="sip:1099@sipline.test")
        expect(480, "user 1005 has no binding", method="INVITE", uri="sip:1005@sipline.test")
        answer = expect(200, "OPTIONS keepalive for the proxy itself", uri="sip:sipline.test",
                        to="<sip:sipline.test>")
        check("REGISTER" in (answer.get("Allow") or ""),
              "the keepalive answer must list what the proxy supports: %s" % describe(answer))
    counters = require_clean_stop(proxy)
    check(total(counters, "forwarded") == 0,
          "an error case was forwarded: %s" % harness.brief(counters))
    check(total(counters, "local_4xx") == 7 and total(counters, "local_5xx") == 1 and
          total(counters, "local_2xx") == 1,
          "expected 7 local 4xx, 1 local 5xx and 1 local 2xx: %s" % harness.brief(counters))


# --- 6a. a 4 KB INVITE: IP fragments on a 1500-octet link -----------------------------------

def big_sdp(size):
    """An SDP body padded with an attribute line to exactly `size` octets."""
    head = ("v=0\r\no=1001 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (
                harness.NET.client_host, harness.NET.client_host))
    pad = size - len(head) - len("a=x-pad:\r\n")
    return head + "a=x-pad:" + "p" * pad + "\r\n"


def test_big_invite(ctx):
    """An INVITE of about 4 KB is forwarded whole and its 200 comes back. In DPDK mode the
    sender's kernel cuts it into three IP fragments at MTU 1500: the dataplane reassembles
    them, and the forwarded copy leaves in fragments again (the net counters prove both)."""
    proxy_port, = harness.free_udp_ports(1)
    echo = sipmsg.EchoUas()
    ctx.cleanups.append(echo.close)
    routes = [{"name": "to-echo", "action": "forward",
               "target": "sip:%s:%d" % (harness.NET.client_host, echo.port)}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, names=("sipline.test",))).start()
    body = big_sdp(3700)
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        branch = sipmsg.new_token("z9hG4bK")
        headers = [("Contact", "<sip:1001@%s:%d>" % (harness.NET.client_host, agent.port)),
                   ("Content-Type", "application/sdp")]
        agent.request("INVITE", "sip:2000@sipline.test", headers=headers, body=body,
                      branch=branch, wait=False)
        echo.poll(1.5)
        arrived = [m for m in echo.received if m is not None and not m.is_response]
        check(len(arrived) == 1 and arrived[0].method == "INVITE",
              "the 4 KB INVITE was not forwarded once: %s (echo got %d datagrams)" % (
                  arrived, len(echo.raw)))
        check(len(echo.raw[0]) > 4000, "forwarded INVITE is only %d octets" % len(echo.raw[0]))
        check(arrived[0].body == body.encode(), "the body arrived changed (%d of %d octets)" % (
            len(arrived[0].body), len(body)))
        vias = arrived[0].get_all("Via")
        check(len(vias) == 2 and proxy_address(proxy_port) in vias[0] and branch in vias[1],
              "forwarded INVITE without the proxy's Via on top of ours: %s" % vias)
        answer = agent.wait_final(agent.call_id, agent.cseq, 3.0)
        require_status(answer, 200, "200 for the 4 KB INVITE")
    counters = require_clean_stop(proxy)
    check(total(counters, "forwarded_requests") == 1 and
          total(counters, "forwarded_responses") == 1 and total(counters, "dropped") == 0,
          "expected one request and one response forwarded: %s" % harness.brief(counters))
    if harness.NET.dpdk:
        net = proxy.final_net.get("worker 0", {})
        print("e2e: net counters of worker 0: %s" % {k: v for k, v in net.items() if v})
        check(net.get("fragments", 0) >= 3 and net.get("reassembled", 0) >= 1,
              "the dataplane did not reassemble the fragmented INVITE: %s" % net)
        check(net.get("udp_fragmented", 0) >= 1,
              "the forwarded INVITE was not fragmented on send: %s" % net)


# --- 6b. the corpus, one datagram per file --------------------------------------------------

# --- IPv6 through the DPDK dataplane ---------------------------------------------------------

def dual_stack_config(proxy_port, routes, trusted, dataplane=None, dscp=None):
    """sipline listening on NET's IPv4 and IPv6 addresses at `proxy_port`, both its domain
    names, `trusted` as trusted sources, `dscp` as [listen] dscp."""
    net = harness.NET
    proxy6 = "[%s]" % net.proxy_host6
    text = harness.sipline_config(
        proxy_port, routes, names=("sipline.test", net.proxy_host, proxy6), dataplane=dataplane,
        source_limits={"trusted_sources": trusted})
    ipv4_listen = "udp = %s" % harness.toml_value(["%s:%d" % (net.proxy_host, proxy_port)])
    check(ipv4_listen in text, "the generated config has no listen line to extend")
    return text.replace(ipv4_listen, "udp = %s%s" % (harness.toml_value(
        ["%s:%d" % (net.proxy_host, proxy_port), "%s:%d" % (proxy6, proxy_port)]),
        "" if dscp is None else "\ndscp = %d" % dscp))


def test_ipv6_calls(ctx):
    """200 calls over IPv6. sipline listens on an IPv6 address as well as its IPv4 one; SIPp's
    UAC and UAS bind an IPv6 address, and a forward route sends the INVITEs to the UAS by an
    IPv6 literal: Vias, Request-URIs and the route target carry bracketed literals, and the
    forwarded requests and responses go out over IPv6. Socket mode: ::1. DPDK mode: the
    dataplane's address6 on the veth, so neighbour discovery runs both ways (the kernel's
    solicitation answered by the control lcore, the peer's MAC learned) and the IPv6 UDP
    checksums are computed and verified by the dataplane."""
    calls = 200
    net = harness.NET
    proxy_port, uas_port = harness.free_udp_ports(2)
    proxy6 = "[%s]" % net.proxy_host6
    routes = [{"name": "uas-ipv6", "action": "forward",
               "target": "sip:[%s]:%d" % (net.client_host6, uas_port)}]
    proxy = ctx.sipline(dual_stack_config(proxy_port, routes, [net.client_host,
                                                               net.client_host6])).start()
    _, _, retransmissions = run_call_load(
        ctx, proxy_port, uas_port, calls, 50, "u1", proxy="%s:%d" % (proxy6, proxy_port),
        local_ip=net.client_host6)
    counters = require_clean_stop(proxy)
    check(total(counters, "dropped") == 0, "sipline dropped messages: %s" % harness.brief(counters))
    if retransmissions == 0:
        check(total(counters, "forwarded_requests") == 3 * calls and
              total(counters, "forwarded_responses") == 3 * calls,
              "expected %d requests and %d responses forwarded: %s" % (
                  3 * calls, 3 * calls, harness.brief(counters)))
    if net.dpdk:
        lcores = proxy.final_net
        learned = sum(lcore.get("neighbors_learned", 0) for lcore in lcores.values())
        check(learned >= 1, "the peer's IPv6 neighbour was never learned: %s" % lcores)
        print("e2e: ipv6 neighbour discovery: %s" % {
            name: {key: value for key, value in lcore.items()
                   if key.startswith("nd_") or key == "neighbors_learned"}
            for name, lcore in lcores.items()})


def test_ipv6_gateway(ctx):
    """DPDK mode only. Calls to an IPv6 UAS behind a router: the route's target
    (2001:db8:98::7) is off the dataplane's /64, so the forwarded INVITEs go to
    [dataplane] gateway6, named by the router's link-local address (fe80::fe: the peer, which
    also holds the UAS's address). The dataplane solicits that address (the peer's link sees
    a neighbour solicitation for fe80::fe), learns the router's MAC from its advertisement and
    sends through it; every call completes, nothing is dropped. With [listen] dscp = 46, every
    UDP datagram the dataplane sends carries DSCP 46 in its Traffic Class."""
    net = harness.NET
    check(net.dpdk, "ipv6_gateway needs the DPDK mode (run_dpdk_e2e.sh)")
    link = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD))
    ctx.cleanups.append(link.close)
    # Room for the whole run's frames (root: past net.core.rmem_max).
    link.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
    link.bind(("veth-peer", 0))
    link.setblocking(False)
    dscp = 46
    calls = 50
    proxy_port, uas_port = harness.free_udp_ports(2)
    proxy6 = "[%s]" % net.proxy_host6
    routes = [{"name": "behind-router", "action": "forward",
               "target": "sip:[%s]:%d" % (harness.DPDK_BEHIND_GATEWAY6, uas_port)}]
    proxy = ctx.sipline(dual_stack_config(
        proxy_port, routes, [net.client_host6, harness.DPDK_BEHIND_GATEWAY6],
        dataplane={"gateway6": harness.DPDK_GATEWAY6}, dscp=dscp)).start()
    run_call_load(ctx, proxy_port, uas_port, calls, 25, "u1", proxy="%s:%d" % (proxy6, proxy_port),
                  local_ip=net.client_host6, uas_ip=harness.DPDK_BEHIND_GATEWAY6)
    counters = require_clean_stop(proxy)
    check(total(counters, "dropped") == 0, "sipline dropped messages: %s" % harness.brief(counters))
    gateway = socket.inet_pton(socket.AF_INET6, harness.DPDK_GATEWAY6)
    ours = socket.inet_pton(socket.AF_INET6, net.proxy_host6)
    solicited = 0
    classes = {}  # Traffic Class of the UDP datagrams the dataplane sent: count
    for _ in range(100000):  # what the link carried, bounded
        try:
            frame = link.recv(4096)
        except BlockingIOError:
            break
        if len(frame) < 78:
            continue
        # IPv6 next header 58 (ICMPv6), type 135 (neighbour solicitation), target at +8.
        if frame[20] == 58 and frame[54] == 135 and frame[62:78] == gateway:
            solicited += 1
        if frame[20] == 17 and frame[22:38] == ours:
            traffic_class = (frame[14] & 0x0F) << 4 | frame[15] >> 4
            classes[traffic_class] = classes.get(traffic_class, 0) + 1
    check(solicited >= 1, "no neighbour solicitation for the gateway %s on the link" %
          harness.DPDK_GATEWAY6)
    check(list(classes) == [dscp << 2] and classes[dscp << 2] >= calls,
          "the dataplane's UDP datagrams by Traffic Class: %s (want all %d, DSCP %d)" % (
              classes, dscp << 2, dscp))
    lcores = proxy.final_net
    unroutable = sum(lcore.get("drop_unroutable", 0) for lcore in lcores.values())
    check(unroutable == 0, "the dataplane found no route: %s" % lcores)
    print("e2e: ipv6 gateway: %d solicitations for %s seen; traffic classes %s; %s" % (
        solicited, harness.DPDK_GATEWAY6, classes, {
            name: {key: value for key, value in lcore.items()
                   if key.startswith("nd_") or key == "neighbors_learned"}
            for name, lcore in lcores.items()}))


def read_manifest(corpus):
    rows = []
    with open(os.path.join(corpus, "manifest.tsv"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) >= 3:
            rows.append((fields[0], fields[2], fields[3] if len(fields) > 3 else ""))
    return rows


def classify(delta):
    """One datagram's effect from the counter delta: forwarded / local_Nxx / dropped / ..."""
    outcomes = []
    if total(delta, "forwarded"):
        outcomes.append("forwarded")
    for cls in range(1, 7):
        if total(delta, "local_%dxx" % cls):
            outcomes.append("local_%dxx" % cls)
    if total(delta, "to_control"):
        outcomes.append("to_control")
    if total(delta, "acks_absorbed"):
        outcomes.append("ack_absorbed")
    reasons = sorted({k for w in delta.values() for k, v in w.items()
                      if k.startswith("drop_") and v})
    if total(delta, "dropped"):
        outcomes.append("dropped" + ("(%s)" % ",".join(r[5:] for r in reasons) if reasons else ""))
    return outcomes or ["nothing"]


def in_private_network_namespace():
    return os.environ.get("SIPLINE_E2E_NETNS") == "1"


def test_corpus(ctx):
    """Every tests/corpus file as one datagram, bytes unchanged: rejects are answered or
    dropped and never forwarded, accepted requests reach the next hop, responses not ours are
    dropped; sipline stays up and completes calls afterwards."""
    if not in_private_network_namespace():
        # Some corpus messages route to documentation addresses (198.51.100.7 in a Route):
        # in a network namespace with only loopback those sends fail locally.
        unshare = shutil.which("unshare")
        check(unshare is not None, "corpus test needs `unshare` (util-linux) for a private "
              "network namespace: the corpus routes to non-loopback addresses")
        command = [unshare, "--net"]
        if os.geteuid() != 0:
            command.insert(1, "--map-root-user")
        command += ["--", sys.executable, os.path.abspath(__file__), "--sipline", ctx.binary,
                    "--corpus", ctx.corpus, "--calls", str(ctx.options.calls), "corpus"]
        if ctx.options.keep:
            command.insert(-1, "--keep")
        environment = dict(os.environ, SIPLINE_E2E_NETNS="1")
        inner = harness.spawn(command, env=environment)
        ctx.cleanups.append(lambda: harness.kill_group(inner, 5.0))
        try:
            code = inner.wait(140)
        except subprocess.TimeoutExpired:
            raise TestFailure("corpus test in its network namespace still running after 140 s")
        check(code == 0, "corpus test in its network namespace failed (exit %d)" % code)
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    proxy_port, uas_port = harness.free_udp_ports(2)
    echo = sipmsg.EchoUas()
    ctx.cleanups.append(echo.close)
    routes = [{"name": "users", "user_prefix": "1002", "action": "location"},
              {"name": "everything-else", "action": "forward",
               "target": "sip:127.0.0.1:%d" % echo.port}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes)).start()
    sender = sipmsg.Agent(proxy_port)
    ctx.cleanups.append(sender.close)
    results = []
    failures = []
    for name, expectation, note in read_manifest(ctx.corpus):
        with open(os.path.join(ctx.corpus, name), "rb") as handle:
            data = handle.read()
        before = proxy.counters()
        seen = len(echo.raw)
        sender.send_raw(data)
        echo.poll(0.15, answer=False)  # answers would go to the corpus' own Via hosts
        delta = counter_diff(proxy.counters(), before)
        outcome = classify(delta)
        reached_next_hop = len(echo.raw) > seen
        results.append((name, expectation, outcome, reached_next_hop))
        problem = judge_corpus_outcome(name, expectation, outcome, reached_next_hop, data)
        if problem:
            failures.append("%s (%s): %s; counters %s" % (name, expectation, problem, outcome))
        check(proxy.alive(), "sipline died on %s:\n%s" % (name, harness.tail(proxy.log_path)))
    with open(ctx.workdir.file("corpus_outcomes.tsv"), "w") as report:
        for name, expectation, outcome, reached in results:
            report.write("%s\t%s\t%s\t%s\n" % (name, expectation, "+".join(outcome),
                                               "next-hop" if reached else "-"))
    for name, expectation, outcome, reached in results:
        print("e2e: corpus %-36s %-18s %s%s" % (name, expectation, "+".join(outcome),
                                                " (reached next hop)" if reached else ""))
    check(not failures, "corpus treatment wrong for %d file(s):\n  %s" % (
        len(failures), "\n  ".join(failures)))

    # Still serving: a registration and a few calls.
    register_user(proxy_port, "1002", uas_port)
    run_call_load(ctx, proxy_port, uas_port, 10, 10, "u1")
    require_clean_stop(proxy)


def judge_corpus_outcome(name, expectation, outcome, reached_next_hop, data):
    """None when the treatment fits the manifest for a stateless proxy, else what is wrong."""
    forwarded = "forwarded" in outcome
    is_response = data.startswith(b"SIP/")
    local = [o for o in outcome if o.startswith("local_")]
    dropped = any(o.startswith("dropped") for o in outcome)
    if expectation in ("reject", "n/a"):
        if forwarded or reached_next_hop:
            return "a malformed message was forwarded"
        if not (dropped or any(o in ("local_4xx", "local_5xx") for o in local)):
            return "neither answered 4xx/5xx nor dropped"
        return None
    if expectation == "reject-or-liberal":
        if len(outcome) != 1:
            return "more than one effect"
        return None
    if is_response:  # accept / accept-app-error responses: not ours, so dropped (§16.7)
        if forwarded or not any(o.startswith("dropped(not_ours") or o == "dropped"
                                for o in outcome):
            return "a response whose top Via is not ours must be dropped"
        return None
    if expectation == "accept-app-error":
        wanted = ACCEPT_APP_ERROR.get(name)
        if wanted and wanted not in outcome and not (
                wanted == "forwarded" and any(o.startswith("dropped(unroutable") for o in outcome)):
            return "expected %s" % wanted
        return None
    # accept: a request the proxy routes on. It goes to the next hop of the route table, of
    # its Route header, or (in-dialog) of its Request-URI; a host name we cannot resolve here
    # is dropped as unroutable, and a non-loopback address fails to send in this namespace.
    if local and "to_control" not in outcome:
        return "an acceptable request was answered locally"
    if not (forwarded or "to_control" in outcome or "ack_absorbed" in outcome or any(
            o.startswith("dropped(unroutable") or o.startswith("dropped(send_failed")
            for o in outcome)):
        return "an acceptable request was neither forwarded nor routed"
    return None


# accept-app-error files: what a proxy (not a UAS) does with them (manifest notes).
ACCEPT_APP_ERROR = {
    "rfc4475/unkscm.dat": "local_4xx",    # 416
    "rfc4475/novelsc.dat": "local_4xx",   # 416
    "rfc4475/bext01.dat": "local_4xx",    # 420 + Unsupported
    "rfc4475/zeromf.dat": "local_4xx",    # 483
    "rfc4475/unksm2.dat": "forwarded",    # REGISTER for another domain: proxy forwards
    "rfc4475/invut.dat": "forwarded",     # unknown Content-Type is the UAS's business
    "rfc4475/sdp01.dat": "forwarded",     # Accept without SDP: the UAS answers 406
    "rfc4475/regaut01.dat": "forwarded",  # REGISTER for another domain
}


# --- 7. restart with SQLite -----------------------------------------------------------------

# --- 6c. a flood of malformed datagrams mixed with calls (issue 5 §3) ----------------------

FLOOD_CALLS = 3000        # valid calls, 6 messages each through the proxy
FLOOD_CALL_RATE = 200     # calls/s: 1,200 call messages/s
FLOOD_RATE = 5000         # malformed datagrams/s: about 4x the call message rate
FLOOD_MIN_COMPLETED = 0.99
FLOODER_HOST = "127.0.0.2"  # another source address than the calls' (NET.client_host)


def rerun_in_private_network_namespace(ctx, name, time_limit):
    """Runs test `name` again inside `unshare --net` (only `lo`): what the proxy forwards
    from corpus-derived junk may name any address, and must not leave the machine."""
    unshare = shutil.which("unshare")
    check(unshare is not None, "%s needs `unshare` (util-linux) for a private network "
          "namespace" % name)
    command = [unshare, "--net"]
    if os.geteuid() != 0:
        command.insert(1, "--map-root-user")
    command += ["--", sys.executable, os.path.abspath(__file__), "--sipline", ctx.binary,
                "--corpus", ctx.corpus, name]
    if ctx.options.keep:
        command.insert(-1, "--keep")
    inner = harness.spawn(command, env=dict(os.environ, SIPLINE_E2E_NETNS="1"))
    ctx.cleanups.append(lambda: harness.kill_group(inner, 5.0))
    try:
        code = inner.wait(time_limit)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s in its network namespace still running after %d s" % (
            name, time_limit))
    check(code == 0, "%s in its network namespace failed (exit %d)" % (name, code))


def test_flood(ctx):
    """3,000 calls at 200 calls/s while flooder.py sends malformed datagrams (random bytes,
    truncated and mutated messages, huge headers, near-64 KB and empty datagrams) at 5,000/s
    from another address: >= 99% of the calls complete, sipline keeps serving, and its
    counters show the junk dropped (drop_parse) or answered (400)."""
    if not in_private_network_namespace():
        rerun_in_private_network_namespace(ctx, "flood", 100)
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    proxy_port, uas_port = harness.free_udp_ports(2)
    # The per-source limiter ([source_limits], 50 requests/s per address by default) would
    # drop most of the flood as drop_rate_limited before the parser sees it: the flooder's
    # address is trusted so that this test measures the parser and pipeline under junk
    # (e2e_sipvicious tests the limiter). [overload] keeps its defaults: under this flood
    # no call may be shed.
    routes = [{"name": "users", "user_prefix": "10", "action": "location"}]
    proxy = ctx.sipline(harness.sipline_config(
        proxy_port, routes, workers=2,
        source_limits={"trusted_sources": [harness.NET.client_host, FLOODER_HOST]})).start()
    register_user(proxy_port, "1002", uas_port)
    before = proxy.counters()

    flood_seconds = FLOOD_CALLS / FLOOD_CALL_RATE + 4
    flooder = harness.spawn(
        [sys.executable, os.path.join(HERE, "flooder.py"), "--json",
         "--target", proxy_address(proxy_port), "--bind", FLOODER_HOST,
         "--rate", str(FLOOD_RATE), "--count", str(int(FLOOD_RATE * flood_seconds)),
         "--seconds", str(flood_seconds), "--corpus", ctx.corpus, "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ctx.cleanups.append(lambda: harness.kill_group(flooder, 1.0))
    time.sleep(1.0)  # the flood is on before the first call (the pool takes a moment)
    check(flooder.poll() is None, "flooder exited at start: %s" % (flooder.stderr.read(),))

    uas = ctx.sipp("uas", "uas_call.xml", sipp_common("u1") + [
        "-p", str(uas_port), "-s", "1002", "-m", str(FLOOD_CALLS)], 50).start()
    time.sleep(0.3)
    uac = ctx.sipp("uac", "uac_call.xml", sipp_common("u1") + [
        proxy_address(proxy_port), "-s", "1002", "-r", str(FLOOD_CALL_RATE), "-rp", "1000",
        "-m", str(FLOOD_CALLS), "-l", str(FLOOD_CALL_RATE * 2),
        "-p", str(harness.free_udp_port(exclude=(proxy_port, uas_port)))], 45).start()
    uac.wait(50)
    try:
        out, err = flooder.communicate(timeout=flood_seconds + 10)
    except subprocess.TimeoutExpired:
        raise TestFailure("flooder still running %.0f s after its end" % flood_seconds)
    check(flooder.returncode == 0, "flooder failed (%d): %s" % (flooder.returncode, err))
    flood = json.loads(out)
    uas.kill()  # it may wait for calls that never reached it
    during = counter_diff(proxy.counters(), before)
    completed = uac.count("SuccessfulCall") or 0
    print("e2e: flood %s" % json.dumps(flood, sort_keys=True))
    print("e2e: flood calls %d/%d completed (%.2f%%), %s failed, %s retransmissions" % (
        completed, FLOOD_CALLS, 100.0 * completed / FLOOD_CALLS, uac.count("FailedCall"),
        uac.count("Retransmissions")))
    print("e2e: flood counters during the flood: %s" % harness.brief(during))
    check(completed >= FLOOD_MIN_COMPLETED * FLOOD_CALLS,
          "only %d of %d calls completed under the flood (< %.0f%%)\n%s" % (
              completed, FLOOD_CALLS, 100 * FLOOD_MIN_COMPLETED, uac.diagnostics()))
    check(proxy.alive(), "sipline died under the flood:\n%s" % harness.tail(proxy.log_path))

    # The flood was the flood asked for, and sipline saw it: its junk is dropped as
    # unparseable or answered (400; 404 for what parses but has no route).
    sent = flood["sent_by_kind"]
    check(flood["sent"] >= 0.9 * FLOOD_RATE * (flood_seconds - 1) and
          all(sent[kind] > 0 for kind in sent),
          "the flooder sent too little or missed a kind: %s" % flood)
    check(total(during, "received") >= 0.95 * flood["sent"],
          "sipline received %d datagrams, fewer than 95%% of the flood alone (%d): %s" % (
              total(during, "received"), flood["sent"], harness.brief(during)))
    unparseable = sent["random"] + sent["empty"]
    check(total(during, "drop_parse") >= 0.9 * unparseable,
          "drop_parse=%d, expected at least 90%% of the %d random and empty datagrams: %s" % (
              total(during, "drop_parse"), unparseable, harness.brief(during)))
    # Local answers go to the source address at the port the junk's own Via names, so the
    # flooder's socket sees only some of them; sipline's local_4xx counts them all (measured
    # here: the flooder got 400s for ~5% of what it sent, local_4xx ~21%).
    answered_400 = flood["answers"].get("400", 0)
    check(answered_400 >= 0.01 * flood["sent"] and total(during, "local_4xx") >= 0.1 * flood["sent"],
          "expected 400 answers at the flooder for at least 1%% of its %d datagrams (got %d) and "
          "local_4xx for at least 10%% (got %d): %s" % (
              flood["sent"], answered_400, total(during, "local_4xx"), harness.brief(during)))
    drop_fields = sum(total(during, key) for key in during[0] if key.startswith("drop_"))
    check(total(during, "dropped") == drop_fields,
          "dropped=%d is not the sum of the drop_* counters (%d)" % (
              total(during, "dropped"), drop_fields))

    # Still serving: a few more calls, every one of them.
    run_call_load(ctx, proxy_port, uas_port, 10, 10, "u1")
    require_clean_stop(proxy)
    with open(proxy.log_path, errors="replace") as handle:
        log = handle.read()
    check("Sanitizer" not in log and "runtime error:" not in log,
          "sanitizer report in sipline's log:\n%s" % harness.tail(proxy.log_path, 40))


def test_restart_sqlite(ctx):
    """Bindings registered before a restart are used for calls after it (SQLite store); with
    the memory store the same sequence finds nobody (480), so the test can tell."""
    proxy_port, uas_port = harness.free_udp_ports(2)
    config = call_config(proxy_port, store="sqlite:location.db")
    first = ctx.sipline(config, name="sipline-before").start()
    register_user(proxy_port, "1002", uas_port)
    require_clean_stop(first)
    check(os.path.isfile(ctx.workdir.file("location.db")), "no SQLite file location.db written")
    second = ctx.sipline(config, name="sipline-after").start()
    run_call_load(ctx, proxy_port, uas_port, 5, 5, "u1")
    require_clean_stop(second)

    memory = call_config(proxy_port, store="memory")
    third = ctx.sipline(memory, name="sipline-memory-before").start()
    register_user(proxy_port, "1002", uas_port)
    require_clean_stop(third)
    fourth = ctx.sipline(memory, name="sipline-memory-after").start()
    with sipmsg.Agent(proxy_port, user="1001") as agent:
        answer = agent.request("INVITE", "sip:1002@" + proxy_address(proxy_port))
    require_status(answer, 480, "INVITE after a restart with the memory store")
    require_clean_stop(fourth)


def sync_counts(proxy):
    """The `location sync:` counter line (SIGUSR1) as {field: int}."""
    proxy.counters()
    lines = [line for line in proxy.log_lines() if line.startswith("location sync:")]
    check(lines, "%s printed no location sync line" % proxy.name)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1])}


def invite_through(port, user, expect, what, timeout=3.0):
    """An INVITE from 1001 for `user` through the proxy on `port` gets `expect`."""
    with sipmsg.Agent(port, user="1001") as agent:
        answer = agent.request("INVITE", "sip:%s@sipline.test" % user,
                               to="<sip:%s@sipline.test>" % user, timeout=timeout)
    require_status(answer, expect, what)


def eventually(port, user, expect, what, timeout=5.0):
    """invite_through until it gets `expect` (a change on its way between nodes)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            invite_through(port, user, expect, what, timeout=1.0)
            return
        except TestFailure:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_redis_shared_location(ctx):
    """Two sipline nodes share one Redis location store (DESIGN.md §6): a user registered
    through node A is reached through node B at once (A's change notice), a de-registration
    at A reaches B, a node started later loads every live binding, and after Redis restarts
    (empty) both nodes reconnect: B resynchronises, and A's next registration reaches B; an
    operator's `siplinectl unregister` at A reaches B too; two phones of one user registering
    at the same moment through A and B both stay bound on both nodes; a registration at A
    while Redis is down reaches B once Redis is back, without a new REGISTER (A's store
    retries the save)."""
    redis = harness.RedisServer(ctx.workdir).start()
    ctx.cleanups.append(redis.stop)
    port_a, port_b, contact_port, late_port, after_port, down_port = harness.free_udp_ports(6)
    socket_a = ctx.workdir.file("admin-a.sock")  # A's siplinectl, for step 5
    nodes = {}
    for name, port in (("a", port_a), ("b", port_b)):
        text = call_config(port, store=redis.url)
        if name == "a":
            text += '\n[admin]\nsocket = "%s"\n' % socket_a
        nodes[name] = ctx.sipline(text, name="sipline-" + name)
        nodes[name].start()
    node_a, node_b = nodes["a"], nodes["b"]
    wait_for_log(node_b, "subscribed to the other nodes' changes", 5)

    # 1. Registered at A, reached through B.
    register_user(port_a, "1003", contact_port)
    echo = EchoServer(contact_port)
    ctx.cleanups.append(echo.stop)
    eventually(port_b, "1003", 200, "INVITE for 1003 (registered at A) through B")
    check(len(echo.requests("INVITE")) >= 1, "the INVITE through B did not reach 1003's contact")
    counts = sync_counts(node_b)
    check(counts["connected"] == 1 and counts["notices"] >= 1 and counts["unreadable"] == 0,
          "B's sync counters: %s" % counts)
    check(sync_counts(node_a)["own"] >= 1, "A should skip its own notice: %s" % sync_counts(node_a))

    # 2. De-registered at A: B answers 480 (a configured user without a binding).
    with sipmsg.Agent(port_a, user="1003") as agent:
        first, final = agent.register(PASSWORD, contact="<%s>" % contact_uri("1003", contact_port),
                                      expires=0)
    require_status(final, 200, "REGISTER 1003 with Expires: 0 at A")
    eventually(port_b, "1003", 480, "INVITE for 1003 through B after the de-registration")

    # 3. A node started later loads what is stored.
    register_user(port_a, "1004", late_port)
    late_echo = EchoServer(late_port)
    ctx.cleanups.append(late_echo.stop)
    require_clean_stop(node_b)
    node_b = ctx.sipline(call_config(port_b, store=redis.url), name="sipline-b-again").start()
    check(any("restored 1 binding(s)" in line for line in node_b.log_lines()),
          "B should restore 1004's binding: %s" % harness.tail(node_b.log_path))
    invite_through(port_b, "1004", 200, "INVITE for 1004 through B restarted")

    # 4. Redis restarts empty: both reconnect; B resynchronises; A's next change reaches B.
    redis.stop()
    time.sleep(0.5)
    redis.start()
    wait_for_log(node_b, "location sync: subscribed again", 10)
    register_user(port_a, "1005", after_port)  # A's writer reconnects within a second
    after_echo = EchoServer(after_port)
    ctx.cleanups.append(after_echo.stop)
    eventually(port_b, "1005", 200, "INVITE for 1005 (registered at A after Redis restarted)")
    counts = sync_counts(node_b)
    check(counts["disconnects"] == 1 and counts["resyncs"] == 1 and counts["connected"] == 1,
          "B's sync counters after the Redis restart: %s" % counts)
    invite_through(port_b, "1004", 200, "INVITE for 1004 through B after the Redis restart")

    # 5. An operator removes 1005 at A (siplinectl unregister): B forgets it too.
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    result = subprocess.run([ctl, "--socket", socket_a, "unregister", "1005"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    check(result.returncode == 0 and b'removed 1 binding(s) of "1005"' in result.stdout,
          "siplinectl unregister 1005 at A: %d %r %r" % (
              result.returncode, result.stdout, result.stderr))
    eventually(port_b, "1005", 480, "INVITE for 1005 through B after unregister at A")

    def last_line(node, head):
        lines = [line for line in node.log_lines() if line.startswith(head)]
        return lines[-1] if lines else ""

    node_a.counters()  # SIGUSR1: the counter lines, in A's log
    check("store_errors=0" in last_line(node_a, "control:"),
          "A's save after the Redis restart should have been retried on a new connection: %s"
          % last_line(node_a, "control:"))

    # 6. Two phones of 1007 register at the same moment, one through A and one through B,
    #    neither node knowing the other's phone yet: each node writes its own binding (a
    #    change, not the AOR's list), so both nodes end with both phones.
    phone_ports = harness.free_udp_ports(2)
    both_ready = threading.Barrier(2, timeout=10)
    answers = {}

    def register_phone(proxy_port, phone_port):
        with sipmsg.Agent(proxy_port, port=phone_port, user="1007") as agent:
            uri = "sip:%s:%d" % agent.proxy
            headers = [("Contact", "<%s>" % contact_uri("1007", phone_port)), ("Expires", "300")]
            to = "<sip:1007@%s>" % sipmsg.PROXY_HOST
            first = agent.request("REGISTER", uri, headers, to=to)
            if first is None or first.status != 401:
                answers[phone_port] = first
                both_ready.abort()
                return
            credentials = agent.answer_challenge(first, "WWW-Authenticate", "1007", PASSWORD,
                                                 "REGISTER", uri, "SHA-256")
            both_ready.wait()
            answers[phone_port] = agent.request(
                "REGISTER", uri, headers + [("Authorization", credentials)], to=to)

    threads = [threading.Thread(target=register_phone, args=(proxy_port, phone_port))
               for proxy_port, phone_port in zip((port_a, port_b), phone_ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    for phone_port in phone_ports:
        require_status(answers.get(phone_port), 200, "REGISTER 1007 from port %d" % phone_port)
    wanted = sorted(contact_uri("1007", phone_port) for phone_port in phone_ports)

    def bound_through(port):
        with sipmsg.Agent(port, user="1007") as agent:
            first, final = agent.register(PASSWORD)  # no Contact: a query (RFC 3261 §10.2.3)
        require_status(final, 200, "REGISTER query for 1007")
        return sorted(uri for uri, _ in contacts_of(final))

    deadline = time.monotonic() + 5.0
    while True:
        seen = {name: bound_through(port) for name, port in (("A", port_a), ("B", port_b))}
        if all(contacts == wanted for contacts in seen.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(all(contacts == wanted for contacts in seen.values()),
          "both nodes should hold both phones of 1007 %s: %s" % (wanted, seen))

    # 7. Redis is down while 1006 registers at A: A answers 200 and its save is refused; once
    #    Redis is back, A's store writes the save again by itself and B learns 1006.
    redis.stop()
    register_user(port_a, "1006", down_port)
    down_echo = EchoServer(down_port)
    ctx.cleanups.append(down_echo.stop)
    wait_for_log(node_a, "location store: redis", 5)  # the refused save, logged
    redis.start()
    eventually(port_b, "1006", 200, "INVITE for 1006 through B (registered at A while Redis "
               "was down)", timeout=10.0)
    require_clean_stop(node_a)
    require_clean_stop(node_b)
    check("store_errors=1" in last_line(node_a, "control:"),
          "A's save while Redis was down should be its one store error: %s"
          % last_line(node_a, "control:"))
    check("unsaved=0 retried=1 " in last_line(node_a, "location store:"),
          "A's store should have written the refused save again: %s"
          % last_line(node_a, "location store:"))


def test_redis_resync(ctx):
    """Node B loses Redis (its ACL user is switched off and its connections killed) while Redis
    keeps its data: 1003 de-registers at A meanwhile, and 1004 registers at B (B's save is
    refused and kept). Once B is let back in, its resynchronisation reads the same dataset
    (run_id unchanged) and is complete: B forgets 1003 (480, `forgotten=1`), keeps its own
    1004 (saved since the read could have run), and its retry brings 1004 to A. A binding
    written into Redis by hand (no notice) reaches B after `siplinectl resync`."""
    redis = harness.RedisServer(ctx.workdir).start()
    ctx.cleanups.append(redis.stop)

    def redis_cli(*args):
        result = subprocess.run(["redis-cli", "-p", str(redis.port)] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        check(result.returncode == 0, "redis-cli %s: %r" % (" ".join(args), result.stderr))
        return result.stdout.decode().strip()

    check(redis_cli("ACL", "SETUSER", "nodeb", "on", ">secret-b", "~*", "&*", "+@all") == "OK",
          "could not create Redis user nodeb")
    port_a, port_b, gone_port, own_port, hand_port = harness.free_udp_ports(5)
    node_a = ctx.sipline(call_config(port_a, store=redis.url), name="sipline-a").start()
    url_b = "redis://nodeb:secret-b@127.0.0.1:%d" % redis.port
    socket_b = ctx.workdir.file("admin-b.sock")
    node_b = ctx.sipline(call_config(port_b, store=url_b) +
                         '\n[admin]\nsocket = "%s"\n' % socket_b, name="sipline-b").start()
    wait_for_log(node_b, "subscribed to the other nodes' changes", 5)

    register_user(port_a, "1003", gone_port)
    gone_echo = EchoServer(gone_port)
    ctx.cleanups.append(gone_echo.stop)
    eventually(port_b, "1003", 200, "INVITE for 1003 (registered at A) through B")

    # B is shut out: it cannot reconnect until its user is on again.
    redis_cli("ACL", "SETUSER", "nodeb", "off")
    redis_cli("CLIENT", "KILL", "USER", "nodeb")
    wait_for_log(node_b, "location sync: lost the change channel", 5)
    with sipmsg.Agent(port_a, user="1003") as agent:
        first, final = agent.register(PASSWORD, contact="<%s>" % contact_uri("1003", gone_port),
                                      expires=0)
    require_status(final, 200, "REGISTER 1003 with Expires: 0 at A while B is away")
    deadline = time.monotonic() + 5
    while redis_cli("EXISTS", "sipline:bindings:1003") != "0" and time.monotonic() < deadline:
        time.sleep(0.05)
    check(redis_cli("EXISTS", "sipline:bindings:1003") == "0",
          "A's removal of 1003 did not reach Redis")
    gone_echo.stop()
    register_user(port_b, "1004", own_port)  # B's save is refused: kept for a retry
    own_echo = EchoServer(own_port)
    ctx.cleanups.append(own_echo.stop)

    redis_cli("ACL", "SETUSER", "nodeb", "on")
    wait_for_log(node_b, "location sync: subscribed again", 10)
    eventually(port_b, "1003", 480, "INVITE for 1003 through B after its resynchronisation")
    invite_through(port_b, "1004", 200, "INVITE for 1004 (registered at B while away) through B")
    eventually(port_a, "1004", 200, "INVITE for 1004 through A (B's retried save)", timeout=10.0)
    counts = sync_counts(node_b)
    check(counts["resyncs"] == 1 and counts["forgotten"] == 1 and counts["connected"] == 1,
          "B's sync counters after the resynchronisation: %s" % counts)
    check(any("location sync: removed 1 address(es)-of-record the store no longer holds" in line
              for line in node_b.log_lines()),
          "B should log the AOR it forgot: %s" % harness.tail(node_b.log_path))
    check(any("(the same dataset: what it lacks was removed meanwhile)" in line
              for line in node_b.log_lines()),
          "B's resynchronisation should be complete: %s" % harness.tail(node_b.log_path))

    # A binding written into Redis without a notice (by hand) reaches B when the operator
    # asks for a resynchronisation (`siplinectl resync`).
    hand_echo = EchoServer(hand_port)
    ctx.cleanups.append(hand_echo.stop)
    expiry = int(time.time()) + 300
    contact, received = "sip:1005@127.0.0.1:%d" % hand_port, "127.0.0.1:%d" % hand_port
    value = "%d SLB1%d:%s,%d:%s,4:hand,0:,%d:%d,1:1,4:1000," % (
        expiry, len(contact), contact, len(received), received, len(str(expiry)), expiry)
    redis_cli("HSET", "sipline:bindings:1005", contact, value)
    invite_through(port_b, "1005", 480, "INVITE for 1005 through B before the resync")
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    result = subprocess.run([ctl, "--socket", socket_b, "resync"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=10)
    check(result.returncode == 0 and b"resynchronisation requested" in result.stdout,
          "siplinectl resync at B: %d %r %r" % (result.returncode, result.stdout, result.stderr))
    eventually(port_b, "1005", 200, "INVITE for 1005 through B after siplinectl resync")
    check(sync_counts(node_b)["resyncs"] == 2, "B's sync counters: %s" % sync_counts(node_b))
    require_clean_stop(node_a)
    require_clean_stop(node_b)


def test_redis_node_relay(ctx):
    """Two nodes share one Redis store, each in the other's trust domain. Phone 1003 registers
    through A "from behind a NAT": its Contact names 127.0.0.99:5060, where nothing listens,
    and its REGISTER came from another loopback port, standing for the NAT's mapping, open
    only toward A. An INVITE for
    1003 through B goes to A, its Request-URI aliased to that mapping (`node_relays_out=1`
    at B); A relays it there without the alias (`node_relays_in=1`): the phone sees it come
    from A's address, with the Request-URI it registered, and its 200 returns through A and
    B to the caller."""
    redis = harness.RedisServer(ctx.workdir).start()
    ctx.cleanups.append(redis.stop)
    port_a, port_b, phone_port = harness.free_udp_ports(3)
    trusted = '[domain]\ntrust_domain = ["127.0.0.1/32"]\n'
    socket_b = ctx.workdir.file("admin-b.sock")
    nodes = {}
    for name, port in (("a", port_a), ("b", port_b)):
        text = call_config(port, store=redis.url, record_route=True)
        check("[domain]\n" in text, "call_config has no [domain] section")
        text = text.replace("[domain]\n", trusted, 1)
        if name == "b":
            text += '\n[admin]\nsocket = "%s"\n' % socket_b
        nodes[name] = ctx.sipline(text, name="sipline-" + name).start()
    node_a, node_b = nodes["a"], nodes["b"]
    wait_for_log(node_b, "subscribed to the other nodes' changes", 5)
    private = "sip:1003@127.0.0.99:5060"  # loopback: a wrong send stays here
    with sipmsg.Agent(port_a, port=phone_port, user="1003") as agent:
        first, final = agent.register(PASSWORD, contact="<%s>" % private, expires=300)
    require_status(final, 200, "REGISTER 1003 from behind the NAT at A")
    phone = EchoServer(phone_port)
    ctx.cleanups.append(phone.stop)
    eventually(port_b, "1003", 200, "INVITE for 1003 (behind NAT, registered at A) through B")
    invites = phone.requests("INVITE")
    check(invites, "the phone got no INVITE")
    index = [i for i, m in enumerate(phone.echo.received)
             if m is not None and not m.is_response and m.method == "INVITE"][0]
    source = phone.echo.sources[index]
    check(source == ("127.0.0.1", port_a),
          "the INVITE should reach the phone from A (its NAT's only way in), came from %s:%d"
          % source)
    check(invites[0].start_line == "INVITE %s SIP/2.0" % private,
          "the phone should get the Request-URI it registered: %r" % invites[0].start_line)
    # B's view of the binding names the node it goes through (siplinectl registrations).
    ctl = os.path.join(os.path.dirname(ctx.binary), "siplinectl")
    listed = subprocess.run([ctl, "--socket", socket_b, "registrations", "1003"],
                            stdout=subprocess.PIPE, timeout=10).stdout.decode()
    check(("sip:1003@127.0.0.99:5060 " in listed and
           " received=127.0.0.1:%d " % phone_port in listed and
           " node=127.0.0.1:%d\n" % port_a in listed),
          "siplinectl registrations 1003 at B: %r" % listed)
    counters_b = require_clean_stop(node_b)
    counters_a = require_clean_stop(node_a)
    check(total(counters_b, "node_relays_out") >= 1 and total(counters_a, "node_relays_in") >= 1,
          "relay counters: B %s, A %s" % (harness.brief(counters_b), harness.brief(counters_a)))


def test_registrar_path(ctx):
    """sipline in front of another registrar (a PBX), record_route on: a phone behind a NAT
    (Contact sip:1003@127.0.0.99:5060, where nothing listens) registers through sipline; the REGISTER
    reaches the registrar (an echo UAS answering 200) with sipline's Path
    `<sip:PROXY;lr;alias=PHONE~PORT~1>` (RFC 3327) and its Contact as the phone wrote it. The
    registrar calls the phone along that Path (Route: the Path value, Request-URI the Contact):
    sipline pops its Route and sends the INVITE to where the REGISTER came from, the phone's
    NAT mapping, with the registrar's Request-URI (`path_relays=1`); the phone's 200 returns
    to the registrar."""
    proxy_port, phone_port = harness.free_udp_ports(2)
    host = harness.NET.client_host
    registrar = EchoServer()
    ctx.cleanups.append(registrar.stop)
    routes = [{"name": "pbx", "methods": ["REGISTER"], "action": "forward",
               "target": "sip:%s:%d" % (host, registrar.port)}]
    proxy = ctx.sipline(harness.sipline_config(proxy_port, routes, record_route=True,
                                               names=("sipline.test",))).start()
    private = "sip:1003@127.0.0.99:5060"  # loopback: a wrong send stays here
    pbx = "%s:%d" % (host, registrar.port)
    with sipmsg.Agent(proxy_port, port=phone_port, user="1003") as agent:
        answer = agent.request("REGISTER", "sip:" + pbx, to="<sip:1003@%s>" % pbx,
                               headers=[("Contact", "<%s>" % private), ("Expires", "300")])
    require_status(answer, 200, "REGISTER through sipline to the PBX")
    registers = registrar.requests("REGISTER")
    check(len(registers) == 1, "the PBX got %d REGISTERs" % len(registers))
    path = registers[0].get("Path")
    wanted = "<sip:%s:%d;lr;alias=%s~%d~1>" % (harness.NET.proxy_host, proxy_port, host,
                                                phone_port)
    check(path == wanted, "the REGISTER's Path: %r, expected %r" % (path, wanted))
    check(registers[0].get("Contact") == "<%s>" % private,
          "the Contact should reach the PBX as written: %r" % registers[0].get("Contact"))
    phone = EchoServer(phone_port)
    ctx.cleanups.append(phone.stop)
    call_id = sipmsg.new_token("pbx-") + "@" + host
    invite = sipmsg.build("INVITE %s SIP/2.0" % private, [
        ("Via", "SIP/2.0/UDP %s;branch=%s;rport" % (pbx, sipmsg.new_token("z9hG4bK"))),
        ("Route", path), ("Max-Forwards", "70"),
        ("From", "<sip:pbx@%s>;tag=p1" % pbx), ("To", "<%s>" % private),
        ("Call-ID", call_id), ("CSeq", "1 INVITE"), ("Content-Length", "0")])
    registrar.echo.sock.sendto(invite, (harness.NET.proxy_host, proxy_port))
    deadline = time.monotonic() + 5

    def answered():
        return [m for m in list(registrar.echo.received) if m is not None and m.is_response
                and m.get("Call-ID") == call_id]
    while (not phone.requests("INVITE") or not answered()) and time.monotonic() < deadline:
        time.sleep(0.05)
    invites = phone.requests("INVITE")
    check(len(invites) == 1, "the phone got %d INVITEs along the Path" % len(invites))
    index = [i for i, m in enumerate(phone.echo.received)
             if m is not None and not m.is_response and m.method == "INVITE"][0]
    check(phone.echo.sources[index] == (harness.NET.proxy_host, proxy_port),
          "the INVITE should come from sipline: %s:%d" % phone.echo.sources[index])
    check(invites[0].start_line == "INVITE %s SIP/2.0" % private and invites[0].get("Route") is None,
          "the phone should get the registrar's Request-URI and no Route: %r, Route %r"
          % (invites[0].start_line, invites[0].get("Route")))
    check(answered(), "the phone's answer did not reach the PBX")
    counters = require_clean_stop(proxy)
    check(total(counters, "path_relays") == 1, "path_relays: %s" % harness.brief(counters))


# --- 9. Linphone ----------------------------------------------------------------------------

LINPHONE_RC = """[sip]
sip_port={sip_port}
sip_tcp_port=0
sip_tls_port=0
bind_address=127.0.0.1
use_ipv6=0
default_proxy=0
supported=replaces, outbound
register_only_when_network_is_up=0
inc_timeout=30

[rtp]
audio_rtp_port={rtp_port}
audio_rtcp_mux=1

[sound]
echocancellation=0

[video]
display=0
capture=0
enabled=0

[net]
firewall_policy=0
mtu=1300

[proxy_0]
reg_proxy=<sip:127.0.0.1:{proxy_port};transport=udp>
reg_identity="1001" <sip:1001@127.0.0.1>
reg_expires=300
reg_sendregister=1
publish=0
dial_escape_plus=0

[auth_info_0]
username=1001
userid=1001
passwd={password}
realm={realm}
domain=127.0.0.1
"""


def test_linphone(ctx):
    """linphonec registers as 1001 (digest) and calls 1002, a SIPp UAS registered through the
    proxy; the call connects, then linphonec hangs up."""
    linphonec = shutil.which("linphonec")
    check(linphonec is not None, "linphonec not installed (apt-get install linphone-cli; "
          "deploy/install-deps.sh does it)")
    proxy_port, uas_port, sip_port, rtp_port = harness.free_udp_ports(4)
    # Record-Route keeps linphonec's ACK and BYE on the proxy: a SIPp UAS answers the BYE to
    # where the INVITE came from, so a BYE sent straight to it would be answered astray.
    proxy = ctx.sipline(call_config(proxy_port, auth_calls=True, record_route=True)).start()
    register_user(proxy_port, "1002", uas_port)
    uas = ctx.sipp("uas", "uas_call.xml", sipp_common("u1") + [
        "-p", str(uas_port), "-s", "1002", "-m", "1", "-trace_msg", "-message_file",
        ctx.workdir.file("uas_messages.log")], 90).start()

    home = ctx.workdir.file("linphone-home")
    os.makedirs(os.path.join(home, ".local", "share", "linphone"))
    rc_path = os.path.join(home, "linphonerc")
    with open(rc_path, "w") as handle:
        handle.write(LINPHONE_RC.format(sip_port=sip_port, rtp_port=rtp_port,
                                        proxy_port=proxy_port, password=PASSWORD,
                                        realm="sipline.test"))
    fifo = os.path.join(home, "stdin.fifo")
    os.mkfifo(fifo)
    out_path = ctx.workdir.file("linphonec.out")
    environment = dict(os.environ, HOME=home)
    # The FIFO is opened read-write so that opening it never blocks; linphonec quits at end
    # of input, so the test keeps a write end open until `quit`.
    with open(out_path, "w") as out, open(fifo, "r+b", buffering=0) as stdin:
        phone = harness.spawn(
            [linphonec, "-S", "-c", rc_path, "-l", os.path.join(home, "linphone.log")],
            stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=environment, cwd=home)
    ctx.cleanups.append(lambda: harness.kill_group(phone, 2.0))
    commands = open(fifo, "w", buffering=1)
    ctx.cleanups.append(commands.close)

    def output():
        with open(out_path, errors="replace") as handle:
            return handle.read()

    def wait_for(pattern, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, output()):
                return
            check(phone.poll() is None, "linphonec exited (%s) before %s:\n%s" % (
                phone.returncode, what, output()[-3000:]))
            time.sleep(0.1)
        raise TestFailure("linphonec: no %s within %d s:\n%s" % (what, timeout, output()[-3000:]))

    # linphonec prints nothing when it registers; `status register` says so on request.
    deadline = time.monotonic() + 20
    while not re.search(r"^registered, identity=", output(), re.M):
        check(time.monotonic() < deadline and phone.poll() is None,
              "linphonec did not register within 20 s (exit %s):\n%s" % (phone.poll(),
                                                                         output()[-3000:]))
        commands.write("status register\n")
        time.sleep(0.5)
    with sipmsg.Agent(proxy_port, user="1001") as query_agent:
        query = challenged_register(query_agent, "query REGISTER for 1001")
    uris = [uri for uri, _ in contacts_of(query)]
    check(any(re.match(r"sip:1001@127\.0\.0\.1:%d(;|$)" % sip_port, uri) for uri in uris),
          "the registrar has no binding of 1001 at linphonec's port %d: %s" % (sip_port, uris))
    commands.write("soundcard use files\n")
    commands.write("call sip:1002@127.0.0.1:%d\n" % proxy_port)
    wait_for(r"Call \d+ with .*1002.* connected", 20, "connected call")
    time.sleep(1.0)
    commands.write("terminate\n")
    wait_for(r"Call \d+ with .*1002.* ended", 10, "call end")
    uas.wait(15)
    uas.require_success(1)
    commands.write("quit\n")
    commands.close()
    try:
        phone.wait(15)
    except subprocess.TimeoutExpired:
        pass
    counters = require_clean_stop(proxy)
    check(total(counters, "local_4xx") == 1 and total(counters, "acks_absorbed") == 1,
          "the INVITE was not challenged once (407 + absorbed ACK): %s" % harness.brief(counters))
    # INVITE, ACK, BYE to the callee; 180, 200, 200 (BYE) back; nothing dropped.
    check(total(counters, "forwarded_requests") == 3 and
          total(counters, "forwarded_responses") == 3 and total(counters, "dropped") == 0,
          "the dialog did not stay on the proxy: %s" % harness.brief(counters))


# --- self-check of the harness itself (no sipline) ------------------------------------------

def test_harness(ctx):
    """The test tools themselves: digest against RFC 7616's example, the SIPp scenario pairs
    UAC <-> UAS directly (no proxy), so a sipline failure is never a broken scenario."""
    sipmsg.self_test_digest()
    for uac, uas, calls, transport in (("uac_call.xml", "uas_call.xml", 50, "un"),
                                       ("uac_cancel.xml", "uas_cancel.xml", 10, "u1")):
        uas_port, = harness.free_udp_ports(1)
        server = ctx.sipp("uas-" + uas, uas, sipp_common("u1") + [
            "-p", str(uas_port), "-s", "1002", "-m", str(calls)], 40).start()
        time.sleep(0.3)
        client = ctx.sipp("uac-" + uac, uac, sipp_common(transport) + [
            "127.0.0.1:%d" % uas_port, "-p", str(harness.free_udp_port(exclude=(uas_port,))),
            "-s", "1002", "-r", "50", "-m", str(calls)], 40).start()
        client.wait(45)
        server.wait(15)
        client.require_success(calls, allow_retransmissions=False)
        server.require_success(calls, allow_retransmissions=False)


TESTS = {
    "harness": test_harness,
    "register": test_register,
    "calls_un": test_calls_un,
    "calls_u1": test_calls_u1,
    "call_auth": test_call_auth,
    "redirect": test_redirect,
    "cancel": test_cancel,
    "methods": test_methods,
    "routing": test_routing,
    "pools": test_pools,
    "pools_under_load": test_pools_under_load,
    "pool_unanswering": test_pool_unanswering,
    "pool_failover": test_pool_failover,
    "pool_retransmit": test_pool_retransmit,
    "pool_timer_c": test_pool_timer_c,
    "pool_cancel": test_pool_cancel,
    "serial_fork": test_serial_fork,
    "parallel_fork": test_parallel_fork,
    "q_groups": test_q_groups,
    "accounting": test_accounting,
    "hep_capture": test_hep_capture,
    "route_token": test_route_token,
    "systemd_notify": test_systemd_notify,
    "call_limits": test_call_limits,
    "voicemail_fallback": test_voicemail_fallback,
    "nat_keepalive": test_nat_keepalive,
    "nat_keepalive_options": test_nat_keepalive_options,
    "route_sources": test_route_sources,
    "number_translation": test_number_translation,
    "trunk_registration": test_trunk_registration,
    "trunk_outbound_proxy": test_trunk_outbound_proxy,
    "nat_contact_alias": test_nat_contact_alias,  # DPDK mode only
    "carrier_challenge": test_carrier_challenge,
    "privacy": test_privacy,
    "keepalives": test_keepalives,
    "dns_refresh": test_dns_refresh,
    "reload": test_reload,
    "reload_under_load": test_reload_under_load,
    "admin": test_admin,
    "exception_path": test_exception_path,  # DPDK mode only (issue 4 §2)
    "announce": test_announce,  # DPDK mode only
    "errors": test_errors,
    "corpus": test_corpus,
    "restart_sqlite": test_restart_sqlite,
    "redis_shared_location": test_redis_shared_location,
    "redis_resync": test_redis_resync,
    "redis_node_relay": test_redis_node_relay,
    "registrar_path": test_registrar_path,
    "workers_u1": test_workers_u1,
    "linphone": test_linphone,
    "big_invite": test_big_invite,
    "sipvicious": scanners.test_sipvicious,  # issue #5 §3: per-source limits (scanners.py)
    "flood": test_flood,  # issue #5 §3: malformed datagrams mixed with calls (flooder.py)
    "ipv6_calls": test_ipv6_calls,
    "ipv6_gateway": test_ipv6_gateway,  # DPDK mode only
}
NEEDS_SIPLINE = set(TESTS) - {"harness"}
# Issue 4 §3: scenarios 1-6 and the fragmented INVITE through the DPDK dataplane. The others
# need loopback itself (corpus: a private namespace of its own; linphone: binds 127.0.0.1;
# workers_u1: two busy-polling workers do not fit a 2-core machine; restart_sqlite: nothing
# DPDK-specific).
DPDK_TESTS = ("register", "calls_un", "calls_u1", "call_auth", "redirect", "cancel", "methods",
              "routing", "pools", "pools_under_load", "pool_failover", "pool_retransmit",
              "pool_unanswering", "pool_timer_c", "pool_cancel", "serial_fork", "parallel_fork",
              "q_groups", "accounting", "hep_capture", "route_token", "systemd_notify", "call_limits", "voicemail_fallback", "nat_keepalive", "nat_keepalive_options",
              "route_sources", "number_translation", "trunk_registration",
              "trunk_outbound_proxy", "carrier_challenge", "privacy",
              "keepalives",
              "dns_refresh", "reload", "reload_under_load", "admin",
              "errors",
              "big_invite",
              "ipv6_calls", "ipv6_gateway", "exception_path", "nat_contact_alias",
              "announce", "registrar_path")


def run_one(options, name):
    ctx = Context(options, name)
    started = time.monotonic()
    passed = False
    try:
        if name in NEEDS_SIPLINE:
            check(os.path.isfile(ctx.binary) and os.access(ctx.binary, os.X_OK),
                  "sipline binary not found or not executable: %s (build the `sipline` "
                  "target first)" % ctx.binary)
        TESTS[name](ctx)
        passed = True
    except TestFailure as failure:
        print("e2e: FAIL %s: %s" % (name, failure))
    except Exception:
        print("e2e: ERROR %s:\n%s" % (name, traceback.format_exc()))
    finally:
        ctx.close()
        ctx.workdir.finish(passed)
    print("e2e: %s %s (%.2f s)" % ("PASS" if passed else "FAIL", name,
                                   time.monotonic() - started))
    sys.stdout.flush()
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sipline", default=os.environ.get("SIPLINE_BINARY", ""),
                        help="the sipline binary under test (or $SIPLINE_BINARY)")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--calls", type=int, default=2000, help="calls of the load tests")
    parser.add_argument("--rate", type=int, default=250, help="calls/s of the load tests")
    parser.add_argument("--min-rate", type=int, default=200,
                        help="calls/s SIPp must report for calls_un/calls_u1 (0: no check)")
    parser.add_argument("--keep", action="store_true", help="keep every test's files")
    parser.add_argument("--mode", choices=("socket", "dpdk"), default="socket",
                        help="dpdk: sipline with io = \"dpdk\" in network namespace "
                        "--dpdk-netns, this driver in the peer namespace (run_dpdk_e2e.sh)")
    parser.add_argument("--dpdk-netns", help="the namespace sipline runs in (--mode dpdk)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("tests", nargs="*")
    options = parser.parse_args()
    available = DPDK_TESTS if options.mode == "dpdk" else tuple(TESTS)
    if options.list:
        print("\n".join(available))
        return 0
    if options.mode == "dpdk":
        if not options.dpdk_netns:
            parser.error("--mode dpdk needs --dpdk-netns (run it through run_dpdk_e2e.sh)")
        options.tests = options.tests or list(DPDK_TESTS)
    harness.configure_network(options.mode, options.dpdk_netns)
    unknown = [t for t in options.tests if t not in available]
    if unknown or not options.tests:
        parser.error("name tests to run (%s); unknown in %s mode: %s" % (
            ", ".join(available), options.mode, unknown))
    if shutil.which("sipp") is None:
        print("e2e: FAIL: sipp not installed (apt-get install sip-tester)")
        return 1
    results = [run_one(options, name) for name in options.tests]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
