#!/bin/sh
# sipblast's own ceiling on loopback, no proxy: a UAS pinned to one CPU, a UAC (or an OPTIONS
# client) pinned to the other, at each offered rate given. Prints one line per rate with what
# the client measured; a rate counts as sustained when nothing failed and nothing was
# retransmitted. Every message of a call crosses loopback once, and the client sends or
# receives each one, so the client's sent + received per second is the message rate.
#
#   bench/sipblast/loopback_ceiling.sh [-b build/sipblast] [-m calls|options] [-d seconds]
#                                      [-p] [-x "OPTIONS"] RATE...
#   -p: both processes busy-poll (--busy-poll): no sleep/wake-up cost, 100 % of both CPUs.
#   -x: more sipblast options for both processes, e.g. -x "--coalesce-us 50".
#
# Example: bench/sipblast/loopback_ceiling.sh -p 30000 40000 45000 50000
set -eu
binary=build/sipblast
mode=calls
duration=5
poll=""
extra=""
while getopts "b:m:d:px:" option; do
  case $option in
    b) binary=$OPTARG ;;
    m) mode=$OPTARG ;;
    d) duration=$OPTARG ;;
    p) poll="--busy-poll" ;;
    x) extra=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-b sipblast] [-m calls|options] [-d s] [-p] RATE..." >&2; exit 2; }
case $mode in
  calls) role=uac ;;
  options) role=options ;;
  *) echo "mode: calls or options" >&2; exit 2 ;;
esac
cpus=$(nproc)
uas_cpu=$((cpus > 1 ? 1 : 0))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((20000 + $$ % 20000))

printf '%-8s %-9s %9s %9s %10s %7s %8s %9s %8s %8s  %s\n' mode offered attempted completed \
  msgs/s failed retrans p99_us uac_cpu uas_cpu load
for rate in "$@"; do
  taskset -c $uas_cpu "$binary" --role uas --uas-listen 127.0.0.1:$port --duration 120 \
    --idle-exit 1 --quiet $poll $extra --json "$work/uas.json" > "$work/uas.log" 2>&1 &
  uas=$!
  sleep 0.3
  taskset -c 0 "$binary" --role $role --target 127.0.0.1:$port --rate "$rate" \
    --duration "$duration" --timeout-ms 4000 --batch 64 --quiet $poll $extra \
    --json "$work/client.json" > "$work/client.log" 2>&1
  wait $uas
  python3 - "$work/client.json" "$work/uas.json" "$mode" "$rate" <<'PY'
import json, sys
client, uas = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
latency = client["latency"]["invite_200" if sys.argv[3] == "calls" else "options_200"]
def cpu(report):  # share of one core while the client generated
    return 100 * (report["cpu_user_s"] + report["cpu_system_s"]) / client["generation_s"]
print(f"{sys.argv[3]:<8} {sys.argv[4]:<9} {client['attempted_per_s']:9.0f} "
      f"{client['completed_per_s']:9.0f} {client['msgs_per_s_steady']:10.0f} "
      f"{client['failed']:7d} {client['retransmissions']:8d} {latency['p99_us']:9.1f} "
      f"{cpu(client):7.0f}% {cpu(uas):7.0f}%  {client['load_average_start']}")
PY
  port=$((port + 1))
done
