#!/usr/bin/env bash
# Install hal0d from this source tree into DESTDIR the way the Debian package lays it out.
#
#   tools/install-tree.sh DESTDIR
#
# The one place that maps repository files to system paths (debian/ reuses it). Optional parts
# are installed when they exist, so the script works at every stage of the tree:
#   hal0d/ (*.py, *.xml)         -> /usr/lib/python3/dist-packages/hal0d
#   (console scripts)            -> /usr/bin/hal0d, /usr/bin/hal0ctl
#   units/*.service              -> /usr/lib/systemd/system/
#   units/hal0.sysusers.conf     -> /usr/lib/sysusers.d/hal0.conf
#   units/hal0.tmpfiles.conf     -> /usr/lib/tmpfiles.d/hal0.conf
#   polkit/*.policy              -> /usr/share/polkit-1/actions/
#   polkit/*.rules               -> /usr/share/polkit-1/rules.d/
#   dbus/org.hal0.Manager1.conf  -> /usr/share/dbus-1/system.d/
#   hal0d/bus/org.hal0.Manager1.xml -> /usr/share/dbus-1/interfaces/ (also in the package:
#                                   hal0d answers Introspect with it)
#   dbus/*.service (activation)  -> /usr/share/dbus-1/system-services/
#   examples/                    -> /usr/share/doc/hal0d/examples/
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DESTDIR" >&2; exit 2; }
dest=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# install_files MODE DIR FILE... : copy the files that exist into DESTDIR/DIR.
install_files() {
    local mode=$1 dir=$2; shift 2
    local file
    for file in "$@"; do
        [ -f "$file" ] || continue
        install -D -m "$mode" "$file" "$dest$dir/$(basename "$file")"
    done
}

site=/usr/lib/python3/dist-packages
rm -rf "$dest$site/hal0d"
find hal0d \( -name '*.py' -o -name '*.xml' \) -print0 | while IFS= read -r -d '' file; do
    install -D -m 0644 "$file" "$dest$site/$file"
done

for script in hal0d:hal0d.cli.daemon hal0ctl:hal0d.cli.ctl; do
    name=${script%%:*} module=${script#*:}
    install -d "$dest/usr/bin"
    cat >"$dest/usr/bin/$name" <<EOF
#!/usr/bin/python3
import sys

from $module import main

sys.exit(main())
EOF
    chmod 0755 "$dest/usr/bin/$name"
done

shopt -s nullglob
install_files 0644 /usr/lib/systemd/system units/*.service units/*.socket units/*.timer
[ -f units/hal0.sysusers.conf ] && install -D -m 0644 units/hal0.sysusers.conf "$dest/usr/lib/sysusers.d/hal0.conf"
[ -f units/hal0.tmpfiles.conf ] && install -D -m 0644 units/hal0.tmpfiles.conf "$dest/usr/lib/tmpfiles.d/hal0.conf"
install_files 0644 /usr/share/polkit-1/actions polkit/*.policy
install_files 0644 /usr/share/polkit-1/rules.d polkit/*.rules
install_files 0644 /usr/share/dbus-1/system.d dbus/*.conf
install_files 0644 /usr/share/dbus-1/interfaces hal0d/bus/*.xml
install_files 0644 /usr/share/dbus-1/system-services dbus/*.service
if [ -d examples ]; then
    find examples -type f -print0 | while IFS= read -r -d '' file; do
        install -D -m 0644 "$file" "$dest/usr/share/doc/hal0d/$file"
    done
fi
exit 0
