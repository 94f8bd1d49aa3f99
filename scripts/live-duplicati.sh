#!/usr/bin/env bash
# A real Duplicati 2.0.7.3 for the live and conformance suites (test/contract/duplicati-live.test.ts,
# test/conformance/): a free loopback port, a fresh data folder in a temp dir, a throw-away password.
#
#   eval "$(scripts/live-duplicati.sh start)"   exports DUPLICATI_LIVE_URL, DUPLICATI_LIVE_PASSWORD, DUPLICATI_LIVE_DIR
#   npx vitest run test/conformance
#   scripts/live-duplicati.sh stop "$DUPLICATI_LIVE_DIR"
#
# The server is the install ../shared/tools/real-duplicati.sh makes at
# $HOME/.cache/duplicati-kit/duplicati-2.0.7.3 (override: DUPLICATI_KIT_INSTALL; the tool: REAL_DUPLICATI_TOOL).
# Not installed: `start` exits 3 with one line saying why. Nothing from the install is ever committed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
install=${DUPLICATI_KIT_INSTALL:-$HOME/.cache/duplicati-kit/duplicati-2.0.7.3}
tool=${REAL_DUPLICATI_TOOL:-$repo/../shared/tools/real-duplicati.sh}
case "${1:-}" in
  start)
    if [ ! -f "$install/dist/Duplicati.Server.exe" ]; then
      echo "no real Duplicati installed at $install" >&2; exit 3
    fi
    command -v mono >/dev/null || { echo "mono is not installed (needed by the real Duplicati)" >&2; exit 3; }
    [ -f "$tool" ] || { echo "the start tool $tool is missing" >&2; exit 3; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/duplicati-kit-live.XXXXXX")
    ln -s "$install/dist" "$dir/dist"
    port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
    password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    if ! bash "$tool" start "$dir" "$port" "$password" >/dev/null; then
      cat "$dir/stdout.log" >&2 2>/dev/null || true
      bash "$tool" stop "$dir" || true
      rm -rf "$dir"
      exit 1
    fi
    echo "export DUPLICATI_LIVE_URL=http://127.0.0.1:$port DUPLICATI_LIVE_PASSWORD=$password DUPLICATI_LIVE_DIR=$dir"
    ;;
  stop)
    dir=${2:?usage: live-duplicati.sh stop DIR}
    bash "$tool" stop "$dir" || true
    # Give it a moment to exit before its data folder goes.
    for _ in $(seq 1 25); do pgrep -f "server-datafolder=$dir/data" >/dev/null || break; sleep 0.2; done
    rm -rf "$dir"
    ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
