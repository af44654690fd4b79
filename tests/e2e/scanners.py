"""Issue #5 §3: SIPVicious (Debian `sipvicious`: svmap, svwar, svcrack) against sipline on
loopback, with the default [source_limits] (config/README.md).

What it shows. First, with the defaults, the SIPVicious tools find nothing at all: they name
themselves ("friendly-scanner") in User-Agent, and [source_limits] scanner_user_agents drops
them unanswered (drop_scanner), as Kamailio's default configuration does. Then, in one
sipline with the other defaults (no trusted source) and that list empty, as against a scanner
that hides its name:
  - svmap finds a SIP device and learns no product name (sipline sends no Server header);
  - svwar cannot tell users from non-users: with REGISTER it gives up ("found nothing":
    unknown users are challenged like real ones), with INVITE every extension of the
    authenticated route gets the same 407;
  - a scan at scanner speed is throttled (drop_rate_limited), silently;
  - svcrack against 1001, with the right password placed after failed_auth_limit wrong ones,
    gets failed_auth_limit answers and is then blocked (drop_blocked_source): it does not find
    the password, while user 1001 registers from another address before, during and after
    the attack.
A control run with both limits off first proves svcrack does find that password in that
dictionary (so the blocked run fails for the right reason).

SIPVicious 0.3.3 (Debian 12) ignores -b/--bindingip in svcrack, svwar and svmap (the option
is parsed but never passed to the scanner), so the tools always send from 127.0.0.1; the
legitimate user therefore registers from 127.0.0.2.
"""

import os
import re
import shutil
import socket
import subprocess
import time

import harness
import sipmsg
from harness import PASSWORD, TestFailure, check, total

ATTACKER = "127.0.0.1"  # where the SIPVicious tools send from (see above)
LEGIT_HOST = "127.0.0.2"
PROXY_GUESSER = "127.0.0.3"  # guesses passwords through proxy authentication (INVITE)
FAILED_AUTH_LIMIT = 10  # the documented default
TABLE_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|$")


def tool(name):
    """The SIPVicious command: `svcrack` (Debian) or `sipvicious_svcrack` (pip)."""
    for candidate in (name, "sipvicious_" + name):
        path = shutil.which(candidate)
        if path:
            return path
    raise TestFailure("%s not installed (apt-get install sipvicious)" % name)


def run_tool(ctx, name, args, time_limit):
    """Runs one SIPVicious tool to completion (bounded); returns its output."""
    out_path = ctx.workdir.file("%s-%d.out" % (name, len(ctx.cleanups)))
    with open(out_path, "w") as out:
        process = harness.spawn([tool(name)] + args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ctx.workdir.path)
        ctx.cleanups.append(lambda: harness.kill_group(process, 1.0))
        try:
            process.wait(time_limit)
        except subprocess.TimeoutExpired:
            harness.kill_group(process, 1.0)
            raise TestFailure("%s %s still running after %d s" % (name, args, time_limit))
    with open(out_path, errors="replace") as handle:
        return handle.read()


def run_svwar(ctx, args):
    """svwar first asks for a random 32-bit extension and gives up before scanning when that
    probe is challenged: about one probe in 40 starts with "10" and meets the authenticated
    route (--force does not help: svwar then stops at the first answer equal to the probe's).
    Such a run scanned nothing, so it is run again with a new probe, at most three times."""
    for _ in range(3):
        output = run_tool(ctx, "svwar", args, 60)
        if "authentication request for an unknown extension" not in output:
            return output
    raise TestFailure("svwar %s: three random probes in a row were challenged:\n%s"
                      % (args, output))


def table_rows(output):
    """The rows of a SIPVicious result table as {first column: second column}."""
    rows = {}
    for line in output.splitlines():
        match = TABLE_ROW.match(line.strip())
        if match and not set(match.group(1)) <= set("-=+"):
            rows[match.group(1)] = match.group(2)
    return rows


def guard_line(proxy):
    """The `guard:` counters of the last SIGUSR1/shutdown print, as {field: int}."""
    fields = {}
    for line in proxy.log_lines():
        if line.startswith("guard: "):
            fields = {k: int(v) for k, _, v in (p.partition("=") for p in line[7:].split())}
    return fields


