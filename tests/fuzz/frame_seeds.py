#!/usr/bin/env python3
"""Seeds for fuzz_frames (tests/fuzz/fuzz_frames.cpp): valid Ethernet frames as the target
reads them (each a 2-octet big-endian length, then the frame), addressed as the target's
interface is configured (10.99.0.1/24 and 2001:db8::1/64, MAC 02:00:00:00:00:01; the peer
10.99.0.2 / 2001:db8::2).

  frame_seeds.py CORPUS_DIR SEEDS_DIR

Per corpus message: SIP over UDP/IPv4 (in IPv4 fragments when it does not fit one frame), the
same with an 802.1Q tag, and over UDP/IPv6 when it fits one frame. Then ARP, ping, ping6, a
neighbour solicitation and an advertisement, and a datagram whose fragments arrive in reverse
order. Checksums are right, so the fuzzer starts past them."""

import os
import struct
import sys

OUR_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("020000000002")
OUR4 = bytes([10, 99, 0, 1])
PEER4 = bytes([10, 99, 0, 2])
OUR6 = bytes.fromhex("20010db8000000000000000000000001")
PEER6 = bytes.fromhex("20010db8000000000000000000000002")
SIP_PORT = 5060
PEER_PORT = 5062


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(payload, ethertype, vlan=None, destination=OUR_MAC):
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return destination + PEER_MAC + tag + struct.pack("!H", ethertype) + payload


def ipv4(protocol, payload, ident=0x1234, fragment=0, source=PEER4, destination=OUR4):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, fragment, 64,
                         protocol, 0, source, destination)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6(next_header, payload, source=PEER6, destination=OUR6, hop_limit=64):
    return struct.pack("!IHBB", 6 << 28, len(payload), next_header, hop_limit) + source + \
        destination + payload


def udp(payload, ipv6_addresses=None):
    segment = struct.pack("!HHHH", PEER_PORT, SIP_PORT, 8 + len(payload), 0) + payload
    if ipv6_addresses is None:
        pseudo = PEER4 + OUR4 + struct.pack("!BBH", 0, 17, len(segment))
    else:
        pseudo = ipv6_addresses[0] + ipv6_addresses[1] + struct.pack("!I3xB", len(segment), 17)
    value = checksum(pseudo + segment) or 0xFFFF
    return segment[:6] + struct.pack("!H", value) + segment[8:]


def icmp6(message, source=PEER6, destination=OUR6):
    pseudo = source + destination + struct.pack("!I3xB", len(message), 58)
    return message[:2] + struct.pack("!H", checksum(pseudo + message)) + message[4:]


def fragments4(segment, ident, piece=1480):
    frames = []
    for offset in range(0, len(segment), piece):
        chunk = segment[offset:offset + piece]
        more = 0x2000 if offset + piece < len(segment) else 0
        frames.append(ethernet(ipv4(17, chunk, ident, more | offset // 8), 0x0800))
    return frames


def pack(frames):
    return b"".join(struct.pack("!H", len(frame)) + frame for frame in frames)


def control_seeds():
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + PEER_MAC + PEER4 + bytes(6) + OUR4
    ping = b"\x08\x00\x00\x00\x42\x42\x00\x01" + b"ping"
    ping = ping[:2] + struct.pack("!H", checksum(ping)) + ping[4:]
    ping6 = icmp6(b"\x80\x00\x00\x00\x42\x42\x00\x01ping6")
    group = bytes.fromhex("ff0200000000000000000001ff000001")
    solicit = icmp6(b"\x87\x00\x00\x00\x00\x00\x00\x00" + OUR6 + b"\x01\x01" + PEER_MAC,
                    destination=group)
    advert = icmp6(b"\x88\x00\x00\x00\x60\x00\x00\x00" + PEER6 + b"\x02\x01" + PEER_MAC)
    return {
        "arp-request": [ethernet(arp, 0x0806, destination=b"\xff" * 6)],
        "ping": [ethernet(ipv4(1, ping), 0x0800)],
        "ping6": [ethernet(ipv6(58, ping6), 0x86DD)],
        "neighbour-solicitation": [ethernet(ipv6(58, solicit, destination=group, hop_limit=255),
                                            0x86DD, destination=bytes.fromhex("3333ff000001"))],
        "neighbour-advertisement": [ethernet(ipv6(58, advert, hop_limit=255), 0x86DD)],
    }


def main():
    corpus, seeds = sys.argv[1], sys.argv[2]
    os.makedirs(seeds, exist_ok=True)
    written = 0
    for name, frames in control_seeds().items():
        with open(os.path.join(seeds, "frames-" + name), "wb") as out:
            out.write(pack(frames))
        written += 1
    ident = 0x100
    for root, _, files in os.walk(corpus):
        for file in sorted(files):
            if not file.endswith((".sip", ".dat")):
                continue
            with open(os.path.join(root, file), "rb") as handle:
                message = handle.read()
            stem = "frames-" + os.path.relpath(os.path.join(root, file), corpus).replace("/", "_")
            segment = udp(message)
            ident += 1
            variants = {}
            if len(segment) <= 1480:
                variants["v4"] = [ethernet(ipv4(17, segment, ident), 0x0800)]
                variants["vlan"] = [ethernet(ipv4(17, segment, ident), 0x0800, vlan=7)]
            else:
                variants["v4-fragments"] = fragments4(segment, ident)
                variants["v4-fragments-reversed"] = list(reversed(fragments4(segment, ident)))
            segment6 = udp(message, (PEER6, OUR6))
            if len(segment6) <= 1460:
                variants["v6"] = [ethernet(ipv6(17, segment6), 0x86DD)]
            for variant, frames in variants.items():
                with open(os.path.join(seeds, "%s-%s" % (stem, variant)), "wb") as out:
                    out.write(pack(frames))
                written += 1
    print("frame_seeds: %d seeds in %s" % (written, seeds))


if __name__ == "__main__":
    main()
