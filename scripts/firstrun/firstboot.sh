#!/bin/bash
# scripts/firstrun/firstboot.sh — runs once, as root, on the first boot with a network (from
# airssys-firstboot.service, which enable-firstboot.sh installed). Installs Node if needed, the
# build tools, then the gateway with scripts/install-pi.sh, using the files next to it on the boot
# partition (written by prepare-boot.sh). Log: /var/log/airssys-firstboot.log and the journal.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec > >(tee -a /var/log/airssys-firstboot.log) 2>&1
echo "airssys-firstboot: start $(date -Is) from $HERE"

BROKER=embedded GATEWAY_ID="" INSTALL_ARGS=""
# shellcheck source=/dev/null
[ -f "$HERE/airssys.env" ] && . "$HERE/airssys.env"

# apt refuses repositories whose Release files look "not yet valid": wait for NTP (no RTC on a Pi).
for _ in $(seq 1 60); do
  [ "$(timedatectl show -p NTPSynchronized --value 2> /dev/null || echo no)" = yes ] && break
  sleep 2
done

node_major() { node -v 2> /dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }
if [ "$(node_major || true)" -ge 20 ] 2> /dev/null; then
  echo "airssys-firstboot: node $(node -v) already installed"
elif ls "$HERE"/node-linux-*.tgz > /dev/null 2>&1; then
  # Node from the npm registry (prepare-boot.sh --node-arch): bin/node + headers, and npm itself
  echo "airssys-firstboot: installing Node from $(ls "$HERE"/node-linux-*.tgz)"
  tar -xzf "$HERE"/node-linux-*.tgz -C /usr/local --strip-components=1 package/bin package/include
  mkdir -p /usr/local/lib/node_modules/npm
  tar -xzf "$HERE"/npm-*.tgz -C /usr/local/lib/node_modules/npm --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
  # node-gyp finds the headers here instead of downloading them from nodejs.org
  npm config set --global nodedir /usr/local > /dev/null 2>&1 || true
else
  # A maintained LTS: 24 on a 64-bit OS; 22 on 32-bit, where Node 24 has no build.
  case "$(uname -m)" in armv7l | armv6l) major=22 ;; *) major=24 ;; esac
  echo "airssys-firstboot: installing Node $major from NodeSource"
  curl -fsSL "https://deb.nodesource.com/setup_$major.x" | bash -
  apt-get install -y nodejs
fi
hash -r
echo "airssys-firstboot: node $(node -v), npm $(npm -v)"

apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 make g++

SRC=/var/tmp/airssys-src
rm -rf "$SRC" && mkdir -p "$SRC"
tar -xzf "$HERE/airssys-gateway.tgz" -C "$SRC"
# An operator-supplied config (prepare-boot.sh --config) wins: the installer keeps an existing one.
if [ -f "$HERE/gateway.yaml" ] && [ ! -f /etc/airssys/gateway.yaml ]; then
  install -d -m 0750 /etc/airssys
  install -m 0640 "$HERE/gateway.yaml" /etc/airssys/gateway.yaml
fi
[ -d "$HERE/etc" ] && cp -rn "$HERE/etc/." /etc/airssys/
# shellcheck disable=SC2086
bash "$SRC/scripts/install-pi.sh" --source "$SRC" --broker "$BROKER" ${GATEWAY_ID:+--gateway-id "$GATEWAY_ID"} --install-deps $INSTALL_ARGS
chgrp -R airssys /etc/airssys 2> /dev/null || true
rm -rf "$SRC"

systemctl disable airssys-firstboot.service || true
touch /var/lib/airssys/.firstboot-done
echo "airssys-firstboot: done $(date -Is)"
"$(command -v airssys)" doctor --config /etc/airssys/gateway.yaml || true
