#!/usr/bin/env bash
# What per-call failover (a pool with `failover = true`, dataplane/pool_failover.cpp) costs
# the proxy: the same sipblast call load (INVITE/100/180/200/ACK/BYE/200, UAC and UAS in one
# sipblast on CPU 0) through sipline (socket mode, one worker, CPU 1) to a one-member pool,
# with failover off and on, in alternating rounds. Reports sipline's CPU time (user + system,
# every thread, /proc) per completed call for each, the calls completed, and on/off.
#
#   bench/failover_cost.sh [--build DIR] [--rate CALLS_PER_S] [--seconds S] [--rounds N]
#
# Loopback only (127.0.0.1); every run is bounded by --seconds; each sipline is stopped at
# the end of its round (and on exit).
set -euo pipefail

build=build
rate=5000
seconds=5
rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--rate N] [--seconds S] [--rounds N]" >&2; exit 2 ;;
  esac
done
for tool in sipline sipblast; do
  [[ -x "$build/$tool" ]] || { echo "$build/$tool not built" >&2; exit 2; }
done

work="$(mktemp -d /tmp/sipline-failover-cost.XXXXXX)"
proxy_pid=""
cleanup() {
  [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

proxy_port=15160
uas_port=15170

config() {  # $1: true/false
  cat <<EOF
[listen]
udp = ["127.0.0.1:$proxy_port"]
[dataplane]
io = "socket"
workers = 1
[domain]
names = ["127.0.0.1"]
record_route = false
[registrar]
store = "memory"
[log]
level = "warn"
[source_limits]
trusted_sources = ["127.0.0.1"]
[[pools]]
name = "uas"
members = ["sip:127.0.0.1:$uas_port"]
probe_interval = 0
failover = $1
[[routes]]
name = "to-uas"
action = "forward"
pool = "uas"
EOF
}

# CPU ticks (user + system) of a process, every thread.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() {  # $1: true/false; prints "µs_per_call calls"
  config "$1" > "$work/sipline.toml"
  taskset -c 1 "$build/sipline" --config "$work/sipline.toml" > "$work/sipline.log" 2>&1 &
  proxy_pid=$!
  sleep 0.5
  local before after
  before=$(cpu_ticks "$proxy_pid")
  taskset -c 0 "$build/sipblast" --role both --target "127.0.0.1:$proxy_port" \
    --uas-listen "127.0.0.1:$uas_port" --rate "$rate" --duration "$seconds" --quiet \
    --timeout-ms 4000 --json "$work/blast.json" > /dev/null 2>&1 || true
  after=$(cpu_ticks "$proxy_pid")
  kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
  proxy_pid=""
  python3 - "$work/blast.json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
completed = report.get("completed", 0)
ticks = int(sys.argv[3]) - int(sys.argv[2])
per_call = ticks / int(sys.argv[4]) * 1e6 / completed if completed else float("nan")
print("%.2f %d %d" % (per_call, completed, report.get("failed", 0)))
PY
}

echo "failover_cost: $rounds rounds, $rate calls/s for $seconds s each, sipline on CPU 1"
declare -a off_costs on_costs
for ((round = 1; round <= rounds; ++round)); do
  read -r off off_calls off_failed < <(run_one false)
  read -r on on_calls on_failed < <(run_one true)
  off_costs+=("$off"); on_costs+=("$on")
  echo "round $round: failover off ${off} µs/call (${off_calls} calls, ${off_failed} failed)," \
       "on ${on} µs/call (${on_calls} calls, ${on_failed} failed), on/off" \
       "$(python3 -c "print('%.3f' % ($on / $off))")"
done
python3 - "${off_costs[*]}" "${on_costs[*]}" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
print("median: off %.2f µs/call, on %.2f µs/call; on/off per round: median %.3f (%.3f - %.3f)" % (
    statistics.median(off), statistics.median(on),
    statistics.median([b / a for a, b in zip(off, on)]),
    min(b / a for a, b in zip(off, on)), max(b / a for a, b in zip(off, on))))
PY
