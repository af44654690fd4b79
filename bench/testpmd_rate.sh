# Sourced by bench/run_pipeline_bench.sh and bench/pipeline_rounds.sh.
#
# testpmd_packets_per_s TESTPMD SECONDS CORES EAL_ARGS...
# dpdk-testpmd io forwarding with CORES forwarding cores on two net_null ports (no packet
# data touched: the framework's ceiling), stopped after SECONDS + 5 s by SIGINT; prints the
# forwarded packets/s: the Rx-pps of both ports summed, averaged over the periodic reports
# after the first (which includes the start). EAL_ARGS must give CORES + 1 lcores.
testpmd_packets_per_s() {
  local testpmd=$1 seconds=$2 cores=$3 out
  shift 3
  # testpmd exits non-zero when stopped by the signal: its output is what counts.
  out="$(timeout -s INT $((seconds + 5)) "$testpmd" "$@" \
    --vdev=net_null0 --vdev=net_null1 -- --forward-mode=io --nb-cores="$cores" \
    --rxq="$cores" --txq="$cores" --total-num-mbufs=$((cores > 2 ? 262144 : 65536)) \
    --stats-period 1 --auto-start 2>&1)" || true
  awk '/Rx-pps:/ { sum += $2; if (++n % 2 == 0) { rates[++r] = sum; sum = 0 } }
       END { t = 0; for (i = 2; i <= r; ++i) t += rates[i];
             if (r > 1) printf "%.0f\n", t / (r - 1); else print 0 }' <<< "$out"
}
