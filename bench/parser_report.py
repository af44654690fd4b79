#!/usr/bin/env python3
"""Pairs bench_parser results into a per-message ratio table.

    build/bench_parser --benchmark_format=json > parser.json
    bench/parser_report.py parser.json            (or: ... | bench/parser_report.py -)

Benchmark names are "<kind>/<library>/<message>" (e.g. BM_parse/sofia/longreq.dat); for
each kind and message this prints the time per message of every library and how many times
slower than sipline each peer is (peer ns / sipline ns: above 1 means sipline is faster).
Uses cpu_time; with --benchmark_repetitions the median aggregate is used when present.
Standard library only.
"""

import argparse
import json
import sys

LIBRARIES = ("sipline", "sofia", "osip")
PEERS = ("sofia", "osip")
TO_NANOSECONDS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load_times(report):
    """{(kind, message): {library: ns}} from a Google Benchmark JSON report."""
    plain, medians = {}, {}
    for entry in report.get("benchmarks", []):
        if entry.get("error_occurred"):
            continue
        name = entry.get("run_name", entry["name"])
        parts = name.split("/", 2)
        if len(parts) != 3 or parts[1] not in LIBRARIES:
            continue
        kind, library, message = parts
        nanoseconds = entry["cpu_time"] * TO_NANOSECONDS[entry.get("time_unit", "ns")]
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians.setdefault((kind, message), {})[library] = nanoseconds
        else:
            # Repetitions without aggregates: keep the fastest, the least disturbed run.
            row = plain.setdefault((kind, message), {})
            row[library] = min(nanoseconds, row.get(library, nanoseconds))
    for key, row in medians.items():
        plain.setdefault(key, {}).update(row)
    return plain


def format_ns(value):
    return "-" if value is None else f"{value:,.0f}"


def format_ratio(peer, sipline):
    if peer is None or sipline is None or sipline == 0:
        return "-"
    return f"{peer / sipline:.1f}x"


def print_table(times, out):
    header = ("benchmark", "message", "sipline ns", "sofia ns", "osip ns",
              "sofia/sipline", "osip/sipline")
    rows = []
    for (kind, message), row in times.items():  # in the order the benchmarks ran
        sipline = row.get("sipline")
        rows.append((kind, message, format_ns(sipline), format_ns(row.get("sofia")),
                     format_ns(row.get("osip")), format_ratio(row.get("sofia"), sipline),
                     format_ratio(row.get("osip"), sipline)))
    widths = [max(len(str(line[i])) for line in [header] + rows) for i in range(len(header))]
    for index, line in enumerate([header] + rows):
        cells = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        cells += [str(cell).rjust(width) for cell, width in zip(line[2:], widths[2:])]
        print("  ".join(cells), file=out)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="bench_parser --benchmark_format=json output, or -")
    arguments = parser.parse_args()
    if arguments.report == "-":
        report = json.load(sys.stdin)
    else:
        with open(arguments.report, encoding="utf-8") as handle:
            report = json.load(handle)
    times = load_times(report)
    if not times:
        print("no BM_*/<library>/<message> results in the report", file=sys.stderr)
        return 1
    print_table(times, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