def dictionary(ctx):
    """failed_auth_limit * 3 wrong passwords, then the right one."""
    path = ctx.workdir.file("passwords.txt")
    with open(path, "w") as handle:
        for n in range(FAILED_AUTH_LIMIT * 3):
            handle.write("guess-%02d\n" % n)
        handle.write(PASSWORD + "\n")
    return path


def config(port, source_limits, scanners_named=False):
    """`scanners_named`: keep the default scanner_user_agents (SIPVicious is then dropped);
    otherwise the list is empty, as against a scanner that hides its name."""
    if not scanners_named:
        source_limits = dict(source_limits, scanner_user_agents=[])
    routes = [{"name": "local-users", "user_prefix": "10", "action": "location", "auth": True},
              {"name": "not-found", "action": "reject", "code": 404}]
    # svcrack answers with MD5 only, and the first challenge it sees.
    return harness.sipline_config(port, routes, algorithms=("MD5",),
                                  source_limits=source_limits)


def legit_register(proxy_port, legit_port, what):
    """REGISTER 1001 from LEGIT_HOST:legit_port (one contact, refreshed: a phone's own
    port; max_contacts would refuse an eleventh new one): 401, then 200."""
    saved = sipmsg.LOCAL_HOST
    sipmsg.LOCAL_HOST = LEGIT_HOST
    try:
        with sipmsg.Agent(proxy_port, port=legit_port, user="1001") as agent:
            contact = "<sip:1001@%s:%d>" % (LEGIT_HOST, agent.port)
            first, final = agent.register(PASSWORD, contact=contact, expires=300, prefer="MD5")
    finally:
        sipmsg.LOCAL_HOST = saved
    check(first is not None and first.status == 401 and final is not None and
          final.status == 200, "legitimate REGISTER of 1001 from %s %s: got %s then %s" % (
              LEGIT_HOST, what, first and first.status, final and final.status))


def svcrack_args(ctx, port):
    return ["-p", str(port), "-u", "1001", "-d", dictionary(ctx), "--maximumtime", "3",
            ATTACKER]


