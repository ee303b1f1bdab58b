#!/usr/bin/env bash
# Install the non-Python files of hal0d into DESTDIR the way the Debian package lays them out.
#
#   tools/install-tree.sh DESTDIR
#
# The one map from repository files to system paths; debian/rules runs it after pybuild, which
# installs the Python package and the hal0d/hal0ctl entry points (never this script). Optional
# parts are installed when they exist:
#   units/*.service, *.socket, *.timer -> /lib/systemd/system/ (debhelper 13.11, bookworm's, writes
#                                   enable/start maintainer scripts only for units there)
#   units/hal0.sysusers.conf        -> /usr/lib/sysusers.d/hal0.conf
#   units/hal0.tmpfiles.conf        -> /usr/lib/tmpfiles.d/hal0.conf
#   polkit/*.policy                 -> /usr/share/polkit-1/actions/
#   polkit/*.rules                  -> /usr/share/polkit-1/rules.d/
#   dbus/*.conf                     -> /usr/share/dbus-1/system.d/
#   dbus/*.service (activation)     -> /usr/share/dbus-1/system-services/
#   hal0d/bus/*.xml                 -> /usr/share/dbus-1/interfaces/ (pybuild installs the
#                                      package's own copy: hal0d answers Introspect with it)
#   etc/hal0.toml                   -> /etc/hal0/hal0.toml (a conffile, every key commented out)
#   completions/hal0ctl        -> /usr/share/bash-completion/completions/hal0ctl
#   README.md, docs/*.md            -> /usr/share/doc/hal0d/ (the changelog is debian/changelog)
#   examples/                       -> /usr/share/doc/hal0d/examples/
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DESTDIR" >&2; exit 2; }
dest=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# install_files DIR FILE... : copy the files that exist into DESTDIR/DIR (mode 0644).
install_files() {
    local dir=$1; shift
    local file
    for file in "$@"; do
        [ -f "$file" ] || continue
        install -D -m 0644 "$file" "$dest$dir/$(basename "$file")"
    done
}

# install_as FILE PATH : copy FILE, if it exists, to DESTDIR/PATH (mode 0644).
install_as() {
    [ -f "$1" ] && install -D -m 0644 "$1" "$dest$2"
    return 0
}

shopt -s nullglob
install_files /lib/systemd/system units/*.service units/*.socket units/*.timer
install_as units/hal0.sysusers.conf /usr/lib/sysusers.d/hal0.conf
install_as units/hal0.tmpfiles.conf /usr/lib/tmpfiles.d/hal0.conf
install_files /usr/share/polkit-1/actions polkit/*.policy
install_files /usr/share/polkit-1/rules.d polkit/*.rules
install_files /usr/share/dbus-1/system.d dbus/*.conf
install_files /usr/share/dbus-1/system-services dbus/*.service
install_files /usr/share/dbus-1/interfaces hal0d/bus/*.xml
install_as etc/hal0.toml /etc/hal0/hal0.toml
install_as completions/hal0ctl /usr/share/bash-completion/completions/hal0ctl
install_files /usr/share/doc/hal0d README.md docs/*.md
if [ -d examples ]; then
    find examples -type f -print0 | while IFS= read -r -d '' file; do
        install -D -m 0644 "$file" "$dest/usr/share/doc/hal0d/$file"
    done
fi
exit 0
