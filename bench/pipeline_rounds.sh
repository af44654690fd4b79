#!/usr/bin/env bash
# bench_pipeline's scaling on a many-core box that other jobs share, in alternating rounds.
#
# On a shared box one worker's rate moves by 2x from one minute to the next, so a ratio to
# "linear" means something only when its two sides are measured close together. Each round
# runs one worker, then N workers in each mode, back to back; the summary gives every
# round's ratio (N workers / N x that round's one worker) and the medians. dpdk-testpmd io
# forwarding on two net_null ports, pinned the same way, gives the box's own ratio for work
# that shares nothing.
#
# Pinning: one worker per physical core (the first thread of cores 0, 1, ...; their SMT
# siblings stay idle), and the feeders (bench_pipeline's main lcore and one extra feeder) on
# the last core's threads (or the last two cores without SMT). lscpu gives the topology.
#
#   bench/pipeline_rounds.sh                          # N = cores - 1 (or - 2), 3 rounds
#   bench/pipeline_rounds.sh --rounds 7 --modes "spread dispatcher"
#   bench/pipeline_rounds.sh --curve "2 4 8"          # several N, each mode, per round
#   # a box with hugepages (as root: echo 2048 > /sys/kernel/mm/hugepages/hugepages-2048kB/
#   # nr_hugepages) and DPDK copied as files (../shared/TESTING.md):
#   bench/pipeline_rounds.sh --eal "--in-memory" --plugins /path/to/copied/dpdk
#
# Options:
#   --workers N      workers of the many-worker runs (default: all but the feeders' cores)
#   --curve "A B"    instead: these worker counts, each mode, in every round
#   --rounds R       rounds (default 3)
#   --seconds S      measured seconds per run (default 3)
#   --modes "M ..."  of: spread (dataplane.spread), dispatcher (dataplane.dispatchers = 1),
#                    plain (every worker owns calls; the receiving one classifies all);
#                    default "spread dispatcher plain"
#   --eal "ARGS"     EAL memory arguments (default --no-huge -m 1024+128 per worker)
#   --plugins DIR    a copied DPDK: LD_LIBRARY_PATH=DIR and -d DIR/<plugin> for the vdev
#                    bus, the ring mempool and net_null
#   --bench PATH     bench_pipeline (default build/bench_pipeline)
#   --testpmd PATH   dpdk-testpmd (default: from PATH)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$here/../build/bench_pipeline"
testpmd="$(command -v dpdk-testpmd || true)"
workers=""
curve=""
rounds=3
seconds=3
modes="spread dispatcher plain"
memory=()
plugins=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --curve) curve="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --eal) read -r -a memory <<< "$2"; shift 2 ;;
    --plugins)
      export LD_LIBRARY_PATH="$2"
      plugins=(-d "$2/librte_bus_vdev.so.23" -d "$2/librte_mempool_ring.so.23"
               -d "$2/librte_net_null.so.23")
      shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --testpmd) testpmd="$2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$bench" ]] || { echo "no bench_pipeline at $bench" >&2; exit 1; }
[[ -n "$testpmd" && -x "$testpmd" ]] || { echo "dpdk-testpmd not found (apt-get install dpdk)" >&2; exit 1; }

