#!/bin/sh
# scripts/firstrun/firstrun.sh — for cards flashed WITHOUT Raspberry Pi Imager's OS customisation
# (no firstrun.sh of Imager's on the boot partition). prepare-boot.sh copies it to
# <boot>/airssys/firstrun.sh and adds to cmdline.txt:
#   systemd.run=/boot/firmware/airssys/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target
# It enables the first-boot install, removes those arguments again, and the Pi reboots normally.
set -e
HERE="$(cd "$(dirname "$0")" && pwd)"
BOOT="$(dirname "$HERE")"
"$HERE/enable-firstboot.sh"
sed -i 's| systemd.run=[^ ]*airssys/firstrun.sh[^ ]*||; s| systemd.run_success_action=reboot||; s| systemd.unit=kernel-command-line.target||' "$BOOT/cmdline.txt"
exit 0
