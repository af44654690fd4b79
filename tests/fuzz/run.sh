#!/usr/bin/env bash
# Fuzzes sipline for a while with libFuzzer:
#   parser    tests/fuzz/fuzz_parser.cpp: the SIP parser and the message writers;
#   pipeline  tests/fuzz/fuzz_pipeline.cpp: the whole packet path (Call-ID scan, worker
#             pipeline, control thread registrar) on a fixed config.
#   control   tests/fuzz/fuzz_control.cpp: the metrics endpoint's HTTP heads, Redis change
#             notices and binding lists, counter text into the Prometheus format.
#   frames    tests/fuzz/fuzz_frames.cpp: the DPDK packet layer on Ethernet frames (L2-L4,
#             ARP, ICMP/ND, reassembly, replies sent back), no mbuf lost.
#
#   tests/fuzz/run.sh [seconds] [parser|pipeline|control|frames|all]   (default: 60 s, all =
#   each in turn; control and frames get a third of `seconds`: control's inputs are small and
#   its code short, frames' code is a few thousand lines below the SIP layer)
#
# `seconds` is per target. Builds build-fuzz/ with clang + libFuzzer + ASan/UBSan when needed,
# seeds a temporary corpus with tests/corpus and tests/fuzz/regressions, and runs the target.
# fuzz_pipeline reads two selector octets (source address, output buffer size) before the
# datagram, so its seeds are the corpus files behind a few selector pairs; regressions named
# pipeline-* already carry them; fuzz_pipeline adds requests with valid credentials. Exits
# non-zero when a fuzzer finds a crash; the crashing input is left in tests/fuzz/crashes/
# (git-ignored). Replay one with (SIPLINE_FUZZ_VERBOSE=1: fuzz_pipeline prints each outcome):
#   build-fuzz/fuzz_parser <file>      build-fuzz/fuzz_pipeline <file>
# Environment: CC / CXX (default clang-14 / clang++-14), FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail

seconds="${1:-60}"
which="${2:-all}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ! [[ "$which" =~ ^(parser|pipeline|control|frames|all)$ ]]; then
  echo "usage: $0 [seconds] [parser|pipeline|control|frames|all]" >&2
  exit 2
fi
targets=(parser pipeline control frames)
[[ "$which" != all ]] && targets=("$which")

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$repo/build-fuzz}"
crashes="$repo/tests/fuzz/crashes"

if [[ ! -f "$build/build.ninja" ]]; then
  CC="${CC:-clang-14}" CXX="${CXX:-clang++-14}" \
    cmake -S "$repo" -B "$build" -G Ninja -DSIPLINE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
# The machine is shared: never more than two compile jobs.
cmake --build "$build" $(printf -- '--target fuzz_%s ' "${targets[@]}") -j2

work="$(mktemp -d "${TMPDIR:-/tmp}/sipline-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
seed_sources=("$repo/tests/corpus")
[[ -d "$repo/tests/fuzz/regressions" ]] && seed_sources+=("$repo/tests/fuzz/regressions")

# Every stored message is a seed; README/manifest are text the fuzzer may as well mutate.
seed_parser() {
  local seeds="$1" file
  find "${seed_sources[@]}" -type f | while read -r file; do
    cp "$file" "$seeds/$(echo "${file#"$repo"/}" | tr '/' '_')"
  done
}

# Selector pairs: IPv4 source into a 2,000-octet primary buffer (a DPDK mbuf), IPv6 source
# into a 600-octet one, our own address into none (all in the fallback).
seed_pipeline() {
  local seeds="$1" file name selector
  find "${seed_sources[@]}" -type f | while read -r file; do
    name="$(echo "${file#"$repo"/}" | tr '/' '_')"
    if [[ "$(basename "$file")" == pipeline-* ]]; then
      cp "$file" "$seeds/$name"
      continue
    fi
    for selector in '\x00\x02' '\x02\x01' '\x03\x00'; do
      { printf "$selector"; cat "$file"; } > "$seeds/${name}_${selector//\\x/}"
    done
  done
  # And requests with valid credentials for the target's fixed secret and clock, which the
  # fuzzer could not find by itself (fuzz_pipeline writes them; -runs=0: nothing else).
  mkdir -p "$work/empty"
  SIPLINE_FUZZ_WRITE_SEEDS="$seeds" "$build/fuzz_pipeline" -runs=0 "$work/empty" > /dev/null 2>&1
}

# HTTP heads, a change notice and a binding list (as sipline writes them), counter lines.
seed_control() {
  local seeds="$1"
  printf 'GET /metrics HTTP/1.1
Host: sipline
Accept: */*

' > "$seeds/http-get"
  printf 'HEAD /metrics?x=1 HTTP/1.0

' > "$seeds/http-head"
  printf 'POST / HTTP/1.1
Content-Length: 3

abc' > "$seeds/http-post"
  printf 'SLN216:1234567890123456,4:1001,1:0,1:1,22:sip:1001@10.0.0.9:5060,SLB137:sip:1001@127.0.0.1:5070;transport=udp,14:127.0.0.1:5070,8:reg-1001,0:,10:2000000000,1:7,4:1000,' > "$seeds/notice"
  printf '2000000000 SLB137:sip:1001@127.0.0.1:5070;transport=udp,14:127.0.0.1:5070,8:reg-1001,0:,10:2000000000,1:7,4:1000,' > "$seeds/stored-binding"
  printf 'SLB17:sip:a@b,0:,0:,0:,1:9,1:1,4:1000,' > "$seeds/bindings"
  printf 'SLB27:sip:a@b,0:,0:,0:,1:9,1:1,4:1000,0:,7:sip:c@d,15:10.0.0.7:40000,0:,0:,1:9,1:1,4:1000,15:192.0.2.77:5060,' > "$seeds/bindings-with-node"
  printf 'worker 0: received=1 forwarded=2
total: received=1
pool p member 0 sip:10.0.0.1:5060: up drain probes=3
location sync: connected=1
'     > "$seeds/counters"
}

# Valid Ethernet frames from the corpus (SIP over IPv4, fragmented, VLAN-tagged, IPv6) and
# ARP, ping and neighbour discovery (tests/fuzz/frame_seeds.py).
seed_frames() {
  python3 "$repo/tests/fuzz/frame_seeds.py" "$repo/tests/corpus" "$1" > /dev/null
}

mkdir -p "$crashes"
status=0
for target in "${targets[@]}"; do
  seeds="$work/$target"
  mkdir -p "$seeds"
  "seed_$target" "$seeds"
  time_limit=$seconds
  [[ "$target" == control || "$target" == frames ]] && time_limit=$(( (seconds + 2) / 3 ))
  echo "fuzz_$target: ${time_limit}s, seeds $(find "$seeds" -type f | wc -l), crashes -> $crashes/"
  # 65,535 octets of datagram (+ the pipeline target's two selector octets).
  "$build/fuzz_$target" -max_total_time="$time_limit" -max_len=65537 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$seeds" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "fuzz_$target FAILED (exit $status); inputs in $crashes/:" >&2
    ls -l "$crashes" >&2
    break
  fi
done
exit "$status"
