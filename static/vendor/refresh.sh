#!/usr/bin/env bash
# Refreshes the vendored front-end libraries from the npm registry (pinned versions).
# Usage: bash static/vendor/refresh.sh   (needs npm; writes into static/vendor/)
set -euo pipefail
cd "$(dirname "$0")"
UPLOT=1.6.32
tmp=$(mktemp -d)
(cd "$tmp" && npm pack "uplot@$UPLOT" >/dev/null && tar xzf "uplot-$UPLOT.tgz")
cp "$tmp/package/dist/uPlot.iife.min.js" "uPlot-$UPLOT.min.js"
cp "$tmp/package/dist/uPlot.min.css" "uPlot-$UPLOT.min.css"
cp "$tmp/package/LICENSE" "uPlot-$UPLOT.LICENSE"
rm -rf "$tmp"
echo "uPlot $UPLOT refreshed"
