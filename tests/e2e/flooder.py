#!/usr/bin/env python3
"""A bounded flood of malformed SIP datagrams at one UDP target (issue 5 §3, e2e_flood).

    flooder.py --target 127.0.0.1:5060 --bind 127.0.0.2 --rate 5000 --count 60000 \
               --seconds 20 --corpus tests/corpus --seed 1 --json

Kinds of datagram (weights below), drawn from a pool built once from a seeded random source,
so a run is repeatable:
  random      1..1,400 random octets
  truncated   a valid message (tests/corpus or built here) cut at a random octet
  mutated     a corpus message with 1..8 random octets replaced, inserted or deleted
  huge_header a valid INVITE with one header line of 8..60 KB
  oversized   a datagram of 60,000..65,507 octets (the largest a UDP/IPv4 datagram can carry)
  empty       no octet at all
Sending stops at --count datagrams or --seconds, whichever comes first; the flooder paces
itself in 10 ms ticks. It reads what comes back on its socket (sipline answers what it can
answer: 400, 404, ...) and counts it by status code. Only loopback targets are accepted.
With --json it prints one JSON object: sent per kind, bytes, send errors, answers by code.
"""

import argparse
import errno
import ipaddress
import json
import os
import random
import socket
import sys
import time

WEIGHTS = (
    ("random", 25),
    ("truncated", 25),
    ("mutated", 35),
    ("huge_header", 4),
    ("oversized", 1),
    ("empty", 10),
)
MAX_UDP_PAYLOAD = 65507
POOL_SIZE = 4000


def valid_messages(corpus, domain):
    """Whole messages to truncate and mutate: the corpus files plus a few built here."""
    messages = []
    if corpus and os.path.isdir(corpus):
        for folder, _, files in os.walk(corpus):
            for name in sorted(files):
                if name.endswith((".md", ".tsv")):
                    continue
                with open(os.path.join(folder, name), "rb") as handle:
                    data = handle.read()
                if 0 < len(data) <= MAX_UDP_PAYLOAD:
                    messages.append(data)
    for method in ("INVITE", "OPTIONS", "REGISTER", "BYE", "ACK", "CANCEL", "MESSAGE"):
        messages.append(build_request(method, "x", domain))
    messages.append(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKflood\r\n"
                    b"From: <sip:a@flood.invalid>;tag=1\r\nTo: <sip:b@flood.invalid>;tag=2\r\n"
                    b"Call-ID: flood-response\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    return messages


def build_request(method, marker, domain, extra=b""):
    """A valid request to user 9999 at `domain` (the target: no route there, so a 404)."""
    return (b"%s sip:9999@%s SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.2:5999;rport;branch=z9hG4bK-flood-%s\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:flood@flood.invalid>;tag=f\r\n"
            b"To: <sip:9999@flood.invalid>\r\nCall-ID: flood-%s\r\nCSeq: 1 %s\r\n"
            b"%sContent-Length: 0\r\n\r\n" % (method.encode(), domain.encode(), marker.encode(),
                                              marker.encode(), method.encode(), extra))


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        action = rng.randrange(3)
        position = rng.randrange(len(data) + 1)
        if action == 0 and position < len(data):
            data[position] = rng.randrange(256)
        elif action == 1:
            data[position:position] = bytes([rng.randrange(256)])
        elif position < len(data):
            del data[position]
    return bytes(data[:MAX_UDP_PAYLOAD])


def make_datagram(rng, kind, messages, serial, domain):
    if kind == "random":
        return rng.randbytes(rng.randint(1, 1400))
    if kind == "truncated":
        message = rng.choice(messages)
        return message[:rng.randrange(len(message))] if len(message) > 1 else b"I"
    if kind == "mutated":
        return mutate(rng, rng.choice(messages))
    if kind == "huge_header":
        value = b"x" * rng.randint(8 * 1024, 60 * 1024)
        return build_request("INVITE", "huge-%d" % serial, domain, b"X-Flood: " + value + b"\r\n")
    if kind == "oversized":
        size = rng.randint(60000, MAX_UDP_PAYLOAD)
        head = rng.choice(messages)[:size]
        return head + rng.randbytes(size - len(head))
    return b""


def build_pool(rng, messages, domain):
    kinds = [kind for kind, _ in WEIGHTS]
    weights = [weight for _, weight in WEIGHTS]
    pool = []
    for serial in range(POOL_SIZE):
        kind = rng.choices(kinds, weights)[0]
        pool.append((kind, make_datagram(rng, kind, messages, serial, domain)))
    return pool


def drain(sock, answers):
    while True:
        try:
            data = sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # ICMP errors of earlier sends surface here on Linux
            answers["socket_errors"] = answers.get("socket_errors", 0) + 1
            continue
        code = "other"
        if data.startswith(b"SIP/2.0 ") and len(data) >= 11 and data[8:11].isdigit():
            code = data[8:11].decode()
        answers[code] = answers.get(code, 0) + 1


def loopback_only(host):
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit("flooder: %s is not a loopback address; refusing" % host)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="HOST:PORT (loopback only)")
    parser.add_argument("--bind", default="127.0.0.2", help="source address (loopback only)")
    parser.add_argument("--rate", type=int, default=5000, help="datagrams per second")
    parser.add_argument("--count", type=int, default=50000, help="at most this many datagrams")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long")
    parser.add_argument("--corpus", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "corpus"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    host, _, port = options.target.rpartition(":")
    loopback_only(host)
    loopback_only(options.bind)
    if not (0 < options.rate <= 200000 and 0 < options.count <= 2000000 and
            0 < options.seconds <= 600):
        raise SystemExit("flooder: rate, count or seconds out of bounds")

    rng = random.Random(options.seed)
    pool = build_pool(rng, valid_messages(options.corpus, host), host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((options.bind, 0))
    sock.setblocking(False)
    destination = (host, int(port))

    sent = {kind: 0 for kind, _ in WEIGHTS}
    sent_bytes = 0
    send_errors = {}
    answers = {}
    tick = 0.01
    started = time.monotonic()
    deadline = started + options.seconds
    total = 0
    index = 0
    attempts = 0
    while total < options.count and time.monotonic() < deadline:
        # Catch up to the rate whatever the scheduler did: due = elapsed x rate.
        due = min(options.count, int((time.monotonic() - started + tick) * options.rate))
        while attempts < due:
            kind, data = pool[index % len(pool)]
            index += 1
            attempts += 1
            try:
                sock.sendto(data, destination)
            except OSError as error:
                name = errno.errorcode.get(error.errno, str(error.errno))
                send_errors[name] = send_errors.get(name, 0) + 1
                continue
            sent[kind] += 1
            sent_bytes += len(data)
            total += 1
        drain(sock, answers)
        next_tick = started + tick * (int((time.monotonic() - started) / tick) + 1)
        time.sleep(max(0.0, next_tick - time.monotonic()))
    elapsed = time.monotonic() - started
    time.sleep(0.3)  # the last answers
    drain(sock, answers)
    sock.close()
    report = {"sent": total, "sent_by_kind": sent, "bytes": sent_bytes,
              "seconds": round(elapsed, 2), "rate": round(total / elapsed, 1) if elapsed else 0,
              "send_errors": send_errors, "answers": answers}
    if options.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print("flooder: %d datagrams in %.1f s (%s), answers %s, send errors %s" % (
            total, elapsed, sent, answers, send_errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
