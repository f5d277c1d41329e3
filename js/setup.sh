#!/usr/bin/env bash
# One-time set-up of snapgc's JavaScript workspace (js/): the pinned packages, the two native
# pieces npm does not build, and the snapgc binding.
#
#   bash js/setup.sh          (or: npm --prefix js/real-kernel run setup; .ci/run calls it)
#
# 1. `npm ci --ignore-scripts` of js/package-lock.json (~15 s; skipped while the lock is unchanged
#    and node_modules is complete);
# 2. the xsnap worker from the XS sources in @agoric/xsnap's tarball (`node src/build.js`, ~1 min);
# 3. better-sqlite3's addon from its bundled SQLite with npm's own node-gyp, against the local Node
#    headers (~2 min; no download);
# 4. the snapgc binding (`npm --prefix js/swing-store run build`: cargo build --release).
# Each step is skipped when its output is already there and loads. Exit 0 when all is ready, 1 on
# a failure (with the log named); SNAPGC_JS_SETUP_SKIP_BINDING=1 skips step 4.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
now() { date +%s; }
fail() { echo "js setup: FAILED: $*" >&2; exit 1; }
t0=$(now)

command -v node >/dev/null 2>&1 || fail "node is not on PATH"
command -v npm >/dev/null 2>&1 || fail "npm is not on PATH"
nodedir=${NODE_GYP_NODEDIR:-/usr}
logs=${TMPDIR:-/tmp}/snapgc-js-setup
mkdir -p "$logs"

stamp=$(cat package.json package-lock.json swing-store/package.json real-kernel/package.json | sha256sum | cut -c1-16)
if [ "$(cat node_modules/.snapgc-installed 2>/dev/null)" != "$stamp" ]; then
  echo "js setup: npm ci --ignore-scripts (pinned @agoric/* of agoric-upgrade-22)"
  npm ci --ignore-scripts --no-audit --no-fund >"$logs/npm.log" 2>&1 || fail "npm ci (see $logs/npm.log)"
  echo "$stamp" >node_modules/.snapgc-installed
fi

xsnap=node_modules/@agoric/xsnap
worker=$xsnap/xsnap-native/xsnap/build/bin/lin/release/xsnap-worker
if [ ! -x "$worker" ]; then
  echo "js setup: building the xsnap worker from the XS sources (~1 min)"
  (cd "$xsnap" && node src/build.js) >"$logs/xsnap.log" 2>&1 || fail "xsnap build (see $logs/xsnap.log)"
  [ -x "$worker" ] || fail "xsnap build left no $worker (see $logs/xsnap.log)"
fi

if ! node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1; then
  [ -f "$nodedir/include/node/node.h" ] || fail "no Node headers under $nodedir/include/node (set NODE_GYP_NODEDIR)"
  gyp=(node-gyp)
  if ! command -v node-gyp >/dev/null 2>&1; then
    bundled="$(npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
    [ -f "$bundled" ] || bundled=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
    [ -f "$bundled" ] || fail "node-gyp not found (neither on PATH nor npm's own copy)"
    gyp=(node "$bundled")
  fi
  echo "js setup: building better-sqlite3 from its bundled SQLite (~2 min)"
  (cd node_modules/better-sqlite3 && "${gyp[@]}" rebuild --release --nodedir="$nodedir") >"$logs/gyp.log" 2>&1 ||
    fail "better-sqlite3 build (see $logs/gyp.log)"
  node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1 || fail "better-sqlite3 does not load after the build"
fi

if [ "${SNAPGC_JS_SETUP_SKIP_BINDING:-0}" != 1 ] && [ -f swing-store/scripts/build.mjs ]; then
  echo "js setup: building the snapgc binding (cargo build --release)"
  npm --prefix swing-store run build >"$logs/binding.log" 2>&1 || fail "binding build (see $logs/binding.log)"
fi
echo "js setup: ready in $(($(now) - t0)) s"
