#!/usr/bin/env bash
# End-to-end tests through the DPDK dataplane (issue 4 §3), in two network namespaces joined by
# a veth pair:
#
#   sipline-dp-<pid>     veth-dp   sipline, io = "dpdk", net_pcap on veth-dp, owns 10.99.0.1
#        |  veth pair (MTU 1500)
#   sipline-peer-<pid>   veth-peer 10.99.0.2/24 and 2001:db8:99::2/64: this driver
#                                  (run_e2e.py --mode dpdk), SIPp,
#                                  the Python agents and UAS; 10.99.0.3/24: a
#                                  server kept apart from the phones (privacy)
#
# All traffic stays inside these namespaces. They are deleted on every exit path (trap), with
# whatever still runs in them. Needs root (namespaces, veth, packet capture): CI runs as root;
# anyone else gets a failure that says so, never a silent skip.
#
#   tests/e2e/run_dpdk_e2e.sh build/sipline              # the whole DPDK list
#   tests/e2e/run_dpdk_e2e.sh build/sipline big_invite   # some of it (--keep keeps files)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -lt 1 ]]; then
  echo "usage: $0 SIPLINE_BINARY [run_e2e.py options and test names]" >&2
  exit 2
fi
binary="$(realpath "$1")"
shift
if [[ "$(id -u)" != 0 ]]; then
  echo "e2e_dpdk: FAIL: needs root to create network namespaces and a veth pair" \
       "(run as root, as CI does: sudo $0 $binary)"
  exit 1
fi
for tool in ip ethtool ping sipp python3; do
  if ! command -v "$tool" > /dev/null; then
    echo "e2e_dpdk: FAIL: $tool not installed (deploy/install-deps.sh)"
    exit 1
  fi
done

dp="sipline-dp-$$"
peer="sipline-peer-$$"

cleanup() {
  local status=$?
  for namespace in "$dp" "$peer"; do
    if ip netns list | grep -qw "$namespace"; then
      # Whatever the tests left running in the namespace (by pid: nothing else is touched).
      for pid in $(ip netns pids "$namespace" 2> /dev/null); do
        kill -9 "$pid" 2> /dev/null || true
      done
      ip netns delete "$namespace" 2> /dev/null || true
    fi
  done
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$dp"
ip netns add "$peer"
# Created inside the namespaces: no name is ever taken in the root namespace.
ip link add veth-dp netns "$dp" type veth peer name veth-peer netns "$peer"
for namespace in "$dp" "$peer"; do
  # No IPv6 autoconfiguration chatter (router solicitations, DAD) on the test link.
  ip netns exec "$namespace" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$namespace" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip -n "$namespace" link set lo up
done
ip -n "$dp" link set veth-dp up
ip -n "$peer" address add 10.99.0.2/24 dev veth-peer
# A second address: a server the trust-boundary test keeps apart from the phones (harness.py).
ip -n "$peer" address add 10.99.0.3/24 dev veth-peer
# IPv6 on the peer's end only, for the ipv6_calls test: a static address (no DAD, no router
# solicitations, no autoconfiguration); the dataplane owns 2001:db8:99::1 (harness.py).
ip netns exec "$peer" sysctl -qw net.ipv6.conf.veth-peer.disable_ipv6=0
ip netns exec "$peer" sysctl -qw net.ipv6.conf.veth-peer.accept_ra=0
ip netns exec "$peer" sysctl -qw net.ipv6.conf.veth-peer.router_solicitations=0
ip -n "$peer" address add 2001:db8:99::2/64 dev veth-peer nodad
# For ipv6_gateway: the peer is also the dataplane's IPv6 router (gateway6, named by this
# link-local address) and holds an address behind it, off the dataplane's /64.
ip -n "$peer" address add fe80::fe/64 dev veth-peer nodad
ip -n "$peer" address add 2001:db8:98::7/128 dev veth-peer nodad
ip -n "$peer" link set veth-peer up
# veth offloads UDP checksums to a "NIC" that never computes them: the dataplane would see
# unfinished checksums and drop the datagrams (TESTING.md).
ip netns exec "$peer" ethtool -K veth-peer tx off > /dev/null

ip netns exec "$peer" python3 -u "$here/run_e2e.py" --mode dpdk --dpdk-netns "$dp" \
  --sipline "$binary" "$@"
