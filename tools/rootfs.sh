#!/usr/bin/env bash
# Build (or find) the cached root filesystem of a system-test container and print its path.
#
#   tools/rootfs.sh RELEASE DEB   -> prints /var/cache/hal0-test/rootfs-RELEASE-KEY.tar.zst
#
# RELEASE is a Debian release (bookworm, trixie). The rootfs holds the packages of
# requirements/rootfs.txt plus everything DEB (the built hal0d .deb) depends on, read from the
# .deb itself (debian/control only has ${python3:Depends} placeholders), so installing DEB in a
# test needs no mirror: resolving its dependencies from the mirror happens here, once.
# KEY hashes the release, the package list, DEB's Depends and this script: a change to any
# builds a new tarball, an unchanged one is reused (a warm run only unpacks it). Builds are
# serialized with a lock, written to a temporary name and renamed, so two runs at once never
# see half a tarball. The three newest tarballs of each release are kept.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 RELEASE DEB" >&2; exit 2; }
release=$1
deb=$2
top=$(cd "$(dirname "$0")/.." && pwd)
mirror=${HAL0_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${HAL0_TEST_CACHE:-/var/cache/hal0-test}
packages_file=$top/requirements/rootfs.txt

packages=$(sed -e 's/#.*//' "$packages_file" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u)
depends=$(dpkg-deb -f "$deb" Depends)
[ -n "$depends" ] || { echo "rootfs: $deb has no Depends field" >&2; exit 1; }
key=$( { echo "$release"; echo "$packages"; echo "$depends"; cat "$0"; } | sha256sum | cut -c1-16)
tarball=$cache/rootfs-$release-$key.tar.zst

mkdir -p "$cache"
exec 9>"$cache/rootfs.lock"
flock 9
if [ -s "$tarball" ]; then
    echo "rootfs: cached $tarball" >&2
    echo "$tarball"
    exit 0
fi

start=$(date +%s%N)
work=$(mktemp -d "$cache/build-XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
root=$work/root
echo "rootfs: building $release ($key) in $root" >&2
# debootstrap only lays the minimal base; apt inside then installs the list, because
# debootstrap's own dependency ordering fails to configure some of them (python3-cryptography).
debootstrap --variant=minbase "$release" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 40 "$work/debootstrap.log" >&2
    echo "rootfs: debootstrap $release failed (log above)" >&2
    exit 1
}
# No docs, manuals or translations: a smaller tree unpacks faster on every warm run. (hal0d's
# own files under /usr/share/doc and /usr/share/man are excluded only here, at build time: the
# file is removed again below, so the package installed in a test is complete.)
nodoc=$root/etc/dpkg/dpkg.cfg.d/01-hal0-test-nodoc
cat >"$nodoc" <<'NODOC'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
NODOC
# Maintainer scripts must not start or reload services in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true; rm -rf --one-file-system "$work"' EXIT
apt=(apt-get -q -y -o Dpkg::Use-Pty=0 --no-install-recommends)
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive chroot "$root" "${apt[@]}" install $packages >"$work/apt.log" 2>&1 \
    && DEBIAN_FRONTEND=noninteractive chroot "$root" "${apt[@]}" satisfy "$depends" \
        >>"$work/apt.log" 2>&1 || {
    tail -n 40 "$work/apt.log" >&2
    echo "rootfs: installing the package list or the Depends of $deb failed (log above)" >&2
    exit 1
}
umount "$root/proc"
rm -f "$root/etc/resolv.conf" "$root/usr/sbin/policy-rc.d" "$nodoc"

# Quiet, deterministic boots: no periodic jobs waking up during a test, a journal the host can
# read after the container stopped, a fresh machine id per boot (nspawn supplies one).
echo hal0-test >"$root/etc/hostname"
: >"$root/etc/machine-id"
mkdir -p "$root/var/log/journal" "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=persistent\nRateLimitBurst=0\n' \
    >"$root/etc/systemd/journald.conf.d/hal0-test.conf"
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
    fstrim.timer systemd-tmpfiles-clean.timer console-getty.service getty@.service \
    systemd-networkd.service systemd-resolved.service systemd-timesyncd.service; do
    systemctl --root="$root" --quiet mask "$unit"
done
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -cf - . \
    | zstd -q -T0 -6 -o "$work/rootfs.tar.zst"
mv "$work/rootfs.tar.zst" "$tarball"
# Keep the three newest per release: worktrees with different lists take turns without rebuilding.
ls -1t "$cache"/rootfs-"$release"-*.tar.zst | tail -n +4 | xargs -r rm -f
end=$(date +%s%N)
echo "rootfs: built $tarball ($(du -h "$tarball" | cut -f1)) in $(((end - start) / 1000000)) ms" >&2
echo "$tarball"
