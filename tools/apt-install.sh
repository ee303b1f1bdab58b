#!/usr/bin/env bash
# Install Debian packages listed in the files given as arguments (one name per line,
# '#' comments allowed). Runs `apt-get update` once per machine, then only installs
# what is missing, so a warm machine pays nothing.
set -euo pipefail
wanted=$(sed -e 's/#.*//' "$@" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u)
missing=()
for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold)
stamp=/var/lib/apt/periodic/hal0-update-stamp
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
    apt-get "${apt_opts[@]}" update
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
echo "apt: installing ${missing[*]}"
apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
