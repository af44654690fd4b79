#!/usr/bin/env bash
# The Debian package (deploy/packaging.cmake): builds it with cpack in BUILD_DIR and checks
# what a `dpkg -i` would install, without installing it: the files and their paths, the
# dependencies dpkg-shlibdeps found, the conffile and the postinst, the units' paths, and that
# the packaged sipline accepts the packaged configuration and siplinectl runs.
#
#   tests/package/check_deb.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR}")
work=$(mktemp -d /tmp/sipline-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "package: FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" > "$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log" >&2; fail "cpack -G DEB failed"; }
deb=$(ls "$work"/out/sipline_*_*.deb 2> /dev/null | head -1)
[ -n "$deb" ] || fail "no sipline_*.deb in $work/out"

files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/bin/sipline ./usr/bin/siplinectl ./etc/sipline/sipline.toml \
            ./usr/lib/systemd/system/sipline.service ./usr/lib/systemd/system/sipline-dpdk.service \
            ./usr/share/doc/sipline/examples/sipline-dpdk.example.toml \
            ./usr/share/doc/sipline/examples/sipline.logrotate \
            ./usr/share/sipline/hugepages.sh ./usr/share/sipline/bind-nic.sh; do
  grep -qx "$path" <<< "$files" || fail "$path is not in the package"
done
if grep -E '^\./usr/bin/(test_|bench_|sipblast|fuzz_)' <<< "$files"; then
  fail "a test or benchmark program is packaged"
fi

depends=$(dpkg-deb -f "$deb" Depends)
for library in adduser libhiredis0.14 librte-eal23 librte-ethdev23 libsqlite3-0 libjemalloc2 \
               libtomlplusplus3 libssl3; do
  grep -q "$library" <<< "$depends" || fail "Depends lacks $library: $depends"
done

dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/sipline/sipline.toml "$work/control/conffiles" || fail "no conffile /etc/sipline/sipline.toml"
grep -q "adduser --system" "$work/control/postinst" || fail "the postinst creates no user"

dpkg-deb -x "$deb" "$work/root"
for unit in sipline sipline-dpdk; do
  grep -qx "ExecStart=/usr/bin/sipline --config /etc/sipline/sipline.toml" \
    "$work/root/usr/lib/systemd/system/$unit.service" || fail "$unit.service does not start /usr/bin/sipline"
done
"$work/root/usr/bin/sipline" --check-config "$work/root/etc/sipline/sipline.toml" > /dev/null ||
  fail "the packaged sipline refuses the packaged configuration"
"$work/root/usr/bin/sipline" --check-config \
  "$work/root/usr/share/doc/sipline/examples/sipline-dpdk.example.toml" > /dev/null ||
  fail "the packaged sipline refuses the DPDK example"
set +e
"$work/root/usr/bin/siplinectl" --socket "$work/none.sock" help 2> /dev/null
code=$?
set -e
[ "$code" -eq 2 ] || fail "siplinectl without a sipline should exit 2, not $code"
echo "package: ok: $(basename "$deb"), $(wc -l <<< "$files") entries, Depends: $depends"
