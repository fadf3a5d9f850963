#!/usr/bin/env bash
# Builds the dashboard (ui/ → httpapi/ui/dist), or checks that the committed
# build is what a fresh one gives.
#
#   scripts/ui.sh build   the served spec → ui/src/api/schema.d.ts (openapi-typescript),
#                         npm ci, type check, vite build into httpapi/ui/dist
#   scripts/ui.sh check   the same into a temporary folder, then compare it with the
#                         committed client and build; fails when they differ
#
# Needs Go, Node.js 20+ and npm; `make run` and `go build` need neither Node
# nor this script, because the built files are committed and embedded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-build}"
GO="${GO:-go}"

mkdir -p ui/build
"$GO" run ./cmd/lokihooks openapi --format json > ui/build/openapi.json
cd ui
npm ci --no-audit --no-fund

case "$mode" in
build)
    npx openapi-typescript build/openapi.json -o src/api/schema.d.ts
    npx tsc --noEmit
    npx vite build
    ;;
check)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    npx openapi-typescript build/openapi.json -o "$tmp/schema.d.ts" >/dev/null
    if ! diff -u src/api/schema.d.ts "$tmp/schema.d.ts"; then
        echo "ui: src/api/schema.d.ts is stale: the API changed; run 'make ui' and commit the result" >&2
        exit 1
    fi
    npx tsc --noEmit
    npx vite build --logLevel warn --outDir "$tmp/dist" --emptyOutDir
    if ! diff -r ../httpapi/ui/dist "$tmp/dist"; then
        echo "ui: httpapi/ui/dist is stale: it differs from a fresh build of ui/; run 'make ui' and commit the result" >&2
        exit 1
    fi
    echo "ui: the committed client and build match a fresh build"
    ;;
*)
    echo "usage: scripts/ui.sh build|check" >&2
    exit 2
    ;;
esac