def test_sipvicious(ctx):
    for name in ("svmap", "svwar", "svcrack"):
        tool(name)
    check(harness.NET.proxy_host == "127.0.0.1", "this test runs on loopback only")

    # The defaults: the tools say who they are and get no answer.
    port = harness.free_udp_port()
    proxy = ctx.sipline(config(port, {}, scanners_named=True), name="scanners-named").start()
    output = run_tool(ctx, "svmap", ["-p", str(port), ATTACKER], 30)
    device = "%s:%d" % (ATTACKER, port)
    check(device not in table_rows(output), "svmap should find nothing:\n%s" % output)
    output = run_tool(ctx, "svcrack", svcrack_args(ctx, port), 60)
    check(table_rows(output).get("1001") is None,
          "svcrack should get no answer at all:\n%s" % output)
    counters = proxy.counters()
    require_stop(proxy)
    dropped = total(counters, "drop_scanner")
    check(dropped >= 2 and total(counters, "local_4xx") == 0 and
          total(counters, "to_control") == 0,
          "every SIPVicious request should be dropped unanswered: %s" % harness.brief(counters))
    print("e2e: sipvicious: named scanners (the default list): svmap and svcrack find nothing, "
          "%d requests dropped unanswered" % dropped)

    # Control run: no limits, so svcrack must find the password in this dictionary.
    port = harness.free_udp_port()
    proxy = ctx.sipline(config(port, {"requests_per_second": 0, "failed_auth_limit": 0}),
                        name="unlimited").start()
    output = run_tool(ctx, "svcrack", svcrack_args(ctx, port), 60)
    check(table_rows(output).get("1001") == PASSWORD,
          "control run: svcrack without limits should find 1001's password:\n%s" % output)
    require_stop(proxy)
    print("e2e: sipvicious: without limits svcrack finds the password (dictionary entry %d)"
          % (FAILED_AUTH_LIMIT * 3 + 1))

    # The defaults.
    port = harness.free_udp_port()
    proxy = ctx.sipline(config(port, {}), name="defaults").start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LEGIT_HOST, 0))
        legit_port = sock.getsockname()[1]
    legit_register(port, legit_port, "before the attack")

    before = proxy.counters()
    output = run_tool(ctx, "svmap", ["-p", str(port), ATTACKER], 30)
    rows = table_rows(output)
    device = "%s:%d" % (ATTACKER, port)
    check(device in rows, "svmap did not list %s:\n%s" % (device, output))
    check(rows[device] == "unknown", "svmap learnt a product name: %r" % rows[device])
    after = proxy.counters()
    answered = total(after, "local_4xx") - total(before, "local_4xx")
    check(answered >= 1 and total(after, "local_2xx") == total(before, "local_2xx"),
          "svmap's OPTIONS should get a 4xx (407 or 404), nothing else: %s"
          % harness.brief(after))
    print("e2e: sipvicious: svmap sees %s, user agent %r, answered %d x 4xx" % (
        device, rows[device], answered))

    ranges = ["-e", "990-1030", "--maximumtime", "3", "-p", str(port), ATTACKER]
    output = run_tool(ctx, "svwar", ranges, 60)
    found = {k: v for k, v in table_rows(output).items() if k.isdigit()}
    check(not found and "found nothing" in output,
          "svwar (REGISTER) must find nothing, found %s:\n%s" % (found, output))
    before = proxy.counters()
    output = run_svwar(ctx, ["-m", "INVITE"] + ranges)
    answered = total(proxy.counters(), "local_4xx") - total(before, "local_4xx")
    check(answered >= 42, "svwar (INVITE) did not scan 990-1030: %d answers" % answered)
    found = {k: v for k, v in table_rows(output).items() if k.isdigit()}
    users = ["10%02d" % n for n in range(1, 10)]
    non_users = ["1000"] + [str(n) for n in range(1010, 1031)]
    statuses = {found.get(ext) for ext in users + non_users}
    # Either every 10xx is listed with one status (the random probe got 404) or none is (the
    # probe got the same 407 as every 10xx): in neither case are users told from non-users.
    check(len(statuses) == 1, "svwar (INVITE) tells users from non-users: %s" % found)
    print("e2e: sipvicious: svwar REGISTER found nothing; svwar INVITE: users 1001-1009 and "
          "non-users 1000, 1010-1030 all %r (%d extensions listed)" % (statuses.pop(),
                                                                      len(found)))

    # A scan at scanner speed: 1,000 extensions, throttled at the default rate.
    before = proxy.counters()
    run_svwar(ctx, ["-m", "OPTIONS", "-e", "1-1000", "--maximumtime", "3", "-p", str(port),
                    ATTACKER])
    after = proxy.counters()
    throttled = total(after, "drop_rate_limited") - total(before, "drop_rate_limited")
    check(throttled > 0, "a 1,000-extension svwar scan was not rate limited: %s"
          % harness.brief(after))
    print("e2e: sipvicious: svwar over 1-1000 at scanner speed: %d requests dropped "
          "(drop_rate_limited)" % throttled)
    time.sleep(4.5)  # the bucket refills (200 at 50/s): svcrack meets only the auth limit

    # svcrack, while user 1001 keeps registering from another address.
    before = proxy.counters()
    out_path = ctx.workdir.file("svcrack-defaults.out")
    with open(out_path, "w") as out:
        cracker = harness.spawn([tool("svcrack")] + svcrack_args(ctx, port),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ctx.workdir.path)
    ctx.cleanups.append(lambda: harness.kill_group(cracker, 1.0))
    during = 0
    deadline = time.monotonic() + 60
    while cracker.poll() is None:
        check(time.monotonic() < deadline, "svcrack still running after 60 s")
        legit_register(port, legit_port, "during the attack")
        during += 1
        time.sleep(0.3)
    check(during >= 1, "no legitimate REGISTER ran while svcrack did")
    with open(out_path, errors="replace") as handle:
        output = handle.read()
    check(PASSWORD not in output and "1001" not in table_rows(output),
          "svcrack found the password despite the limits:\n%s" % output)
    legit_register(port, legit_port, "after the attack")
    after = proxy.counters()
    guard = guard_line(proxy)
    blocked_drops = total(after, "drop_blocked_source") - total(before, "drop_blocked_source")
    check(guard.get("blocks", 0) >= 1 and blocked_drops > 0,
          "svcrack's source was not blocked: guard %s, %s" % (guard, harness.brief(after)))
    check(guard.get("auth_failures") == FAILED_AUTH_LIMIT,
          "expected exactly %d failed authentications before the block, guard %s" % (
              FAILED_AUTH_LIMIT, guard))
    guesses = sum(1 for line in proxy.log_lines() if "403 (wrong-password" in line
                  and "from %s:" % ATTACKER in line)
    check(guesses == FAILED_AUTH_LIMIT, "svcrack got %d answers to guesses, expected %d" % (
        guesses, FAILED_AUTH_LIMIT))
    # Still blocked: a request from the attacker's address gets nothing back.
    with sipmsg.Agent(port) as probe:
        reply = probe.request("OPTIONS", "sip:1001@%s:%d" % (ATTACKER, port), timeout=1.0)
    check(reply is None, "a blocked source got an answer: %s" % reply)
    blocked_lines = [line for line in proxy.log_lines() if "blocked for" in line]
    check(len(blocked_lines) == 1 and ATTACKER in blocked_lines[0],
          "expected one log line for the block: %s" % blocked_lines)
    print("e2e: sipvicious: svcrack got %d answers (403) before the block, then %d requests "
          "dropped; 1001 registered %d times from %s during the attack; guard: %s" % (
              guesses, blocked_drops, during, LEGIT_HOST, guard))

    proxy_auth_guessing(proxy, port)
    legit_register(port, legit_port, "after the INVITE guessing")
    require_stop(proxy)


