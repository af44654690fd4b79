#!/usr/bin/env bash
# Fuzzes sipline for a while with libFuzzer:
#   parser    tests/fuzz/fuzz_parser.cpp: the SIP parser and the message writers;
#   pipeline  tests/fuzz/fuzz_pipeline.cpp: the whole packet path (Call-ID scan, worker
#             pipeline, control thread registrar) on a fixed config.
#
#   tests/fuzz/run.sh [seconds] [parser|pipeline|all]    (default: 60 s, all = each in turn)
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
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ! [[ "$which" =~ ^(parser|pipeline|all)$ ]]; then
  echo "usage: $0 [seconds] [parser|pipeline|all]" >&2
  exit 2
fi
targets=(parser pipeline)
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

mkdir -p "$crashes"
status=0
for target in "${targets[@]}"; do
  seeds="$work/$target"
  mkdir -p "$seeds"
  "seed_$target" "$seeds"
  echo "fuzz_$target: ${seconds}s, seeds $(find "$seeds" -type f | wc -l), crashes -> $crashes/"
  # 65,535 octets of datagram (+ the pipeline target's two selector octets).
  "$build/fuzz_$target" -max_total_time="$seconds" -max_len=65537 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$seeds" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "fuzz_$target FAILED (exit $status); inputs in $crashes/:" >&2
    ls -l "$crashes" >&2
    break
  fi
done
exit "$status"
