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
#   - I2C, kernel side only (the gateway has no I2C driver yet): /dev/i2c-N of i2c-stub, byte and
#     word registers written and read back with i2c-tools (SMBus ioctls).
# Results and timings go between the kernel-check markers in docs/raspberry-pi.md.
#
# The guest root is a busybox initramfs; node and glibc come from the host's /usr, this checkout
# and its node_modules over 9p, all read-only (the VM cannot change the host).
# Downloads and builds are cached under .tmp/kernel-check/ (gitignored): a rerun only boots.
# Slow proof, not part of CI. Needs root (apt-get) on x86_64 Debian 12.
#
# usage: scripts/kernel-check.sh [--kver 6.1.0-N-amd64] [--cache DIR] [--timeout SEC] [--fresh]
#                                [--no-doc] [--no-kvm]
#   --kver     kernel ABI to boot (default: the one linux-headers-amd64 depends on)
#   --cache    cache folder (default .tmp/kernel-check in this checkout)
#   --timeout  seconds for the VM run (default 600)
#   --fresh    rebuild the module and re-extract the packages
#   --no-doc   do not rewrite the results block in docs/raspberry-pi.md
#   --no-kvm   emulate (TCG) even when /dev/kvm is there
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.tmp/kernel-check"
KVER=""
TIMEOUT=600
FRESH=0
WRITE_DOC=1
USE_KVM=1
while [ $# -gt 0 ]; do
  case "$1" in
    --kver) KVER="$2"; shift 2 ;;
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
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
LOG="$CACHE/vm.log"

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
  [ -n "$KVER" ] || die "cannot tell which kernel linux-headers-amd64 is (apt-get update first?); pass --kver 6.1.0-N-amd64"
fi
case "$KVER" in *-amd64) ;; *) die "--kver $KVER: expected an amd64 ABI like 6.1.0-57-amd64" ;; esac
want=(qemu-system-x86 busybox-static linux-source-6.1 "linux-headers-$KVER" make gcc)
missing=()
for p in "${want[@]}"; do dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >"$CACHE/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed (see $CACHE/apt.log)"
  record packages ok "installed ${missing[*]}"
else
  record packages skipped "qemu-system-x86, busybox-static, linux-source-6.1, linux-headers-$KVER already installed"
fi
IMG_PKG="linux-image-$KVER"
IMG_VER=$(apt-cache policy "$IMG_PKG" | awk '/Candidate:/ { print $2 }')
SRC_VER=$(dpkg-query -W -f '${Version}' linux-source-6.1)
HDR_VER=$(dpkg-query -W -f '${Version}' "linux-headers-$KVER")
[ "$IMG_VER" = "$HDR_VER" ] || die "$IMG_PKG is $IMG_VER but linux-headers-$KVER is $HDR_VER: the module would not load; apt-get update && apt-get upgrade first"

# --- 2. the kernel image and i2c-tools: downloaded and unpacked, never installed on the host ---
begin kernel-image
IMAGE="$CACHE/image-$KVER"
if [ "$FRESH" = 1 ] || [ ! -f "$IMAGE/boot/vmlinuz-$KVER" ]; then
  rm -rf "$IMAGE" "$CACHE/deb"
  mkdir -p "$CACHE/deb"
  (cd "$CACHE/deb" && apt-get download "$IMG_PKG" i2c-tools libi2c0 >"$CACHE/download.log" 2>&1) || die "apt-get download $IMG_PKG i2c-tools libi2c0 failed (see $CACHE/download.log)"
  dpkg-deb -x "$CACHE"/deb/linux-image-*.deb "$IMAGE"
  rm -rf "$CACHE/i2c-tools" && mkdir -p "$CACHE/i2c-tools"
  for d in "$CACHE"/deb/i2c-tools_*.deb "$CACHE"/deb/libi2c0_*.deb; do dpkg-deb -x "$d" "$CACHE/i2c-tools"; done
  depmod -b "$IMAGE" "$KVER"
  record kernel-image ok "$IMG_PKG $IMG_VER and i2c-tools downloaded and unpacked"
