#!/usr/bin/env bash
# sipline's DPDK worker pipeline against DPDK's own forwarding limit, in one run:
#
#   1. build/bench_pipeline: SIP messages/s through N sipline workers on a net_ring port fed
#      from a call mix (bench/bench_pipeline.cpp);
#   2. dpdk-testpmd io forwarding with N forwarding cores on two net_null ports (no packet
#      data touched: the framework's ceiling);
#   3. the ratio of the two.
#
#   bench/run_pipeline_bench.sh                          # 1 worker, 5 s each
#   bench/run_pipeline_bench.sh --workers 2 --offload
#   bench/run_pipeline_bench.sh --scaling "1 2 4 8 14" --feeders 2 \
#       --eal "--in-memory"                              # many-core box with hugepages
#
# Options:
#   --workers N      sipline workers and testpmd forwarding cores (default 1)
#   --scaling "A B"  run steps 1-3 for each worker count in turn
#   --seconds S      measured seconds per run (default 5)
#   --offload        bench_pipeline emulates NIC checksum offload (see bench_pipeline.cpp)
#   --checksum-on-receive  the receiving worker verifies UDP checksums, not the Call-ID owner
#   --dispatch-only  only worker 0 runs, fed only Call-IDs it does not own: the cost of the
#                    one-trunk dispatch path per frame (bench_pipeline.cpp); no testpmd run
#   --feeders F      bench_pipeline feeder lcores (default 1; 2+ for many workers)
#   --dispatchers D  dataplane.dispatchers: the first D workers own no calls and only hand off
#                    (with --scaling, applied where the worker count is above D)
#   --spread         dataplane.spread: full RX bursts go, unread, to the workers in turn; each
#                    classifies and hands calls to their owners (with --scaling, from 2 workers)
#   --eal "ARGS"     EAL arguments replacing the memory defaults (--no-huge -m 1024+128/worker), e.g.
#                    "--in-memory" with hugepages, plus -d PLUGIN for a copied DPDK
#   --bench PATH     bench_pipeline binary (default build/bench_pipeline)
#   --testpmd PATH   dpdk-testpmd binary (default: from PATH; Debian's dpdk-dev)
# Lcores are numbered from 0: lcore 0 is the feeder (bench) or the main lcore (testpmd),
# then the workers; a box needs workers + feeders (+1 for testpmd) cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workers_list=1
seconds=5
offload=""
receive_check=""
dispatch_only=""
feeders=1
dispatchers=0
spread=""
memory=()  # default: --no-huge -m (1024 + 128 per worker), as bench_pipeline's own default
bench="$here/../build/bench_pipeline"
testpmd="$(command -v dpdk-testpmd || true)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers_list="$2"; shift 2 ;;
    --scaling) workers_list="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --offload) offload="--offload"; shift ;;
    --checksum-on-receive) receive_check="--checksum-on-receive"; shift ;;
    --dispatch-only) dispatch_only="--dispatch-only"; shift ;;
    --feeders) feeders="$2"; shift 2 ;;
    --dispatchers) dispatchers="$2"; shift 2 ;;
    --spread) spread="--spread"; shift ;;
    --eal) read -r -a memory <<< "$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --testpmd) testpmd="$2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$bench" ]] || { echo "no bench_pipeline at $bench (build the bench_pipeline target)" >&2; exit 1; }
[[ -n "$testpmd" && -x "$testpmd" ]] || { echo "dpdk-testpmd not found (apt-get install dpdk)" >&2; exit 1; }
base_eal=(--no-pci --no-shconf --no-telemetry --log-level=lib.eal:warning)

# shellcheck source=bench/testpmd_rate.sh
source "$here/testpmd_rate.sh"

for workers in $workers_list; do
  if [[ ${#memory[@]} -eq 0 ]]; then
    common=("${base_eal[@]}" --no-huge -m $((1024 + 128 * workers)))
  else
    common=("${base_eal[@]}" "${memory[@]}")
  fi
  checksums="in software"
  [[ -n "$offload" ]] && checksums="offloaded (emulated NIC)"
  [[ -n "$receive_check" ]] && checksums+=", verified on receive"
  owners_note=""
  dispatch_arg=()
  if [[ "$dispatchers" -gt 0 && "$workers" -gt "$dispatchers" ]]; then
    dispatch_arg=(--dispatchers "$dispatchers")
    owners_note=", $dispatchers of them dispatchers (own no calls)"
  fi
  spread_arg=()
  if [[ -n "$spread" && "$workers" -gt 1 ]]; then
    spread_arg=(--spread)
    owners_note+=", spreading full RX bursts"
  fi
  echo "=== $workers worker(s)$owners_note, $seconds s, checksums $checksums"
  lcores=$((workers + feeders - 1))
  if [[ -n "$dispatch_only" ]]; then
    lcores=$feeders
    [[ "$workers" -ge 2 ]] || { echo "--dispatch-only needs 2 or more workers" >&2; exit 2; }
  fi
  bench_out="$("$bench" --workers "$workers" --feeders "$feeders" --seconds "$seconds" $offload \
    "${dispatch_arg[@]}" "${spread_arg[@]}" \
    $receive_check $dispatch_only \
    -- "${common[@]}" -l "0-$lcores" 2>&1)" || { echo "$bench_out"; exit 1; }
  echo "$bench_out" | grep -E '^(bench_pipeline:|worker|total|dispatch|warning)'
  [[ -n "$dispatch_only" ]] && continue
  sipline_rate="$(echo "$bench_out" | sed -n 's/^RESULT .* msgs_per_s=\([0-9]*\).*/\1/p')"
  testpmd_pps="$(testpmd_packets_per_s "$testpmd" "$seconds" "$workers" "${common[@]}" -l "0-$workers")"
  echo "testpmd io forward, $workers core(s), net_null x2: $testpmd_pps packets/s"
  awk -v s="$sipline_rate" -v t="$testpmd_pps" -v w="$workers" 'BEGIN {
    printf "sipline: %.0f SIP msgs/s (%.0f per worker core); testpmd: %.0f packets/s; ratio %.4f (1/%.0f)\n",
           s, s / w, t, (t > 0 ? s / t : 0), (s > 0 ? t / s : 0) }'
done
