#!/usr/bin/env bash
# Hands a NIC to DPDK (vfio-pci) for sipline's dataplane, or gives it back to the kernel.
#
#   ##################################################################################
#   #  NEVER BIND THE MANAGEMENT NIC. A bound NIC disappears from the kernel: its IP   #
#   #  addresses, routes and every SSH session through it are gone at once, and the    #
#   #  machine is reachable again only from a console. Bind only a port dedicated to   #
#   #  SIP traffic, and keep a second way in (console, IPMI/iLO, another NIC).         #
#   ##################################################################################
#
#   deploy/bind-nic.sh --status                 # DPDK's view of every network device
#   deploy/bind-nic.sh ens2f1                   # bind by interface name (to vfio-pci)
#   deploy/bind-nic.sh 0000:3b:00.1             # bind by PCI address
#   deploy/bind-nic.sh --dry-run ens2f1         # say what would happen, change nothing
#   deploy/bind-nic.sh --unbind 0000:3b:00.1 ice   # back to the kernel driver (here: ice)
#
# Refused: the interface (or PCI device) that carries a default route (IPv4 or IPv6), any
# interface that is up with an IP address (unless --force: a dedicated port should be down
# and unaddressed), and a device whose IOMMU group holds other devices still on kernel
# drivers. The PCI address goes into [dataplane] eal as `-a 0000:3b:00.1`; sipline's start-up
# log names the port it found.
#
# Mellanox/NVIDIA ConnectX NICs are NOT bound: their DPDK driver (mlx5) works next to the
# kernel driver; give their PCI address to `-a` directly.
set -euo pipefail

devbind="$(command -v dpdk-devbind.py || true)"
driver=vfio-pci
dry_run=0
force=0
unbind=""
kernel_driver=""
target=""

usage() { sed -n '2,26p' "$0"; exit "${1:-0}"; }
die() { echo "bind-nic: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --status) [[ -n "$devbind" ]] || die "dpdk-devbind.py not found (apt-get install dpdk)"
              exec "$devbind" --status-dev net ;;
    --dry-run) dry_run=1; shift ;;
    --force) force=1; shift ;;
    --driver) driver="$2"; shift 2 ;;
    --unbind) unbind="$2"; kernel_driver="${3:-}"; shift 2; [[ -n "$kernel_driver" ]] && shift; ;;
    -h|--help) usage 0 ;;
    -*) echo "bind-nic: unknown option $1" >&2; usage 2 ;;
    *) target="$1"; shift ;;
  esac
done
[[ -n "$devbind" ]] || die "dpdk-devbind.py not found (apt-get install dpdk)"
[[ "$(id -u)" == 0 || $dry_run == 1 ]] || die "run as root (binding drivers writes /sys)"

if [[ -n "$unbind" ]]; then
  [[ -n "$kernel_driver" ]] || die "--unbind PCI KERNEL_DRIVER (e.g. ice, i40e, ixgbe, virtio-pci)"
  echo "bind-nic: giving $unbind back to $kernel_driver"
  [[ $dry_run == 1 ]] || "$devbind" --bind="$kernel_driver" "$unbind"
  exit 0
fi
[[ -n "$target" ]] || usage 2

# Interface name <-> PCI address (a virtio NIC's interface hangs off a virtioN device whose
# parent is the PCI function).
interfaces_of() {
  ls "/sys/bus/pci/devices/$1/net" "/sys/bus/pci/devices/$1"/virtio*/net 2> /dev/null |
    grep -v -e '^$' -e ':$' || true
}
if [[ "$target" =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; then
  pci="$target"
  [[ -e "/sys/bus/pci/devices/$pci" ]] || die "no PCI device $pci"
  interfaces="$(interfaces_of "$pci")"
else
  [[ -e "/sys/class/net/$target" ]] || die "no network interface $target"
  interfaces="$target"
  pci=""
fi

# The interfaces that carry a default route: never. Checked before anything else.
default_interfaces="$( (ip -4 route show default; ip -6 route show default) 2> /dev/null |
  sed -n 's/.* dev \([^ ]*\).*/\1/p' | sort -u)"
for interface in $interfaces; do
  for carrying in $default_interfaces; do
    if [[ "$carrying" == "$interface" ]]; then
      cat >&2 << EOF
bind-nic: REFUSED: $interface${pci:+ ($pci)} carries the default route.
bind-nic: It is almost certainly the management NIC: binding it cuts this machine off the
bind-nic: network (and this SSH session with it). Pick a port dedicated to SIP traffic.
EOF
      exit 1
    fi
  done
  if [[ $force == 0 ]] && ip -o address show dev "$interface" 2> /dev/null | grep -q ' inet'; then
    state="$(cat "/sys/class/net/$interface/operstate" 2> /dev/null || echo unknown)"
    cat >&2 << EOF
bind-nic: REFUSED: $interface${pci:+ ($pci)} is $state and has IP addresses:
$(ip -o address show dev "$interface" | awk '{print "bind-nic:   " $4}')
bind-nic: Something on this machine uses it. Remove its addresses and take it down first
bind-nic: (ip address flush dev $interface; ip link set $interface down), or pass --force if you
bind-nic: are certain it is not how you reach this machine.
EOF
      exit 1
  fi
done
if [[ -z "$pci" ]]; then
  device="$(readlink -f "/sys/class/net/$target/device" 2> /dev/null || true)"
  [[ -n "$device" ]] || die "$target is not backed by a device (virtual interface?)"
  pci="$(basename "$device")"
  [[ "$pci" =~ ^[0-9a-fA-F]{4}: ]] || pci="$(basename "$(dirname "$device")")"
  [[ "$pci" =~ ^[0-9a-fA-F]{4}: ]] || die "$target is not a PCI network device"
fi
interface="$(echo "$interfaces" | head -1)"

# vfio-pci needs an IOMMU (or the unsafe no-IOMMU mode, for VMs without a virtual IOMMU).
if [[ "$driver" == vfio-pci ]]; then
  if [[ -z "$(ls /sys/kernel/iommu_groups 2> /dev/null)" ]]; then
    echo "bind-nic: WARNING: no IOMMU groups: enable the IOMMU (intel_iommu=on / amd_iommu=on" \
         "iommu=pt on the kernel command line), or for a VM without one:" \
         "echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode" >&2
  else
    group="$(basename "$(readlink -f "/sys/bus/pci/devices/$pci/iommu_group")")"
    for member in /sys/kernel/iommu_groups/"$group"/devices/*; do
      other="$(basename "$member")"
      [[ "$other" == "$pci" ]] && continue
      other_driver="$(basename "$(readlink -f "$member/driver" 2> /dev/null)" 2> /dev/null || true)"
      if [[ -n "$other_driver" && "$other_driver" != vfio-pci && "$other_driver" != pcieport ]]; then
        die "$pci shares IOMMU group $group with $other ($other_driver): vfio needs the whole group"
      fi
    done
  fi
fi

echo "bind-nic: $pci${interface:+ ($interface)} -> $driver"
echo "bind-nic: then put  \"-a\", \"$pci\"  in [dataplane] eal (deploy/sipline-dpdk.example.toml)"
if [[ $dry_run == 1 ]]; then
  echo "bind-nic: dry run: nothing changed"
  exit 0
fi
modprobe "$driver"
[[ -n "$interface" ]] && ip link set "$interface" down 2> /dev/null || true
"$devbind" --bind="$driver" "$pci"
"$devbind" --status-dev net | grep -F "$pci" || true