def proxy_auth_guessing(proxy, port):
    """Password guessing through proxy authentication (407 on INVITE), from PROXY_GUESSER:
    every guess has its own Call-ID, so the guesses land on both workers, which report the
    failures to the control thread's one tracker. The limit-th 403 blocks the source."""
    saved = sipmsg.LOCAL_HOST
    sipmsg.LOCAL_HOST = PROXY_GUESSER
    uri = "sip:1002@%s:%d" % (harness.NET.proxy_host, port)
    answers = []
    try:
        with sipmsg.Agent(port, user="1001") as agent:
            for n in range(FAILED_AUTH_LIMIT):
                agent.call_id = sipmsg.new_token("guess-") + "@" + PROXY_GUESSER
                challenge = agent.request("INVITE", uri)
                check(challenge is not None and challenge.status == 407,
                      "INVITE %d without credentials: expected 407, got %s" % (n, challenge))
                credentials = agent.answer_challenge(challenge, "Proxy-Authenticate", "1001",
                                                     "guess-%02d" % n, "INVITE", uri, "MD5")
                answer = agent.request("INVITE", uri, [("Proxy-Authorization", credentials)])
                answers.append(answer.status if answer is not None else None)
            time.sleep(0.3)  # the control thread takes the reports and publishes the block
            agent.call_id = sipmsg.new_token("guess-") + "@" + PROXY_GUESSER
            after_block = agent.request("INVITE", uri, timeout=1.0)
    finally:
        sipmsg.LOCAL_HOST = saved
    check(answers == [403] * FAILED_AUTH_LIMIT, "wrong proxy credentials: expected %d x 403, "
          "got %s" % (FAILED_AUTH_LIMIT, answers))
    check(after_block is None, "a source blocked after %d proxy-auth failures got %s" % (
        FAILED_AUTH_LIMIT, after_block))
    counters = proxy.counters()
    guard = guard_line(proxy)
    check(guard.get("auth_failures_reported") == FAILED_AUTH_LIMIT and
          guard.get("blocks") == 2,
          "expected %d proxy-auth failures reported by the workers and a second block: %s" % (
              FAILED_AUTH_LIMIT, guard))
    print("e2e: sipvicious: %d wrong INVITE credentials from %s (Call-IDs over %d workers) "
          "-> blocked; guard: %s" % (FAILED_AUTH_LIMIT, PROXY_GUESSER, len(counters), guard))


def require_stop(proxy):
    code = proxy.stop()
    check(code == 0, "%s exited with %s:\n%s" % (proxy.name, code, harness.tail(proxy.log_path)))