else
  record kernel-image skipped "reusing $IMAGE"
fi
CONFIG="$IMAGE/boot/config-$KVER"
for opt in CONFIG_GPIO_SYSFS=y CONFIG_GPIOLIB_IRQCHIP=y CONFIG_CONFIGFS_FS= CONFIG_I2C_STUB=m CONFIG_I2C_CHARDEV=m CONFIG_9P_FS=; do
  grep -q "^$opt" "$CONFIG" || die "$CONFIG lacks $opt, which this check needs"
done
KCONFIG_FACTS="GPIO_SIM: $(grep -E '^(# )?CONFIG_GPIO_SIM[ =]' "$CONFIG" | sed 's/^# //'), GPIO_MOCKUP: $(grep -E '^(# )?CONFIG_GPIO_MOCKUP[ =]' "$CONFIG" | sed 's/^# //'), IRQ_SIM: $(grep -E '^CONFIG_IRQ_SIM=' "$CONFIG" || echo 'not set'), GPIO_SYSFS=y, GPIO_CDEV=$(sed -n 's/^CONFIG_GPIO_CDEV=//p' "$CONFIG"), I2C_STUB=m"

# --- 3. gpio-sim.ko, out of tree, from linux-source-6.1 ----------------------------------------
# gpio-sim needs the interrupt simulator (kernel/irq/irq_sim.c), which Debian's kernel does not
# build (no CONFIG_IRQ_SIM), so it is compiled into the same module. irq_to_desc() is not exported
# to modules; generic_handle_irq(n) is, and does the same thing for this simple flow handler.
begin gpio-sim-build
BUILD="$CACHE/build-$KVER"
SRC="$CACHE/src-$SRC_VER"
if [ "$FRESH" = 1 ] || [ ! -f "$BUILD/gpio-sim.ko" ]; then
  if [ ! -f "$SRC/kernel/irq/irq_sim.c" ]; then
    mkdir -p "$SRC"
    tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$SRC" --strip-components=1 \
      linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c
  fi
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  cp "$SRC/drivers/gpio/gpio-sim.c" "$BUILD/gpio-sim-core.c"
  cp "$SRC/drivers/gpio/gpiolib.h" "$BUILD/"
  sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$SRC/kernel/irq/irq_sim.c" >"$BUILD/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum);' "$BUILD/irq_sim.c" || die "irq_sim.c from linux-source $SRC_VER no longer has the line this script patches"
  printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' >"$BUILD/Kbuild"
  make -C "/usr/src/linux-headers-$KVER" M="$BUILD" modules >"$BUILD/build.log" 2>&1 || die "building gpio-sim.ko failed (see $BUILD/build.log)"
  record gpio-sim-build ok "gpio-sim.c + irq_sim.c from linux-source-6.1 $SRC_VER against linux-headers-$KVER"
else
  record gpio-sim-build skipped "reusing $BUILD/gpio-sim.ko"
fi
modinfo -F vermagic "$BUILD/gpio-sim.ko" | grep -q "^$KVER " || die "$BUILD/gpio-sim.ko was built for $(modinfo -F vermagic "$BUILD/gpio-sim.ko"), not $KVER; rerun with --fresh"

# --- 4. the initramfs ----------------------------------------------------------------------------
begin initramfs
STAGE="$CACHE/initramfs"
rm -rf "$STAGE" && mkdir -p "$STAGE"/{bin,mods,opt/i2c/bin,opt/i2c/lib,etc}
cp /bin/busybox "$STAGE/bin/busybox"
file -L "$STAGE/bin/busybox" 2>/dev/null | grep -q 'statically linked' || ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || die "/bin/busybox is not the static one (install busybox-static)"
install -m 0755 "$REPO/scripts/kernel-check/init.sh" "$STAGE/init"
MODDIR="$IMAGE/lib/modules/$KVER"
: >"$STAGE/mods/order"
for m in 9pnet_virtio 9p virtio_pci configfs; do
  modprobe -d "$IMAGE" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$STAGE/mods/"
  basename "$ko" >>"$STAGE/mods/order"
