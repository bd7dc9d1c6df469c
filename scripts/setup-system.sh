#!/usr/bin/env bash
# Installs the Debian packages vpsrescue needs on the operator's machine.
# Idempotent: only missing packages are installed; no system service is left running
# because of the install (the lab starts its own proxy and databases by hand).
set -euo pipefail

PACKAGES=(
  debootstrap systemd-container iproute2 e2fsprogs fdisk util-linux mount
  openssh-client openssh-server rsync tar gzip xz-utils zstd ca-certificates
  mariadb-server-core mariadb-client
  php-cli php-mysql php-mbstring
  apt-cacher-ng
  pebble
  gcc libc6-dev
  patch
  locales
)

if [ "$(id -u)" != 0 ]; then
  echo "make setup installs Debian packages and must run as root: run 'sudo make setup'." >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages: installing ${missing[*]}"
# Keep postinst scripts from starting daemons (apt-cacher-ng, sshd) on this machine:
# the lab runs its own instances with private configs and stops them itself.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  guard=1
fi
cleanup() { [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
