#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of sipline from Debian 12's apt.
# Idempotent: packages already present are skipped; apt-get update runs only when needed.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # dataplane and control plane
  dpdk dpdk-dev libdpdk-dev libpcap-dev libnuma-dev
  libjemalloc-dev libssl-dev libxxhash-dev libsqlite3-dev libhiredis-dev
  libtomlplusplus-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev clang-format
  libsofia-sip-ua-dev libosip2-dev
  sip-tester iproute2 iputils-ping ethtool tcpdump
  # bench/overload: the offered-vs-goodput plot
  gnuplot-nox
  # end-to-end tests (tests/e2e): Python driver, Linphone client, unshare for a private netns
  python3 linphone-cli util-linux
  # end-to-end test of the per-source limits (tests/e2e/scanners.py): svmap, svwar, svcrack
  sipvicious
  # location store shared through Redis (tests start their own redis-server on loopback)
  redis-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
