#!/usr/bin/env bash
# Opens an HTML page written by `lstm gates` in headless Chromium and saves a screenshot.
#
#   tools/screenshot_html.sh PAGE.html OUT.png [QUERY]
#
# QUERY picks what the page shows, e.g. "q=0&unit=5" (quantity index, unit). Needs Debian's
# chromium package (`apt-get install chromium`); run by hand, not in CI.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 PAGE.html OUT.png [QUERY]" >&2
    exit 2
fi
page=$(realpath "$1")
out=$(realpath -m "$2")
query=${3:-}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "error: no chromium found; install Debian's chromium package" >&2
    exit 1
fi
url="file://$page"
if [ -n "$query" ]; then
    url="$url?$query"
fi
tmp="$out.tmp.png"
"$browser" --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1280,900 --virtual-time-budget=2000 \
    --screenshot="$tmp" "$url" 2>/dev/null
if [ ! -s "$tmp" ]; then
    echo "error: chromium wrote no screenshot for $url" >&2
    exit 1
fi
mv "$tmp" "$out"
echo "$out"