done
for ko in drivers/i2c/i2c-dev.ko drivers/i2c/busses/i2c-stub.ko drivers/i2c/i2c-stub.ko; do
  [ -f "$MODDIR/kernel/$ko" ] && cp "$MODDIR/kernel/$ko" "$STAGE/mods/"
done
[ -f "$STAGE/mods/i2c-stub.ko" ] || die "$IMG_PKG has no i2c-stub.ko"
cp "$BUILD/gpio-sim.ko" "$STAGE/mods/"
cp "$CACHE"/i2c-tools/usr/sbin/i2c{get,set,detect} "$STAGE/opt/i2c/bin/"
cp -d "$CACHE"/i2c-tools/usr/lib/x86_64-linux-gnu/libi2c.so.* "$STAGE/opt/i2c/lib/"
ln -s /opt/i2c/bin/i2cget "$STAGE/bin/i2cget"; ln -s /opt/i2c/bin/i2cset "$STAGE/bin/i2cset"; ln -s /opt/i2c/bin/i2cdetect "$STAGE/bin/i2cdetect"
cp /etc/ld.so.cache "$STAGE/etc/" 2>/dev/null || true
# So that `airssys doctor` can name the user it checks for (it runs as root in the VM).
echo 'root:x:0:0:root:/tmp:/bin/sh' >"$STAGE/etc/passwd"
echo 'root:x:0:' >"$STAGE/etc/group"
(cd "$STAGE" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$CACHE/initramfs.gz")
record initramfs ok "busybox, $(wc -l <"$STAGE/mods/order") transport modules, gpio-sim.ko, i2c-stub.ko, i2c-dev.ko, i2c-tools: $(du -h "$CACHE/initramfs.gz" | cut -f1)"

# --- 5. boot -------------------------------------------------------------------------------------
NM="$(readlink -f "$REPO/node_modules")"
[ -d "$NM/onoff" ] || die "$NM has no onoff: npm ci in $REPO first"
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
    -kernel "$IMAGE/boot/vmlinuz-$KVER" -append "console=ttyS0 panic=-1" </dev/null 2>&1 | tr -d '\r' >"$CACHE/kvm-probe.log"
  set -e
  if grep -aq 'Linux version' "$CACHE/kvm-probe.log"; then
    ACCEL=(-enable-kvm -cpu host,-arch-capabilities); ACCEL_NAME=KVM
    record kvm-probe ok "the kernel boots under KVM"
  else
    ACCEL_NAME="TCG (emulated: /dev/kvm is there but a kernel does not boot under it, see kvm-probe)"
    record kvm-probe "no KVM" "/dev/kvm is there, but the bare kernel printed no banner within 30 s under KVM (last output: $(sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' "$CACHE/kvm-probe.log" | grep -a -v -E '^\s*$|terminating on signal' | tail -1 | tr -d '|' | head -c 100)): falling back to TCG"
  fi
fi
QEMU_VER=$(qemu-system-x86_64 --version | head -1)
share() { echo "local,path=$1,mount_tag=$2,security_model=none,readonly=on"; }
begin boot
set +e
timeout "$TIMEOUT" qemu-system-x86_64 "${ACCEL[@]}" -m 1024 -smp 2 -nographic -no-reboot -nodefaults -serial stdio \
  -kernel "$IMAGE/boot/vmlinuz-$KVER" -initrd "$CACHE/initramfs.gz" \
  -append "console=ttyS0 panic=-1 quiet kc.repo=$REPO kc.nm=$NM" \
  -virtfs "$(share /usr usr)" -virtfs "$(share "$REPO" repo)" -virtfs "$(share "$NM" nm)" \
  </dev/null >"$LOG" 2>&1
QRC=$?
set -e
tr -d '\r' <"$LOG" >"$LOG.txt"
grep -E '^KC-' "$LOG.txt" >&2 || true
if grep -q '^KC-DONE' "$LOG.txt"; then record boot ok "$ACCEL_NAME; VM powered off by itself (qemu exit $QRC); guest uptime at the end $(sed -n 's/^KC-DONE //p' "$LOG.txt") s"
elif [ "$QRC" = 124 ]; then record boot fail "no KC-DONE within $TIMEOUT s (see $LOG.txt)"
else record boot fail "qemu exit $QRC before KC-DONE (see $LOG.txt)"; fi

# --- 6. verdict and docs -------------------------------------------------------------------------
fails=$(grep -cE '^KC-(STEP [^ ]+|RESULT) fail' "$LOG.txt" || true)
expected_steps=(boot transport-modules mounts gpio-sim-load i2c-stub-load i2c-dev i2c-smbus gpio-check doctor-gpio)
absent=()
for s in "${expected_steps[@]}"; do grep -q "^KC-STEP $s ok" "$LOG.txt" || grep -q "^KC-STEP $s fail" "$LOG.txt" || absent+=("$s"); done
nres=$(grep -c '^KC-RESULT ' "$LOG.txt" || true)
for s in "${STEPS[@]}"; do IFS='|' read -r _ r _ _ <<<"$s"; [ "$r" = fail ] && fails=$((fails + 1)); done
VERDICT=passed
{ [ "$fails" -gt 0 ] || [ ${#absent[@]} -gt 0 ] || [ "$nres" -lt 10 ]; } && VERDICT=FAILED

if [ "$WRITE_DOC" = 1 ]; then
  DOC="$REPO/docs/raspberry-pi.md"
  BLOCK="$CACHE/doc-block.md"
  {
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on an x86_64 host ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)): **$VERDICT**."
    echo "Guest kernel: Debian's \`$IMG_PKG\` $IMG_VER (unmodified binary; $KCONFIG_FACTS); $QEMU_VER, $ACCEL_NAME, 2 vCPUs, 1 GiB."
    echo
    echo "| step | result | time | what |"
    echo "|---|---|---|---|"
    for s in "${STEPS[@]}"; do IFS='|' read -r n r t d <<<"$s"; echo "| $n | $r | $(fmt_s "$t") | $d |"; done
    echo
    echo "Inside the VM (time = guest uptime when the step ended):"
    echo
    echo "| step | result | uptime | what |"
    echo "|---|---|---|---|"
    grep '^KC-STEP ' "$LOG.txt" | while read -r _ n r t d; do echo "| $n | $r | ${t} s | ${d//|/\\|} |"; done
    [ ${#absent[@]} -gt 0 ] && echo "| ${absent[*]} | **missing** | | the VM never reported these |"
    echo
    echo "The gateway's GPIO driver against gpio-sim (\`scripts/kernel-check/gpio-check.ts\`):"
    echo
    echo "| check | result | ms | what |"
    echo "|---|---|---|---|"
    grep '^KC-RESULT ' "$LOG.txt" | while read -r _ r n t d; do echo "| $n | $r | $t | ${d//|/\\|} |"; done
    echo
    grep '^KC-METRIC ' "$LOG.txt" | sed 's/^KC-METRIC /- /'
  } >"$BLOCK"
  if grep -q '<!-- kernel-check:begin -->' "$DOC"; then
    awk -v block="$BLOCK" '
      /<!-- kernel-check:begin -->/ { print; while ((getline l < block) > 0) print l; skip = 1; next }
      /<!-- kernel-check:end -->/ { skip = 0 }
      !skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
    echo "kernel-check: results written to docs/raspberry-pi.md" >&2
  else
    echo "kernel-check: docs/raspberry-pi.md has no kernel-check markers; results in $BLOCK" >&2
  fi
fi
echo "kernel-check: $VERDICT (VM log: $LOG.txt)" >&2
[ "$VERDICT" = passed ]
