#!/usr/bin/env bash
# Takes docs/images/temporal-ui-workflows.png: the Temporal UI's workflow list filtered by
# Arkive's search attribute ArkiveNamespace, after
# the demo's real backup and restore, in headless Chromium from Debian. Not part of the tests:
# run it when the UI's look changes. Uses the demo's ports (ARKIVE_DEMO_*, hack/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
ui="http://localhost:${ARKIVE_DEMO_UI_PORT:-8233}"
log="$(mktemp)"
# The demo keeps its servers up while it has a terminal: give it one, in the background.
script -qfc "bash hack/demo.sh" "$log" >/dev/null 2>&1 &
demo=$!
trap 'kill -INT $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 600); do grep -q "Ctrl-C\|FAILED" "$log" && break; sleep 1; done
grep -q "Ctrl-C" "$log" || die "the demo did not finish: $(tail -5 "$log")"
shot() { # shot URL FILE
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --window-size=1600,900 --virtual-time-budget=15000 --screenshot="$2" "$1" >/dev/null 2>&1
}
mkdir -p docs/images
query=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("ArkiveNamespace=\"demo\""))')
shot "$ui/namespaces/default/workflows?query=$query" docs/images/temporal-ui-workflows.png
log "screenshots in docs/images"
