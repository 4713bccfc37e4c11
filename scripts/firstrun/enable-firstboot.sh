#!/bin/sh
# scripts/firstrun/enable-firstboot.sh — called once during the first boot (from Raspberry Pi
# Imager's firstrun.sh, or from our own firstrun.sh via cmdline.txt), before the network is up.
# It only installs and enables airssys-firstboot.service; the install runs when the network is.
set -e
HERE="$(cd "$(dirname "$0")" && pwd)"
BOOT="${AIRSSYS_BOOT_PATH:-$(dirname "$HERE")}"   # the path as the Pi sees it (/boot/firmware)
SYS="${AIRSSYS_SYSROOT:-}"                          # tests point this at a temporary root
mkdir -p "$SYS/etc/systemd/system/multi-user.target.wants"
sed "s|@BOOT@|$BOOT|g" "$HERE/airssys-firstboot.service" > "$SYS/etc/systemd/system/airssys-firstboot.service"
# a symlink, not `systemctl enable`: this runs before the system manager is fully up
ln -sf /etc/systemd/system/airssys-firstboot.service "$SYS/etc/systemd/system/multi-user.target.wants/airssys-firstboot.service"
# NetworkManager-wait-online makes network-online.target mean "has an address" (Bookworm uses NM)
[ -n "$SYS" ] || systemctl enable NetworkManager-wait-online.service > /dev/null 2>&1 || true
echo "airssys: first-boot install enabled (runs once the network is up)"
