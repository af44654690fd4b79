#!/usr/bin/env bash
# Reserves hugepages for sipline's DPDK dataplane and mounts hugetlbfs (issue 4 §5).
#
#   deploy/hugepages.sh                 # 1024 x 2 MiB pages (2 GiB), spread over NUMA nodes
#   deploy/hugepages.sh 2048            # 2048 x 2 MiB (4 GiB)
#   deploy/hugepages.sh 2048 --node 0   # all of them on NUMA node 0 (the NIC's node)
#   deploy/hugepages.sh --status        # what is reserved and free
#
# How much: sipline's mbuf pool follows the l3fwd rule (dataplane/dpdk/dpdk_sizing.hpp):
# about 2.2 KB per mbuf and, with ring_size 4096, (workers + 2) x 4096 ring slots on top of
# the NIC descriptors and reassembly tables: ~150 MiB for 1 worker, ~600 MiB for 14. Reserve
# generously (1-4 GiB); the start-up log names the pool size, and EAL says ENOMEM when short.
#
# At run time, with hugepages, give EAL `--in-memory` (or a unique `--file-prefix`); without
# them use `--no-huge -m 512` (test machines only: no physical addresses, slower TLB).
#
# Reservations made here are lost at reboot. To keep them, put the page count on the kernel
# command line (GRUB_CMDLINE_LINUX="default_hugepagesz=2M hugepagesz=2M hugepages=1024") or
# in /etc/sysctl.d/80-sipline-hugepages.conf (vm.nr_hugepages = 1024); 1 GiB pages can only
# be reserved at boot (hugepagesz=1G hugepages=4).
set -euo pipefail

pages=1024
node=""
status_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --status) status_only=1; shift ;;
    --node) node="$2"; shift 2 ;;
    [0-9]*) pages="$1"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "hugepages: unknown argument $1" >&2; exit 2 ;;
  esac
done

status() {
  grep -E '^(HugePages_Total|HugePages_Free|Hugepagesize)' /proc/meminfo
  for dir in /sys/devices/system/node/node*/hugepages/hugepages-2048kB; do
    [[ -d "$dir" ]] || continue
    local n="${dir#/sys/devices/system/node/node}"
    echo "node ${n%%/*}: $(cat "$dir/nr_hugepages") x 2 MiB reserved, $(cat "$dir/free_hugepages") free"
  done
  mount -t hugetlbfs | sed 's/^/mounted: /' || true
}

if [[ $status_only -eq 1 ]]; then
  status
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "hugepages: run as root (writes /sys and mounts hugetlbfs)" >&2
  exit 1
fi

if [[ -n "$node" ]]; then
  target="/sys/devices/system/node/node$node/hugepages/hugepages-2048kB/nr_hugepages"
  [[ -w "$target" ]] || { echo "hugepages: no NUMA node $node" >&2; exit 1; }
else
  target=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
fi
echo "$pages" > "$target"
reserved="$(cat "$target")"
if [[ "$reserved" -lt "$pages" ]]; then
  # Memory was too fragmented for contiguous 2 MiB pages: reserve at boot instead.
  echo "hugepages: WARNING: asked for $pages pages, the kernel reserved $reserved" \
       "(fragmented memory; reserve them at boot, see the header of this script)" >&2
fi

mkdir -p /dev/hugepages
if ! mountpoint -q /dev/hugepages; then
  mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
fi
status