# CPU,CORE pairs; the first thread of each core, in core order; the feeders' CPUs.
topology="$(lscpu -p=CPU,CORE | grep -v '^#')"
mapfile -t first < <(sort -t, -k2,2n -k1,1n <<< "$topology" | awk -F, '!seen[$2]++ {print $1}')
last_core="$(awk -F, '{print $2}' <<< "$topology" | sort -n | tail -1)"
mapfile -t feeders < <(awk -F, -v c="$last_core" '$2 == c {print $1}' <<< "$topology")
available=$((${#first[@]} - 1))
if [[ ${#feeders[@]} -lt 2 ]]; then
  feeders=("${feeders[0]}" "${first[$((${#first[@]} - 2))]}")
  available=$((available - 1))
fi
[[ -n "$workers" ]] || workers=$available
largest=$workers
for w in $curve; do [[ $w -gt $largest ]] && largest=$w; done
if [[ $largest -gt $available ]]; then
  echo "$largest workers need $largest cores besides the feeders'; this box has $available" >&2
  exit 2
fi
counts="${curve:-$workers}"

# --lcores: lcore 0 (the main feeder) on feeders[0], lcores 1..w on one core each, then the
# extra feeder (with `extra`) on feeders[1].
lcore_map() {
  local w=$1 extra=$2 map="0@${feeders[0]}"
  for ((i = 1; i <= w; ++i)); do map+=",$i@${first[$((i - 1))]}"; done
  [[ $extra == 1 ]] && map+=",$((w + 1))@${feeders[1]}"
  echo "--lcores=$map"
}
eal_for() {
  local w=$1
  local mem=("${memory[@]}")
  [[ ${#mem[@]} -eq 0 ]] && mem=(--no-huge -m $((1024 + 128 * w)))
  echo --no-pci --no-shconf --no-telemetry --log-level=lib.eal:warning "${mem[@]}" "${plugins[@]}"
}

results="$(mktemp)"
trap 'rm -f "$results"' EXIT

run_bench() {  # round, mode, workers
  local round=$1 mode=$2 w=$3 args=() f=2 out rate
  case "$mode" in
    one) f=1 ;;
    spread) args=(--spread) ;;
    dispatcher) args=(--dispatchers 1) ;;
    plain) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2046
  out="$(timeout $((seconds + 40)) "$bench" --workers "$w" --feeders "$f" --seconds "$seconds" \
    "${args[@]}" -- $(eal_for "$w") "$(lcore_map "$w" $((f - 1)))" 2>&1)" || true
  rate="$(sed -n 's/^RESULT .* msgs_per_s=\([0-9]*\).*/\1/p' <<< "$out")"
  if [[ -z "$rate" ]]; then
    echo "bench_pipeline failed ($mode, $w workers):" >&2
    tail -5 <<< "$out" >&2
    exit 1
  fi
  echo "round $round: $mode, $w worker(s): $rate SIP msgs/s"
  echo "$round $mode $w $rate" >> "$results"
}

# shellcheck source=bench/testpmd_rate.sh
source "$here/testpmd_rate.sh"
run_testpmd() {  # cores
  local c=$1
  # shellcheck disable=SC2046
  echo "testpmd $c core(s): $(testpmd_packets_per_s "$testpmd" "$seconds" "$c" $(eal_for "$c") \
    "$(lcore_map "$c" 0)") packets/s"
}

echo "workers on CPUs ${first[*]:0:$largest} (one per core), feeders on ${feeders[*]}"
for c in 1 $counts; do run_testpmd "$c"; done | tee -a "$results.testpmd"
for ((round = 1; round <= rounds; ++round)); do
  run_bench "$round" one 1
  for w in $counts; do
    for mode in $modes; do run_bench "$round" "$mode" "$w"; done
  done
done
for c in 1 $counts; do run_testpmd "$c"; done | tee -a "$results.testpmd"

echo "--- ratio to linear: N workers / (N x the same round's one worker)"
awk '
  $2 == "one" { one[$1] = $4; ones[++n1] = $4; next }
  { key = $2 " " $3; ratio = $4 / ($3 * one[$1]); rows[key] = rows[key] sprintf(" %.2f", ratio)
    rates[key, ++count[key]] = $4 }
  function median(a, n,    i, j, t) {
    for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    m1 = median(ones, n1); printf "1 one worker: median %.0f SIP msgs/s over %d rounds\n", m1, n1
    for (key in rows) {
      split(key, part, " "); delete v
      for (i = 1; i <= count[key]; ++i) v[i] = rates[key, i]
      m = median(v, count[key])
      printf "%s, %s workers: median %.0f SIP msgs/s = %.2f x linear; per round:%s\n", part[1],
             part[2], m, m / (part[2] * m1), rows[key] } }' "$results" | sort -k1,1 -k2,2n | sed 's/^1 //'
awk '/^testpmd/ { c = $2 + 0; s[c] += $4; n[c]++ }
     END { if (n[1]) for (c in s) if (c > 1)
             printf "testpmd, %d cores: %.2f x linear (mean of both passes)\n",
                    c, (s[c] / n[c]) / (c * s[1] / n[1]) }' "$results.testpmd"
rm -f "$results.testpmd"
