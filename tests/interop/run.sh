#!/usr/bin/env bash
# State-sync interop with the real @agoric/swing-store 0.10.0 (docs/STATE-SYNC.md):
#
#   tests/interop/run.sh            (or: just interop; .ci/run runs it when node is on PATH)
#
# Installs the package (npm ci of this directory's package-lock.json, no install scripts) into
# $INTEROP_WORK (default $TMPDIR/snapgc-interop, outside the tree; reused while the lock file is
# unchanged), builds better-sqlite3's addon from its bundled SQLite with node-gyp against the
# local Node headers (no download), builds snapgc, then runs interop.mjs. Without node, npm or
# Node headers, or if the install fails, it prints "interop: skipped: <why>" and exits 0: a
# visible skip, never a silent pass. A failing case exits 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${INTEROP_WORK:-${TMPDIR:-/tmp}/snapgc-interop}

skip() {
  echo "interop: skipped: $*"
  exit 0
}
now() { date +%s; }

command -v node >/dev/null 2>&1 || skip "node is not on PATH"
command -v npm >/dev/null 2>&1 || skip "npm is not on PATH"
nodedir=${NODE_GYP_NODEDIR:-/usr}
[ -f "$nodedir/include/node/node.h" ] || skip "no Node headers under $nodedir/include/node (set NODE_GYP_NODEDIR)"

# The js/ workspace (js/setup.sh) holds the same packages, pinned to the agoric-upgrade-22
# release, with better-sqlite3 built: when it is set up, run from inside its node_modules (no
# second install or node-gyp build; the run directory is gitignored with node_modules).
if [ -z "${INTEROP_WORK:-}" ] && [ -f "$repo/js/node_modules/.snapgc-installed" ] &&
  (cd "$repo/js" && node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1); then
  work=$repo/js/node_modules/.snapgc-interop
  mkdir -p "$work"
  echo "interop: using the js/ workspace's install (js/setup.sh)"
fi

stamp=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
installed() {
  [ "$(cat "$work/.installed" 2>/dev/null)" = "$stamp" ] &&
    (cd "$work" && node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1)
}
t0=$(now)
if [ "$work" = "$repo/js/node_modules/.snapgc-interop" ]; then
  :
elif ! installed; then
  echo "interop: installing @agoric/swing-store 0.10.0 into $work (npm ci + node-gyp, ~2 min)"
  rm -rf "$work" && mkdir -p "$work" || skip "cannot create $work"
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund >"$work/npm.log" 2>&1) ||
    skip "npm ci failed (see $work/npm.log)"
  gyp=(node-gyp)
  if ! command -v node-gyp >/dev/null 2>&1; then
    bundled="$(npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
    [ -f "$bundled" ] || bundled=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
    [ -f "$bundled" ] && gyp=(node "$bundled") || gyp=(npx --yes node-gyp)
  fi
  (cd "$work/node_modules/better-sqlite3" &&
    "${gyp[@]}" rebuild --release --nodedir="$nodedir" >"$work/gyp.log" 2>&1) ||
    skip "building better-sqlite3 failed (see $work/gyp.log)"
  (cd "$work" && node -e "require('better-sqlite3')(':memory:')" >/dev/null 2>&1) ||
    skip "better-sqlite3 does not load after the build"
  echo "$stamp" >"$work/.installed"
  echo "interop: installed in $(($(now) - t0)) s"
fi

(cd "$repo" && cargo build --release -q -p snapgc) || { echo "interop: FAILED: cargo build -p snapgc"; exit 1; }
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
bin=$target/release/snapgc

corpus=${SNAPGC_CORPUS:-$repo/../shared/corpus/xsnap}
corpus_args=()
[ -d "$corpus" ] && corpus_args=(--corpus "$corpus")
cp "$here/interop.mjs" "$work/"
rm -rf "$work/run"
t1=$(now)
if (cd "$work" && node interop.mjs --snapgc "$bin" --work "$work/run" ${corpus_args[@]+"${corpus_args[@]}"}); then
  echo "interop: cases took $(($(now) - t1)) s"
  rm -rf "$work/run"
else
  echo "interop: FAILED (work files kept in $work/run)"
  exit 1
fi
