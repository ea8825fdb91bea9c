#!/usr/bin/env bash
# Refreshes the vendored front-end libraries from the npm registry (pinned versions).
# Usage: bash static/vendor/refresh.sh   (needs npm; writes into static/vendor/)
# axe-core is for the browser tests only (tests/browser/test_accessibility.py injects it); pages
# never load it.
set -euo pipefail
cd "$(dirname "$0")"
UPLOT=1.6.32
tmp=$(mktemp -d)
(cd "$tmp" && npm pack "uplot@$UPLOT" >/dev/null && tar xzf "uplot-$UPLOT.tgz")
cp "$tmp/package/dist/uPlot.iife.min.js" "uPlot-$UPLOT.min.js"
cp "$tmp/package/dist/uPlot.min.css" "uPlot-$UPLOT.min.css"
cp "$tmp/package/LICENSE" "uPlot-$UPLOT.LICENSE"
AXE=4.11.0
(cd "$tmp" && npm pack "axe-core@$AXE" >/dev/null && mkdir axe && tar xzf "axe-core-$AXE.tgz" -C axe)
cp "$tmp/axe/package/axe.min.js" "axe-core-$AXE.min.js"
cp "$tmp/axe/package/LICENSE" "axe-core-$AXE.LICENSE"
rm -rf "$tmp"
echo "uPlot $UPLOT and axe-core $AXE refreshed"
