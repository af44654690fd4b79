#!/usr/bin/env bash
# Fuzzes the SIP parser and writers (tests/fuzz/fuzz_parser.cpp) for a while.
#
#   tests/fuzz/run.sh [seconds]        (default 60)
#
# Builds build-fuzz/ with clang + libFuzzer + ASan/UBSan when needed, seeds a temporary
# corpus with tests/corpus and tests/fuzz/regressions, and runs fuzz_parser. Exits non-zero
# when the fuzzer finds a crash; the crashing input is left in tests/fuzz/crashes/
# (git-ignored). Replay one with: build-fuzz/fuzz_parser <file>
# Environment: CC / CXX (default clang-14 / clang++-14), FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [seconds]" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$repo/build-fuzz}"
crashes="$repo/tests/fuzz/crashes"

if [[ ! -f "$build/build.ninja" ]]; then
  CC="${CC:-clang-14}" CXX="${CXX:-clang++-14}" \
    cmake -S "$repo" -B "$build" -G Ninja -DSIPLINE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
# The machine is shared: never more than two compile jobs.
cmake --build "$build" --target fuzz_parser -j2

seeds="$(mktemp -d "${TMPDIR:-/tmp}/sipline-fuzz-seeds.XXXXXX")"
trap 'rm -rf "$seeds"' EXIT
# Every stored message is a seed; README/manifest are text the fuzzer may as well mutate.
seed_sources=("$repo/tests/corpus")
[[ -d "$repo/tests/fuzz/regressions" ]] && seed_sources+=("$repo/tests/fuzz/regressions")
find "${seed_sources[@]}" -type f |
  while read -r file; do
    cp "$file" "$seeds/$(echo "${file#"$repo"/}" | tr '/' '_')"
  done

mkdir -p "$crashes"
echo "fuzz_parser: ${seconds}s, seeds $(find "$seeds" -type f | wc -l), crashes -> $crashes/"
status=0
"$build/fuzz_parser" -max_total_time="$seconds" -max_len=65535 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$crashes/" "$seeds" || status=$?
if [[ $status -ne 0 ]]; then
  echo "fuzz_parser FAILED (exit $status); inputs in $crashes/:" >&2
  ls -l "$crashes" >&2
fi
exit "$status"
